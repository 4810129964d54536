"""The whole cloud plane in one stack: one construct per plane (no cross-stack exports to untangle)."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from cdk.config import CloudConfig
from cdk.stacks.data_lake import DataLake
from cdk.stacks.fleet import Fleet
from cdk.stacks.observability import Observability
from cdk.stacks.pipelines import Pipelines
from cdk.stacks.registry import Registry
from cdk.stacks.signing import Signing


class EdgecvCloudStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, config: CloudConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, description="edgecv cloud plane: data lake, signing, registry, "
                         "training and rollout pipelines, fleet, observability", **kwargs)
        self.lake = DataLake(self, "DataLake", config)
        self.signing = Signing(self, "Signing")
        self.registry = Registry(self, "Registry", config)
        self.fleet = Fleet(self, "Fleet", config, self.lake.artifacts, self.lake.landing)
        self.pipelines = Pipelines(self, "Pipelines", config, self.lake, self.signing, self.registry, self.fleet)
        self.observability = Observability(self, "Observability", config, self.lake.key, {
            "Training": self.pipelines.training, "Rollout": self.pipelines.rollout},
            {"ManifestFeed": self.pipelines.functions["manifest-feed"]})
