"""The gate judges a candidate inside production's ensemble, also when production is past the shipped v1.

A damage classifier v2 goes through export -> sign -> register (Approved); the next run retrains the reader.
Its gate must pin damage_classifier to 2, fetched from v2's signed bundle, not to the shipped v1, and must
refuse a bundle whose bytes or signature do not check out.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from lambdas.common.deps import Deps
from lambdas.common.errors import EvaluationError
from lambdas.common.events import GateVerdict, PipelineConfig, TrainingResult, TrainingState
from lambdas.common.interfaces import Candidate
from lambdas.common.settings import Settings
from lambdas.evaluate.core import evaluate
from lambdas.export.core import export
from lambdas.localcloud.evaluator import build_candidate_repository
from lambdas.register.core import register
from lambdas.sign.core import sign_training
from tests.unit.cloud.test_model_path import report_with
from tests.unit.cloud.test_sign_register import trained_state

REPO = Path(__file__).resolve().parents[3]


class RepositoryRecorder:
    """An Evaluator that builds the candidate repository as the local evaluator does, and records it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, bytes] = {}
        self.pins: dict[str, int] = {}

    def evaluate(self, candidate: Candidate, dataset_dir: Path) -> dict:
        repo = build_candidate_repository(REPO / "model_repository", candidate, self.root / "repository")
        self.pins = dict(candidate.pins)
        self.files = {p.relative_to(repo).as_posix(): p.read_bytes() for p in repo.rglob("*")
                      if p.is_file() and p.parent.name.isdigit() and p.parent.name != "1"}
        return {**report_with(0.97), "triton": {"versions": {k: str(v) for k, v in candidate.pins.items()}}}


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
    recorder = RepositoryRecorder(tmp_path / "eval")
    production_damage_v2.evaluator = recorder
    result = evaluate(reader_run(production_damage_v2), production_damage_v2)
    assert result.verdict is GateVerdict.PASS and result.candidate_version == 2
    assert recorder.pins == {"detector": 1, "ocr": 2, "damage_classifier": 2}
    assert recorder.files["damage_classifier/2/model.onnx"] == b"onnx bytes"  # v2's bundle, not the shipped v1
    assert recorder.files["ocr/2/model.onnx"] == b"reader v2"


def test_a_tampered_production_bundle_stops_the_gate(production_damage_v2: Deps, tmp_path: Path) -> None:
    deps = production_damage_v2
    s3, bucket = deps.aws("s3"), deps.settings.artifacts_bucket
    key = "bundles/damage_classifier/2/bundle.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=s3.get_object(Bucket=bucket, Key=key)["Body"].read() + b"\0")
    deps.evaluator = RepositoryRecorder(tmp_path / "eval")
    with pytest.raises(EvaluationError, match=r"production damage_classifier v2: .* has sha256 .* the registry says"):
        evaluate(reader_run(deps), deps)


def test_a_production_bundle_signed_by_another_key_stops_the_gate(production_damage_v2: Deps,
                                                                  tmp_path: Path) -> None:
    deps = production_damage_v2
    other = deps.aws("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    deps.settings = Settings(**{**deps.settings.model_dump(), "signing_key_id": other})
    deps.evaluator = RepositoryRecorder(tmp_path / "eval")
    with pytest.raises(EvaluationError, match="production damage_classifier v2: bundle refused"):
        evaluate(reader_run(deps), deps)
