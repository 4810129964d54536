"""The training state machine end to end on moto's interpreter with the real handlers in-process:
landing samples -> ingest (malformed parked) -> de-identification (an unblurred person quarantined) ->
teacher auto-labels (the v1 pipeline) -> review -> SageMaker training emulated as a local process
(training.train_damage, tiny budget) -> evaluation gate (`edgecv eval` stand-in as a subprocess) ->
export -> KMS-signed bundle -> registered model package. A failing candidate is stopped by the gate;
low-confidence labels wait for a person, whose rejection stops the run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

pytest.importorskip("moto.server")
pytest.importorskip("torch")

from contracts.annotations import load_annotation_set
from contracts.bundles import TrustedKey, public_key_from_der, verify_bundle
from contracts.predictions import DetectedPallet, DetectedPerson, FramePrediction
from contracts.samples import HardNegativeSample, SampleReason
from lambdas.autolabel.teacher import TeacherPipelineLabeler
from lambdas.common.registry import packages
from lambdas.common.s3io import get_json, list_keys
from lambdas.localcloud.cloud import LocalCloud
from lambdas.localcloud.evaluator import SubprocessEvaluator
from lambdas.review.core import review_task_key, submit_review

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
FAKE_EVAL = [sys.executable, str(Path(__file__).with_name("fake_eval.py"))]
TINY = {"steps": "2", "batch_size": "4", "width": "0.25", "seed": "1"}


def generate(out: Path, seed: int, frames: int) -> Path:
    subprocess.run([sys.executable, "-m", "edgecv.cli", "generate", "--out", str(out), "--seed", str(seed),
                    "--frames", str(frames), "--workers", "1"], check=True, capture_output=True, cwd=REPO)
    return out


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def upload_samples(cloud: LocalCloud, dataset: Path, tag: str, leak_person: bool, malformed: bool) -> int:
    """One hard-negative sample per frame with pallets, people blurred as a device does. Returns the count."""
    s3 = cloud.client("s3")
    annotations = load_annotation_set(dataset)
    count = 0
    for i, frame in enumerate(annotations.frames):
        if not frame.pallets:
            continue
        img = Image.open(dataset / frame.image)
        people = [p.bbox.as_list() for p in frame.people or []]
        for n, box in enumerate(people):
            if leak_person and n == 0 and count == 0:
                continue  # the device "forgot" to blur this one
            region = img.crop(tuple(round(v) for v in box)).filter(ImageFilter.GaussianBlur(12))
            img.paste(region, (round(box[0]), round(box[1])))
        sample = HardNegativeSample(
            sample_id=f"{tag}-sample-{i:04d}", site_id="site-a", camera_id="dock-1", frame_id=i, captured_at=1.7e9,
            width=frame.width, height=frame.height, people_blurred=len(people),
            reasons=[SampleReason.LOW_CONFIDENCE_DETECTION], priority=1.0,
            prediction=FramePrediction(
                pallets=[DetectedPallet(bbox=p.bbox.as_list(), score=0.5, damaged=p.damaged, damage_score=0.5)
                         for p in frame.pallets],
                people=[DetectedPerson(bbox=b, score=0.9) for b in people]))
        prefix = sample.key_prefix()
        s3.put_object(Bucket=cloud.settings.landing_bucket, Key=f"{prefix}/frame.jpg", Body=jpeg(img))
        record = b'{"format": "edgecv-sample/1", "sample_id": "x"}' if malformed and count == 1 else \
            sample.model_dump_json().encode()
        s3.put_object(Bucket=cloud.settings.landing_bucket, Key=f"{prefix}/sample.json", Body=record)
        count += 1
    return count


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    work = tmp_path_factory.mktemp("localcloud")
    with LocalCloud(work) as local:
        local.install(labeler=TeacherPipelineLabeler(REPO / "model_repository", "1"),
                      evaluator=SubprocessEvaluator(FAKE_EVAL, env={"EDGECV_FAKE_EVAL_SCORE": "0.99"}))
        golden = generate(work / "golden", seed=9101, frames=3)
        s3 = local.client("s3")
        for path in sorted(golden.rglob("*")):
            if path.is_file():
                s3.upload_file(str(path), local.settings.curated_bucket, f"golden/{path.relative_to(golden)}")
        yield local


def run_input(run_id: str, **config: object) -> dict:
    return {"run_id": run_id, "model_name": "damage_classifier",
            "config": {"poll_seconds": 1, "auto_approve_confidence": 0.0, "hyperparameters": TINY,
                       "approval_status": "Approved", "code_commit": "test", **config}}


def test_training_pipeline_registers_a_signed_model(cloud: LocalCloud, tmp_path: Path) -> None:
    dataset = generate(tmp_path / "landing", seed=9201, frames=8)
    uploaded = upload_samples(cloud, dataset, "r1", leak_person=True, malformed=True)
    assert uploaded >= 4
    started = time.monotonic()
    result = cloud.run("training", "train-r1", run_input("train-r1"), timeout_s=240)
    print(f"\ntraining state machine ({uploaded} samples, tiny budget): {time.monotonic() - started:.1f} s")
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    out = result.output
    assert out["ingest"]["parked"] == 1 and out["ingest"]["accepted"] == uploaded - 1
    assert out["deid"]["quarantined"] == 1 and out["deid"]["curated"] == uploaded - 2
    assert out["review"]["decision"] == "approved" and out["training"]["status"] == "Completed"
    assert out["evaluation"]["verdict"] == "pass" and out["evaluation"]["candidate_version"] == 2
    assert "HumanReview" not in result.states and "WaitForTraining" in result.states

    s3 = cloud.client("s3")
    curated = set(list_keys(s3, cloud.settings.curated_bucket, "samples/"))
    leaked = get_json(s3, cloud.settings.curated_bucket, out["deid"]["manifest_key"])["quarantined"][0]["prefix"]
    assert not any(k.startswith(leaked) for k in curated)  # never reached the curated bucket

    bundle = tmp_path / "bundle.tar.gz"
    s3.download_file(out["bundle"]["bucket"], out["bundle"]["key"], str(bundle))
    key = public_key_from_der(cloud.client("kms").get_public_key(KeyId=cloud.settings.signing_key_id)["PublicKey"])
    verified = verify_bundle(bundle, [TrustedKey(key)], device_class="cpu")
    assert verified.manifest.models[0].name == "damage_classifier" and verified.manifest.models[0].version == 2
    assert verified.manifest.lineage.training_job_id == "edgecv-train-r1"
    assert verified.manifest.lineage.dataset_snapshot_hash == out["dataset"]["sha256"]
    assert any(f.path == "damage_classifier/2/model.pt" for f in verified.manifest.files)
    versions = packages(cloud.client("sagemaker"), "damage_classifier")
    assert [(v.version, v.approval) for v in versions] == [(2, "Approved")]
    assert versions[0].metrics["damage.f1"] == pytest.approx(0.99)


def test_a_candidate_that_misses_a_gate_is_stopped(cloud: LocalCloud, tmp_path: Path) -> None:
    upload_samples(cloud, generate(tmp_path / "landing", seed=9301, frames=6), "r2", False, False)
    cloud.install(labeler=TeacherPipelineLabeler(REPO / "model_repository", "1"),
                  evaluator=SubprocessEvaluator(FAKE_EVAL, env={"EDGECV_FAKE_EVAL_SCORE": "0.5"}))
    result = cloud.run("training", "train-r2", run_input("train-r2"), timeout_s=240)
    assert result.status == "FAILED" and result.error == "EvaluationGateFailed"
    assert "Sign" not in result.states and "Register" not in result.states
    report = get_json(cloud.client("s3"), cloud.settings.curated_bucket, "runs/train-r2/eval.json")
    assert "detection.pallet.precision 0.5000 < 0.95" in report["failures"]
    assert [v.version for v in packages(cloud.client("sagemaker"), "damage_classifier")] == [2]


def test_unsure_labels_wait_for_a_person_who_can_reject_them(cloud: LocalCloud, tmp_path: Path) -> None:
    upload_samples(cloud, generate(tmp_path / "landing", seed=9401, frames=4), "r3", False, False)
    arn = cloud.start_execution("training", "train-r3", run_input("train-r3", auto_approve_confidence=1.0))
    s3 = cloud.client("s3")
    deadline = time.monotonic() + 120
    while not any(True for _ in list_keys(s3, cloud.settings.curated_bucket, review_task_key("train-r3"))):
        assert time.monotonic() < deadline, "no review task appeared"
        time.sleep(0.2)
    task = get_json(s3, cloud.settings.curated_bucket, review_task_key("train-r3"))
    assert task["labels"]["labeled"] >= 1
    submit_review(cloud.client("stepfunctions"), task["task_token"], approved=False, reviewer="qa@site",
                  reason="boxes off")
    result = cloud.wait(arn, timeout_s=60)
    assert result.status == "FAILED" and result.error == "ReviewRejected"
    assert "HumanReview" in result.states and "StartTraining" not in result.states
    assert json.loads(json.dumps(result.states))[-1] == "ReviewRejected"
