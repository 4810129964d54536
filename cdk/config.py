"""Deployment configuration, read once from CDK context (`cdk.json` or `-c key=value`)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LambdaDependencies(StrEnum):
    PIP = "pip"    # pip-install manylinux wheels into the asset (needs the package index; for deploy)
    SKIP = "skip"  # source only (offline synth, tests); the asset then cannot run in AWS


class CloudConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stack_name: str = Field(default="EdgecvCloud", title="CloudFormation stack name")
    model_lines: list[str] = Field(default=["detector", "ocr", "damage_classifier"], min_length=1,
                                   title="one SageMaker model package group per model line")
    rings: list[str] = Field(default=["canary", "ring10", "ring50", "ring100"], min_length=1, max_length=8,
                             title="rollout rings in order; one IoT thing group each")
    site_groups: list[str] = Field(default=["sites-default"], min_length=1,
                                   title="Greengrass deployment targets (thing groups)")
    training_image_uri: str = Field(
        default="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5-cpu-py311",
        title="SageMaker training image (script mode runs training/train_*.py)")
    training_instance_type: str = Field(default="ml.m5.xlarge")
    processing_image_uri: str = Field(
        default="edgecv-processing:latest",
        title="the processing image (docker/processing.Dockerfile, pushed to ECR): evaluation gate, teacher labeling")
    processing_instance_type: str = Field(default="ml.m5.xlarge")
    landing_transition_days: int = Field(default=30, ge=1, title="days before landing samples move to IA")
    artifact_lock_days: int = Field(default=365, ge=1, title="object-lock retention for released bundles")
    alarm_email: str | None = Field(default=None, title="subscribe this address to the alarm topic")
    lambda_dependencies: LambdaDependencies = LambdaDependencies.SKIP

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> CloudConfig:
        raw = get("edgecv") or {}
        deps = get("edgecv:lambdaDependencies")
        if deps:
            raw = {**raw, "lambda_dependencies": deps}
        return cls.model_validate(raw)
