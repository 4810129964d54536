"""Acknowledging cdk-nag findings (cdk-nag 3 uses CDK's own `Validations.of(scope).acknowledge`).

cdk-nag 3 matches every IAM5 finding on its own (`AwsSolutions-IAM5[Resource::*]`), so wildcard
acknowledgements are listed one by one, each group with its reason; nothing is acknowledged wholesale.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

PACK = "AwsSolutions"
# What CDK's grant_read/grant_write/grant_delete emit: action groups on prefix-scoped objects.
S3_GRANT_ACTIONS = ("s3:List*", "s3:GetObject*", "s3:GetBucket*", "s3:Abort*", "s3:DeleteObject*")
KMS_GRANT_ACTIONS = ("kms:ReEncrypt*", "kms:GenerateDataKey*")


def acknowledge(scope: IConstruct, rule: str, reason: str, *findings: str) -> None:
    """Acknowledge `rule` (e.g. `AwsSolutions-IAM5`) on scope and its children, with a real reason.

    With findings (`Resource::*`, `Action::s3:Get*`), each `rule[finding]` is acknowledged on its own.
    """
    ids = [f"{rule}[{f}]" for f in findings] or [rule]
    for rule_id in ids:
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{rule_id}", reason=reason))


def arn_finding(scope: IConstruct, service: str, resource: str) -> str:
    """How cdk-nag writes an ARN built with `stack.format_arn`: literals where the env is known, else tokens."""
    stack = cdk.Stack.of(scope)

    def part(value: str, token: str) -> str:
        return token if cdk.Token.is_unresolved(value) else value

    return (f"Resource::arn:{part(stack.partition, '<AWS::Partition>')}:{service}:"
            f"{part(stack.region, '<AWS::Region>')}:{part(stack.account, '<AWS::AccountId>')}:{resource}")


def arn_token(resource: IConstruct) -> str:
    """How cdk-nag writes the ARN of a resource in this stack: `<LogicalId.Arn>`."""
    stack = cdk.Stack.of(resource)
    cfn = resource.node.default_child if not isinstance(resource, cdk.CfnResource) else resource
    return f"<{stack.resolve(stack.get_logical_id(cfn))}.Arn>"


def acknowledge_prefix_grants(scope: IConstruct, grants: list[tuple[s3.IBucket, str]]) -> None:
    """Acknowledge the wildcards of prefix-scoped S3 grants (and the KMS actions they bring)."""
    acknowledge(scope, "AwsSolutions-IAM5", "CDK S3 grants use action groups (Get*/List*/Abort*/DeleteObject*) "
                "on objects under one prefix; the resource is scoped, the action group is CDK's minimal set",
                *(f"Action::{a}" for a in S3_GRANT_ACTIONS))
    acknowledge(scope, "AwsSolutions-IAM5", "SSE-KMS objects need GenerateDataKey*/ReEncrypt* on the bucket key",
                *(f"Action::{a}" for a in KMS_GRANT_ACTIONS))
    acknowledge(scope, "AwsSolutions-IAM5", "access is limited to objects under one key prefix of the bucket",
                *sorted({f"Resource::{arn_token(bucket)}/{_nag_vars(prefix)}" for bucket, prefix in grants}))


def _nag_vars(text: str) -> str:
    """cdk-nag writes policy variables `${x}` as `<x>` in finding ids."""
    return text.replace("${", "<").replace("}", ">")
