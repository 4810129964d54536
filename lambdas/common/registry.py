"""The model registry (SageMaker model package groups): names, versions, production metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.errors import RegistryError

METRIC_PREFIX = "metric:"


def package_group_name(model_line: str) -> str:
    return f"edgecv-{model_line.replace('_', '-')}"


@dataclass(frozen=True)
class PackageVersion:
    arn: str
    approval: str
    version: int
    metadata: dict[str, str]

    @property
    def metrics(self) -> dict[str, float]:
        return {k[len(METRIC_PREFIX):]: float(v) for k, v in self.metadata.items() if k.startswith(METRIC_PREFIX)}


def packages(sm: Any, model_line: str) -> list[PackageVersion]:
    """Every registered version of a model line, oldest first."""
    found = []
    try:
        pages = sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=package_group_name(model_line))
        for page in pages:
            for item in page.get("ModelPackageSummaryList", []):
                desc = sm.describe_model_package(ModelPackageName=item["ModelPackageArn"])
                meta = desc.get("CustomerMetadataProperties", {})
                if "version" not in meta:
                    continue
                found.append(PackageVersion(arn=item["ModelPackageArn"], approval=desc["ModelApprovalStatus"],
                                            version=int(meta["version"]), metadata=meta))
    except ClientError as exc:
        raise RegistryError(f"cannot list {package_group_name(model_line)}: {exc.response['Error']['Message']}") \
            from exc
    return sorted(found, key=lambda p: p.version)


def production(versions: list[PackageVersion]) -> PackageVersion | None:
    approved = [p for p in versions if p.approval == "Approved"]
    return approved[-1] if approved else None
