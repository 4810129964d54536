"""Auto-labeling as a processing job: the start step lists exactly the unlabeled samples and hands over the site
manifests; the job labels each sample against its own site's manifests; the poll step collects every label."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from contracts.annotations import AnnotatedFrame, ManifestPallet, Person, TruckManifest
from contracts.pro import make_pro
from contracts.samples import HardNegativeSample
from edgecv.jobs import JobInputError
from edgecv.jobs.label_samples import label_samples, site_lexicon, unblurred_people
from edgecv.jobs.teacher import Labeled
from lambdas.autolabel.core import poll_autolabel, start_autolabel
from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import DeidResult, PipelineConfig, TrainingState, TrainingStatus
from lambdas.common.layout import FRAME, LABEL, RECORD, manifest_prefix
from lambdas.localcloud.processing_emulator import LocalProcessingEmulator
from tests.unit.cloud.conftest import frame_with_person, sample_record
from tests.unit.cloud.test_gate_production_bundles import RecordingProcessing


class RecordingLabeler:
    name = "recording"

    def __init__(self) -> None:
        self.lexicons: dict[str, list[tuple[str, str]]] = {}

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str,
              lexicon: Sequence[tuple[str, str]] = ()) -> Labeled:
        self.lexicons[sample.sample_id] = list(lexicon)
        return Labeled(frame=AnnotatedFrame(image=image_name, width=160, height=120, pallets=[]), confidence=0.9)


def _manifest(truck: str, *pairs: tuple[str, str]) -> bytes:
    return TruckManifest(truck_id=truck, door="D01",
                         pallets=[ManifestPallet(pro=p, dest=d) for p, d in pairs]).model_dump_json().encode()


A, B, C = make_pro("100200300"), make_pro("482711930"), make_pro("555123999")
SITES = (("sample-site1-a", "site1"), ("sample-site2-a", "site2"), ("sample-site9-a", "site9"))


def write_samples(root: Path) -> list[str]:
    image, box = frame_with_person(blurred=True)
    prefixes = []
    for sample_id, site in SITES:
        record = sample_record(sample_id, box, site=site)
        folder = root / record.key_prefix()
        folder.mkdir(parents=True)
        (folder / RECORD).write_bytes(record.model_dump_json().encode())
        (folder / FRAME).write_bytes(image)
        prefixes.append(record.key_prefix())
    return prefixes


def write_manifests(root: Path) -> Path:
    for site, name, data in (("site1", "TRK-1.json", _manifest("TRK-1", (A, "MEM"))),
                             ("site1", "TRK-2.json", _manifest("TRK-2", (B, "ATL"))),
                             ("site1", "broken.json", b'{"format": "nope"}'),
                             ("site2", "TRK-3.json", _manifest("TRK-3", (C, "DFW")))):
        (root / site).mkdir(parents=True, exist_ok=True)
        (root / site / name).write_bytes(data)
    return root


def test_each_sample_is_labeled_against_its_own_sites_manifests(tmp_path: Path) -> None:
    prefixes = write_samples(tmp_path / "samples")
    labeler = RecordingLabeler()
    assert label_samples(tmp_path / "samples", write_manifests(tmp_path / "manifests"), labeler, tmp_path / "out") == 3
    assert sorted(labeler.lexicons["sample-site1-a"]) == sorted([(A, "MEM"), (B, "ATL")])  # the broken one skipped
    assert labeler.lexicons["sample-site2-a"] == [(C, "DFW")]
    assert labeler.lexicons["sample-site9-a"] == []  # a site without manifests: the reader alone
    stored = json.loads((tmp_path / "out" / prefixes[0] / LABEL).read_text())
    assert stored["confidence"] == 0.9 and stored["labeler"] == "recording" and stored["unblurred_people"] == 0
    assert stored["frame"]["image"] == "images/sample-site1-a.jpg"


def test_no_manifests_at_all_and_an_unreadable_sample(tmp_path: Path) -> None:
    assert site_lexicon(None, "site1") == []
    prefixes = write_samples(tmp_path / "samples")
    (tmp_path / "samples" / prefixes[1] / RECORD).write_text("{")
    with pytest.raises(JobInputError, match=f"sample {prefixes[1]} is unreadable"):
        label_samples(tmp_path / "samples", None, RecordingLabeler(), tmp_path / "out")


def curated_run(deps: Deps, tmp_path: Path, labeled: int = 0) -> TrainingState:
    s3, bucket = deps.aws("s3"), deps.settings.curated_bucket
    prefixes = write_samples(tmp_path / "curated")
    for prefix in prefixes:
        for name in (RECORD, FRAME):
            s3.upload_file(str(tmp_path / "curated" / prefix / name), bucket, f"{prefix}/{name}")
    for prefix in prefixes[:labeled]:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{LABEL}", Body=b'{"confidence": 0.5, "frame": {}}')
    s3.put_object(Bucket=bucket, Key=f"{manifest_prefix('site1')}TRK-1.json", Body=_manifest("TRK-1", (A, "MEM")))
    s3.put_object(Bucket=bucket, Key="runs/r9/deid.json", Body=json.dumps({"curated": prefixes}).encode())
    return TrainingState(run_id="r9", config=PipelineConfig(teacher="edge-v1"),
                         deid=DeidResult(manifest_key="runs/r9/deid.json", curated=3, quarantined=0))


def test_start_lists_only_the_unlabeled_samples_and_the_poll_collects_every_label(deps: Deps, tmp_path: Path) -> None:
    deps.processing = backend = RecordingProcessing()
    state = curated_run(deps, tmp_path, labeled=1)
    state.labels = start_autolabel(state, deps)
    assert state.labels.status is TrainingStatus.IN_PROGRESS and state.labels.job_name == "edgecv-label-r9"
    (spec,) = backend.specs
    bucket = deps.settings.curated_bucket
    assert spec.module == "edgecv.jobs.label_samples" and list(spec.arguments) == ["--teacher", "edge-v1"]
    assert spec.inputs == {"manifests": f"s3://{bucket}/manifests/"}
    assert spec.outputs == {"labels": f"s3://{bucket}/"}
    listed = json.loads(deps.aws("s3").get_object(Bucket=bucket, Key="runs/r9/teacher-input.manifest")["Body"].read())
    assert listed[0] == {"prefix": f"s3://{bucket}/"}
    assert sorted(listed[1:]) == sorted(f"samples/site{n}/cam1/sample-site{n}-a/{f}" for n in (2, 9)
                                        for f in (RECORD, FRAME))

    assert poll_autolabel(state, deps).status is TrainingStatus.IN_PROGRESS
    backend.status = TrainingStatus.COMPLETED
    with pytest.raises(ArtifactMissingError, match="left samples/site2/cam1/sample-site2-a without a label"):
        poll_autolabel(state, deps)
    for n, confidence in ((2, 0.7), (9, 0.9)):
        deps.aws("s3").put_object(Bucket=bucket, Key=f"samples/site{n}/cam1/sample-site{n}-a/{LABEL}",
                                  Body=json.dumps({"confidence": confidence, "frame": {}}).encode())
    result = poll_autolabel(state, deps)
    assert result.labeled == 3 and result.min_confidence == 0.5 and result.mean_confidence == pytest.approx(0.7)


def test_a_run_whose_samples_all_have_labels_starts_no_job(deps: Deps, tmp_path: Path) -> None:
    deps.processing = backend = RecordingProcessing()
    state = curated_run(deps, tmp_path, labeled=3)
    result = start_autolabel(state, deps)
    assert backend.specs == [] and result.job_name is None
    assert result.status is TrainingStatus.COMPLETED and result.labeled == 3


@pytest.mark.slow
def test_the_labeling_job_runs_the_v1_teacher_through_the_emulator(deps: Deps, tmp_path: Path) -> None:
    """The real module as a process: manifest-file input, the teacher's labels uploaded next to each sample."""
    import time

    deps.processing = emulator = LocalProcessingEmulator(deps.aws("s3"), tmp_path / "jobs")
    try:
        state = curated_run(deps, tmp_path)
        state.labels = start_autolabel(state, deps)
        deadline = time.monotonic() + 120
        while (result := poll_autolabel(state, deps)).status is TrainingStatus.IN_PROGRESS:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        emulator.close()
    assert result.status is TrainingStatus.COMPLETED, result.failure_reason
    assert result.labeled == 3
    stored = json.loads(deps.aws("s3").get_object(Bucket=deps.settings.curated_bucket,
                                                  Key=f"samples/site1/cam1/sample-site1-a/{LABEL}")["Body"].read())
    assert stored["labeler"] == "v1-stand-in-for-teacher" and stored["frame"]["width"] == 160


