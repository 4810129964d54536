"""Signing: the KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY) whose signatures the devices verify.

The key policy leaves `kms:Sign` to nobody but the signing Lambda's role (granted in `Pipelines`), and
explicitly denies it to every other principal; admins may manage the key but not sign with it.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class Signing(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(self, "BundleSigningKey", key_spec=kms.KeySpec.ECC_NIST_P256,
                           key_usage=kms.KeyUsage.SIGN_VERIFY, alias="alias/edgecv/bundle-signing",
                           description="edgecv bundle signing (ECDSA_SHA_256 over the manifest bytes)",
                           removal_policy=cdk.RemovalPolicy.RETAIN)

    def restrict_sign_to(self, role: iam.IRole) -> None:
        """Grant Sign/GetPublicKey to `role` and deny Sign to every other principal in the key policy."""
        self.key.grant(role, "kms:Sign", "kms:GetPublicKey")
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="OnlyTheSigningLambdaSigns", effect=iam.Effect.DENY, actions=["kms:Sign"],
            principals=[iam.AnyPrincipal()], resources=["*"],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": role.role_arn}}))
