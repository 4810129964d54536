"""Ingest parks malformed samples; de-identification keeps anything not blurred out of the curated bucket."""

from __future__ import annotations

import pytest

from lambdas.common.context import LocalContext
from lambdas.common.deps import Deps
from lambdas.common.errors import BadEventError
from lambdas.common.events import TrainingState
from lambdas.common.s3io import get_json, list_keys
from lambdas.deidentify.blur_check import BlurCheck
from lambdas.deidentify.core import deidentify
from lambdas.ingest.core import ingest
from tests.unit.cloud.conftest import Landing, frame_with_person, sample_record


def keys(deps: Deps, bucket: str, prefix: str = "") -> set[str]:
    return set(list_keys(deps.aws("s3"), bucket, prefix))


def test_ingest_accepts_complete_parks_malformed_skips_incomplete(deps: Deps, landing: Landing) -> None:
    image, box = frame_with_person(blurred=True)
    good = landing.put(sample_record("good-sample-1", box), image)
    bad = landing.put(sample_record("bad-sample-01", box), image, record=b'{"format": "edgecv-sample/1"}')
    moved = sample_record("moved-sample1", box)
    landing.s3.put_object(Bucket=landing.bucket, Key="samples/site1/cam1/elsewhere-0001/sample.json",
                          Body=moved.model_dump_json().encode())
    landing.s3.put_object(Bucket=landing.bucket, Key="samples/site1/cam1/elsewhere-0001/frame.jpg", Body=image)
    no_frame = landing.put(sample_record("no-frame-0001", box), None)
    uploading = "samples/site1/cam1/uploading-001/frame.jpg"
    landing.s3.put_object(Bucket=landing.bucket, Key=uploading, Body=image)

    result = ingest(TrainingState(run_id="r1"), deps)

    assert (result.accepted, result.parked, result.skipped) == (1, 3, 0)
    manifest = get_json(deps.aws("s3"), deps.settings.curated_bucket, result.manifest_key)
    assert manifest["accepted"] == [good]
    reasons = {p["prefix"]: p["reason"] for p in manifest["parked"]}
    assert "sample_id" in reasons[bad] or "Field required" in reasons[bad]
    assert "lies under" in reasons["samples/site1/cam1/elsewhere-0001"]
    assert reasons[no_frame] == "frame.jpg is missing"
    landing_keys = keys(deps, landing.bucket)
    assert f"parked/r1/{bad}/sample.json" in landing_keys and f"parked/r1/{bad}/reason.json" in landing_keys
    assert f"{bad}/sample.json" not in landing_keys  # moved, not copied
    assert uploading in landing_keys  # an incomplete upload is left alone
    assert ingest(TrainingState(run_id="r1"), deps) == result  # idempotent


def test_deidentify_quarantines_unblurred_and_inconsistent(deps: Deps, landing: Landing) -> None:
    blurred, box = frame_with_person(blurred=True, seed=1)
    sharp, _ = frame_with_person(blurred=False, seed=2)
    ok = landing.put(sample_record("blurred-0001", box), blurred)
    leak = landing.put(sample_record("sharp-person1", box), sharp)
    liar = landing.put(sample_record("says-none-001", box, people_blurred=0), blurred)
    empty = landing.put(sample_record("no-people-01", None), sharp)
    deps.person_check = BlurCheck()
    state = TrainingState(run_id="r2")
    state = state.model_copy(update={"ingest": ingest(state, deps)})

    result = deidentify(state, deps)

    quarantine = get_json(deps.aws("s3"), deps.settings.curated_bucket, result.manifest_key)["quarantined"]
    assert (result.curated, result.quarantined) == (2, 2), quarantine
    curated = keys(deps, deps.settings.curated_bucket, "samples/")
    assert curated == {f"{ok}/frame.jpg", f"{ok}/sample.json", f"{empty}/frame.jpg", f"{empty}/sample.json"}
    quarantine = get_json(deps.aws("s3"), deps.settings.curated_bucket, result.manifest_key)["quarantined"]
    why = {q["prefix"]: q["reason"] for q in quarantine}
    assert "not blurred" in why[leak]
    assert "record says 0 people blurred but reports 1" in why[liar]
    assert ingest(TrainingState(run_id="r3"), deps).skipped == 4  # curated or quarantined: not again


def test_blur_check_counts_only_sharp_person_regions() -> None:
    blurred, box = frame_with_person(blurred=True, seed=3)
    sharp, _ = frame_with_person(blurred=False, seed=3)
    check = BlurCheck()
    assert check.unblurred_people(blurred, sample_record("x-blurred-1", box)) == 0
    assert check.unblurred_people(sharp, sample_record("x-sharp-001", box)) == 1


def test_ingest_handler_rejects_a_malformed_event_with_one_line(deps: Deps) -> None:
    from lambdas.ingest.handler import handler

    with pytest.raises(BadEventError, match=r"^TrainingState: run_id: "):
        handler({"run_id": "not a valid id!"}, LocalContext())