def test_without_any_site_manifest_the_job_gets_no_manifests_input(deps: Deps, tmp_path: Path) -> None:
    deps.processing = backend = RecordingProcessing()
    state = curated_run(deps, tmp_path)
    deps.aws("s3").delete_object(Bucket=deps.settings.curated_bucket, Key=f"{manifest_prefix('site1')}TRK-1.json")
    start_autolabel(state, deps)
    assert backend.specs[0].inputs == {}  # SageMaker refuses an input prefix with no objects


class PersonFindingLabeler(RecordingLabeler):
    """A teacher that finds one person at `box` in every frame."""

    def __init__(self, box: list[float]) -> None:
        super().__init__()
        self.box = box

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str,
              lexicon: Sequence[tuple[str, str]] = ()) -> Labeled:
        frame = AnnotatedFrame(image=image_name, width=160, height=120, pallets=[], people=[Person(bbox=self.box)])
        return Labeled(frame=frame, confidence=0.9)


def test_a_person_counts_as_blurred_only_inside_a_box_the_site_reported() -> None:
    sample = sample_record("sample-one", [40.0, 20.0, 100.0, 100.0])
    frame = AnnotatedFrame(image="i.jpg", width=160, height=120, pallets=[], people=[
        Person(bbox=[38, 18, 102, 104]),  # the reported person, boxed a little larger by the teacher
        Person(bbox=[90, 20, 150, 100]),  # a sixth of it inside the reported box: not blurred
        Person(bbox=[110, 10, 150, 110])])  # nowhere near it
    assert unblurred_people(frame, sample) == 2
    assert unblurred_people(frame, sample_record("sample-one", None)) == 3  # the site reported nobody
    assert unblurred_people(frame.model_copy(update={"people": None}), sample) == 0  # people not annotated


