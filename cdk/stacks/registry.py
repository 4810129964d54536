"""Registry: one SageMaker model package group per model line (versions carry lineage and metrics)."""

from __future__ import annotations

from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk.config import CloudConfig
from lambdas.common.registry import package_group_name


class Registry(Construct):
    def __init__(self, scope: Construct, construct_id: str, config: CloudConfig) -> None:
        super().__init__(scope, construct_id)
        self.groups = {
            line: sagemaker.CfnModelPackageGroup(
                self, f"Group{line.title().replace('_', '')}", model_package_group_name=package_group_name(line),
                model_package_group_description=f"edgecv {line}: signed bundles, lineage and eval metrics")
            for line in config.model_lines
        }

    def group_arns(self) -> list[str]:
        return [g.attr_model_package_group_arn for g in self.groups.values()]
