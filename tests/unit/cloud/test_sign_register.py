"""Sign (KMS, verified offline), register (model package with lineage + metrics), signed rollback."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from contracts.bundles import TrustedKey, public_key_from_der, verify_bundle
from lambdas.common.deps import Deps
from lambdas.common.events import (
    DatasetResult,
    EvaluationResult,
    ExportResult,
    GateVerdict,
    PipelineConfig,
    RolloutState,
    TrainingResult,
    TrainingState,
)
from lambdas.common.registry import package_group_name, packages, production
from lambdas.common.settings import Settings
from lambdas.export.core import export
from lambdas.register.core import register
from lambdas.sign.core import sign_rollback, sign_training


@pytest.fixture
def signing(deps: Deps) -> Deps:
    kms = deps.aws("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    deps.settings = Settings(**{**deps.settings.model_dump(), "signing_key_id": key})
    deps.aws("sagemaker").create_model_package_group(ModelPackageGroupName=package_group_name("damage_classifier"))
    return deps


def trained_state(deps: Deps, tmp_path: Path) -> TrainingState:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("model.pt", b"weights"), ("metrics.json", b"{}"), ("model.onnx", b"onnx bytes"),
                           ("lineage.json", b'{"hyperparameters": {"steps": "2"}}')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    deps.aws("s3").put_object(Bucket=deps.settings.artifacts_bucket, Key="training/edgecv-r9/output/model.tar.gz",
                              Body=buf.getvalue())
    return TrainingState(
        run_id="r9", config=PipelineConfig(approval_status="Approved", code_commit="abc123"),
        dataset=DatasetResult(prefix="datasets/r9/", frames=3, sha256="d" * 64),
        training=TrainingResult(job_name="edgecv-r9", status="Completed",
                                model_artifact=f"s3://{deps.settings.artifacts_bucket}/training/edgecv-r9/output/"
                                               "model.tar.gz"),
        evaluation=EvaluationResult(job_name="edgecv-eval-r9", status="Completed", verdict=GateVerdict.PASS,
                                    candidate_version=2, report_key="runs/r9/eval.json",
                                    metrics={"damage.f1": 0.97}))


def test_export_sign_register_and_rollback(signing: Deps, tmp_path: Path) -> None:
    state = trained_state(signing, tmp_path)
    state.export = export(state, signing)
    assert state.export == ExportResult(prefix="exports/r9/", model_name="damage_classifier", version=2, files=3)

    release = sign_training(state, signing)
    assert release.key == "bundles/damage_classifier/2/bundle.tar.gz" and not release.rollback
    kms = signing.aws("kms")
    public = public_key_from_der(kms.get_public_key(KeyId=signing.settings.signing_key_id)["PublicKey"])
    local = tmp_path / "bundle.tar.gz"
    signing.aws("s3").download_file(release.bucket, release.key, str(local))
    verified = verify_bundle(local, [TrustedKey(public)], device_class="cpu")
    assert verified.manifest.lineage.dataset_snapshot_hash == "d" * 64
    assert verified.manifest.lineage.training_job_id == "edgecv-r9"
    assert verified.manifest.lineage.eval_metrics == {"damage.f1": 0.97}
    assert {f.path for f in verified.manifest.files} == {
        "damage_classifier/2/model.onnx", "damage_classifier/2/lineage.json", "damage_classifier/2/model.py"}
    assert sign_training(state, signing) == release  # idempotent: the locked object is returned

    state.bundle = release
    registration = register(state, signing)
    versions = packages(signing.aws("sagemaker"), "damage_classifier")
    assert [(p.version, p.approval) for p in versions] == [(2, "Approved")]
    assert production(versions).metrics == {"damage.f1": 0.97}
    assert versions[0].metadata["bundle_sha256"] == release.sha256
    assert register(state, signing) == registration  # idempotent

    newer = release.model_copy(update={"version": 3, "key": "bundles/damage_classifier/3/bundle.tar.gz"})
    rollout = RolloutState(rollout_id="ro1", release=newer, previous=release, rings=["canary"])
    rollback = sign_rollback(rollout, signing)
    assert rollback.rollback and rollback.version == 2 and rollback.key.endswith("rollback-ro1.tar.gz")
    signing.aws("s3").download_file(rollback.bucket, rollback.key, str(tmp_path / "rb.tar.gz"))
    rb = verify_bundle(tmp_path / "rb.tar.gz", [TrustedKey(public)], installed_version=3)
    assert rb.rollback and rb.downgrade