def test_the_label_says_how_many_people_the_site_did_not_blur(tmp_path: Path) -> None:
    prefixes = write_samples(tmp_path / "samples")  # each sample reports (and blurred) a person at 40,20-100,100
    label_samples(tmp_path / "samples", None, PersonFindingLabeler([110.0, 10.0, 150.0, 110.0]), tmp_path / "out")
    assert json.loads((tmp_path / "out" / prefixes[0] / LABEL).read_text())["unblurred_people"] == 1
    label_samples(tmp_path / "samples", None, PersonFindingLabeler([40.0, 20.0, 100.0, 100.0]), tmp_path / "ok")
    assert json.loads((tmp_path / "ok" / prefixes[0] / LABEL).read_text())["unblurred_people"] == 0


def test_a_sample_with_an_unblurred_person_is_withheld_and_its_frame_leaves_curated(deps: Deps,
                                                                                  tmp_path: Path) -> None:
    s3, bucket = deps.aws("s3"), deps.settings.curated_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # as deployed
    state = curated_run(deps, tmp_path)
    prefixes = json.loads(s3.get_object(Bucket=bucket, Key="runs/r9/deid.json")["Body"].read())["curated"]
    for i, prefix in enumerate(prefixes):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{LABEL}", Body=json.dumps(
            {"confidence": 0.8, "frame": {}, "unblurred_people": 2 if i == 1 else 0}).encode())
    result = start_autolabel(state, deps)  # every sample has its label: collected at once
    assert result.labeled == 2 and result.withheld == 1
    listed = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())["labels"]
    assert [e["prefix"] for e in listed] == [prefixes[0], prefixes[2]]
    versions = s3.list_object_versions(Bucket=bucket, Prefix=f"{prefixes[1]}/{FRAME}")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")  # gone for good, not hidden
    assert s3.list_object_versions(Bucket=bucket, Prefix=f"{prefixes[0]}/{FRAME}")["Versions"]  # the others stay
    reason = json.loads(s3.get_object(Bucket=bucket, Key=f"quarantine/{prefixes[1]}.json")["Body"].read())
    assert reason == {"prefix": prefixes[1], "reason": "the teacher found 2 person(s) the site did not blur",
                      "run_id": "r9"}
    again = start_autolabel(state, deps)  # a retried step: the same outcome, nothing fails on the missing frame
    assert (again.labeled, again.withheld) == (2, 1)
