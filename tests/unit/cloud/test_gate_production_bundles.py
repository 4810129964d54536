"""The gate judges a candidate inside production's ensemble, also when production is past the shipped v1.

A damage classifier v2 goes through export -> sign -> register (Approved); the next run retrains the reader.
Its evaluation job must get damage_classifier 2, fetched from v2's signed bundle, not the shipped v1, and the
start must refuse a bundle whose bytes or signature do not check out. The gate judges the job's report once
the job completed.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError, EvaluationError
from lambdas.common.events import (
    GateVerdict,
    PipelineConfig,
    ProcessingResult,
    TrainingResult,
    TrainingState,
    TrainingStatus,
)
from lambdas.common.interfaces import ProcessingJobSpec
from lambdas.common.settings import Settings
from lambdas.evaluate.core import poll_evaluation, start_evaluation
from lambdas.export.core import export
from lambdas.register.core import register
from lambdas.sign.core import sign_training
from tests.unit.cloud.test_model_path import report_with
from tests.unit.cloud.test_sign_register import trained_state


class RecordingProcessing:
    """A ProcessingBackend that records the job and reports the status it is told."""

    def __init__(self) -> None:
        self.specs: list[ProcessingJobSpec] = []
        self.status = TrainingStatus.IN_PROGRESS

    def start(self, spec: ProcessingJobSpec) -> None:
        self.specs.append(spec)

    def describe(self, job_name: str) -> ProcessingResult:
        return ProcessingResult(job_name=job_name, status=self.status)


def staged(deps: Deps, run_id: str) -> dict[str, bytes]:
    s3, bucket = deps.aws("s3"), deps.settings.artifacts_bucket
    prefix = f"evaluations/{run_id}/versions/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {k[len(prefix):]: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


@pytest.fixture
def production_damage_v2(deps: Deps, tmp_path: Path) -> Deps:
    kms, sm = deps.aws("kms"), deps.aws("sagemaker")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    deps.settings = Settings(**{**deps.settings.model_dump(), "signing_key_id": key})
    for line in ("edgecv-damage-classifier", "edgecv-ocr"):
        sm.create_model_package_group(ModelPackageGroupName=line)
    state = trained_state(deps, tmp_path)
    state.export = export(state, deps)
    state.bundle = sign_training(state, deps)
    register(state, deps)
    return deps


def reader_run(deps: Deps) -> TrainingState:
    s3, st = deps.aws("s3"), deps.settings
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("model.onnx", b"reader v2"), ("lineage.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=st.artifacts_bucket, Key="training/edgecv-r10/output/model.tar.gz", Body=buf.getvalue())
    s3.put_object(Bucket=st.curated_bucket, Key="golden/annotations.json", Body=json.dumps({"frames": []}).encode())
    return TrainingState(run_id="r10", model_name="ocr", config=PipelineConfig(),
                         training=TrainingResult(job_name="edgecv-r10", status="Completed",
                                                 model_artifact=f"s3://{st.artifacts_bucket}/training/edgecv-r10/"
                                                                "output/model.tar.gz"))


def test_the_gate_serves_production_v2_from_its_signed_bundle(production_damage_v2: Deps, tmp_path: Path) -> None:
    deps = production_damage_v2
    deps.processing = backend = RecordingProcessing()
    state = reader_run(deps)
    state.evaluation = start_evaluation(state, deps)
    assert state.evaluation.status is TrainingStatus.IN_PROGRESS and state.evaluation.verdict is None
    assert state.evaluation.pins == {"detector": 1, "ocr": 2, "damage_classifier": 2}
    files = staged(deps, "r10")
    assert files["damage_classifier/2/model.onnx"] == b"onnx bytes"  # v2's bundle, not the shipped v1
    assert files["ocr/2/model.onnx"] == b"reader v2"
    (spec,) = backend.specs
    assert spec.module == "edgecv.jobs.evaluate_candidate"
    assert list(spec.arguments) == ["--candidate", "ocr=2", "--pin", "damage_classifier=2", "--pin", "detector=1",
                                    "--pin", "ocr=2"]
    bucket = deps.settings.artifacts_bucket
    assert spec.inputs["versions"] == f"s3://{bucket}/evaluations/r10/versions/"
    assert spec.outputs == {"report": f"s3://{bucket}/evaluations/r10/report/"}

    assert poll_evaluation(state, deps).verdict is None  # still running: no verdict
    backend.status = TrainingStatus.COMPLETED
    deps.aws("s3").put_object(Bucket=bucket, Key="evaluations/r10/report/eval.json",
                              Body=json.dumps(report_with(0.97)).encode())
    result = poll_evaluation(state, deps)
    assert result.verdict is GateVerdict.PASS and result.candidate_version == 2 and result.polls == 1
    record = json.loads(deps.aws("s3").get_object(Bucket=deps.settings.curated_bucket,
                                                  Key=result.report_key)["Body"].read())
    assert record["pins"] == {"detector": 1, "ocr": 2, "damage_classifier": 2}


def test_a_completed_job_without_a_report_is_an_evaluation_error(production_damage_v2: Deps) -> None:
    deps = production_damage_v2
    deps.processing = backend = RecordingProcessing()
    state = reader_run(deps)
    state.evaluation = start_evaluation(state, deps)
    backend.status = TrainingStatus.COMPLETED
    with pytest.raises(EvaluationError, match="completed without a report"):
        poll_evaluation(state, deps)


def test_a_tampered_production_bundle_stops_the_gate(production_damage_v2: Deps, tmp_path: Path) -> None:
    deps = production_damage_v2
    s3, bucket = deps.aws("s3"), deps.settings.artifacts_bucket
    key = "bundles/damage_classifier/2/bundle.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=s3.get_object(Bucket=bucket, Key=key)["Body"].read() + b"\0")
    deps.processing = RecordingProcessing()
    with pytest.raises(EvaluationError, match=r"production damage_classifier v2: .* has sha256 .* the registry says"):
        start_evaluation(reader_run(deps), deps)
    assert deps.processing.specs == []


def test_a_production_bundle_signed_by_another_key_stops_the_gate(production_damage_v2: Deps,
                                                                  tmp_path: Path) -> None:
    deps = production_damage_v2
    other = deps.aws("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    deps.settings = Settings(**{**deps.settings.model_dump(), "signing_key_id": other})
    deps.processing = RecordingProcessing()
    with pytest.raises(EvaluationError, match="production damage_classifier v2: bundle refused"):
        start_evaluation(reader_run(deps), deps)
    assert deps.processing.specs == []


def test_a_candidate_whose_gate_has_not_passed_is_never_exported(production_damage_v2: Deps) -> None:
    deps = production_damage_v2
    deps.processing = RecordingProcessing()
    state = reader_run(deps)
    state.evaluation = start_evaluation(state, deps)
    with pytest.raises(EvaluationError, match="has not passed the gate"):
        export(state, deps)


def test_no_golden_set_stops_the_gate_before_any_job(production_damage_v2: Deps) -> None:
    deps = production_damage_v2
    deps.processing = RecordingProcessing()
    state = reader_run(deps)
    deps.aws("s3").delete_object(Bucket=deps.settings.curated_bucket, Key="golden/annotations.json")
    with pytest.raises(ArtifactMissingError, match="no golden set under"):
        start_evaluation(state, deps)
    assert deps.processing.specs == []
