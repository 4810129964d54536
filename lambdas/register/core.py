"""Register the signed bundle as a model package version: approval status, lineage and metrics.

Lineage and the gated metrics go into CustomerMetadataProperties (searchable, and read back by the
next run's no-regression gate); the full eval report is linked as the package's model-quality
statistics. Idempotent: a version already registered is returned as it is.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError, RegistryError
from lambdas.common.events import RegistrationResult, TrainingState
from lambdas.common.registry import METRIC_PREFIX, package_group_name, packages


def register(state: TrainingState, deps: Deps) -> RegistrationResult:
    if state.bundle is None or state.evaluation is None:
        raise ArtifactMissingError("the state has no signed bundle to register")
    sm, st, bundle = deps.aws("sagemaker"), deps.settings, state.bundle
    for existing in packages(sm, state.model_name):
        if existing.version == bundle.version:
            return RegistrationResult(model_package_arn=existing.arn, approval_status=existing.approval,
                                      version=existing.version)
    metadata = {
        "version": str(bundle.version), "bundle_uri": f"s3://{bundle.bucket}/{bundle.key}",
        "bundle_sha256": bundle.sha256, "bundle_size": str(bundle.size), "device_class": bundle.device_class.value,
        "signer_key_id": bundle.signer_key_id[-256:], "run_id": state.run_id,
        "dataset_sha256": state.dataset.sha256 if state.dataset else "",
        "training_job": state.training.job_name if state.training else "",
        "code_commit": state.config.code_commit or "",
        **{f"{METRIC_PREFIX}{k}": f"{v:.4f}" for k, v in state.evaluation.metrics.items()},
    }
    try:
        reply = sm.create_model_package(
            ModelPackageGroupName=package_group_name(state.model_name),
            ModelPackageDescription=f"{state.model_name} v{bundle.version} from run {state.run_id}",
            ModelApprovalStatus=state.config.approval_status,
            CustomerMetadataProperties=metadata,
            ModelMetrics={"ModelQuality": {"Statistics": {
                "ContentType": "application/json",
                "S3Uri": f"s3://{st.curated_bucket}/{state.evaluation.report_key}"}}})
    except ClientError as exc:
        raise RegistryError(f"CreateModelPackage: {exc.response['Error']['Message']}") from exc
    return RegistrationResult(model_package_arn=reply["ModelPackageArn"], approval_status=state.config.approval_status,
                              version=bundle.version)
