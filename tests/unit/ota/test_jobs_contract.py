"""contracts/jobs.py: the job document, the smoke criteria, the report as IoT Jobs statusDetails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.jobs import (
    REASON_CODES,
    JobDocument,
    JobFigures,
    JobOutcome,
    JobStatusReport,
    SmokeExpectations,
    SmokeResult,
    judge_smoke,
    one_line,
    resolve_smoke,
)

GOOD = {"rollout_id": "r1", "device_class": "cpu", "bundle_url": "https://b.s3.amazonaws.com/x?X-Amz-Signature=1",
        "bundle_sha256": "a" * 64, "bundle_size": 10, "targets": {"detector": 2}}


def test_document_round_trip() -> None:
    doc = JobDocument.model_validate(GOOD)
    assert JobDocument.model_validate_json(doc.model_dump_json()) == doc
    assert doc.format == "edgecv-ota-job/1" and not doc.rollback and doc.ring == 0


@pytest.mark.parametrize("change", [{"bundle_url": "file:///etc/passwd"}, {"targets": {}},
                                    {"targets": {"../x": 1}}, {"targets": {"detector": 0}},
                                    {"bundle_sha256": "xyz"}, {"bundle_size": 0}, {"device_class": "tpu"},
                                    {"surprise": 1}])
def test_bad_documents_are_refused(change: dict) -> None:
    with pytest.raises(ValidationError):
        JobDocument.model_validate({**GOOD, **change})


def test_report_survives_status_details() -> None:
    report = JobStatusReport(job_id="j", thing_name="t", rollout_id="r", ring=1, outcome=JobOutcome.FAILED,
                             reason="smoke_failed", message="too slow", serving={"detector": 1},
                             figures=JobFigures(download_bytes=5, smoke=SmokeResult(
                                 frames=8, accuracy=0.5, latency_ms_p50=1.0, latency_ms_p99=2.0)),
                             reported_at=datetime(2026, 1, 1, tzinfo=UTC))
    details = report.status_details()
    assert all(isinstance(v, str) for v in details.values())
    assert JobStatusReport.from_status_details("j", "t", details) == report


def test_reason_codes_are_closed_and_messages_one_line() -> None:
    base = {"job_id": "j", "thing_name": "t", "outcome": "REJECTED", "reported_at": "2026-01-01T00:00:00Z"}
    assert "bad_signature" in REASON_CODES and "abandoned" in REASON_CODES
    with pytest.raises(ValidationError):
        JobStatusReport.model_validate({**base, "reason": "because"})
    for bad in ("two\nlines", "bell\x07", ""):
        with pytest.raises(ValidationError):
            JobStatusReport.model_validate({**base, "message": bad})
    assert one_line("a\n b\x1b[0m  c") == "a b?[0m c" and len(one_line("x" * 5000)) == 1024


def test_smoke_floor_follows_the_manifest() -> None:
    expect = SmokeExpectations(metric="ocr.exact_match", max_drop=0.05, min_accuracy=0.5)
    assert resolve_smoke(expect, {"ocr": {"exact_match": 0.9}}).min_accuracy == pytest.approx(0.85)
    assert resolve_smoke(expect, {"ocr": {"exact_match": 0.52}}).min_accuracy == 0.5  # the absolute floor wins
    assert resolve_smoke(expect, {}).min_accuracy == 0.5  # the manifest does not state the metric
    assert resolve_smoke(expect, {"ocr.exact_match": 0.9}).min_accuracy == pytest.approx(0.85)  # the gate's flat keys


@given(accuracy=st.floats(0, 1), latency=st.floats(0, 1000), floor=st.floats(0, 1), limit=st.floats(1, 1000))
def test_judge_passes_exactly_when_both_limits_hold(accuracy: float, latency: float, floor: float,
                                                    limit: float) -> None:
    criteria = resolve_smoke(SmokeExpectations(frames=4, min_accuracy=floor, max_latency_ms_p99=limit), {})
    result = SmokeResult(frames=4, accuracy=accuracy, latency_ms_p50=latency, latency_ms_p99=latency)
    assert (judge_smoke(result, criteria) is None) == (accuracy >= floor and latency <= limit)


@given(message=st.text(min_size=1, max_size=2000),
       models=st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True), st.integers(1, 10**6),
                              max_size=3))
def test_status_details_stay_within_the_aws_limits(message: str, models: dict[str, int]) -> None:
    from edge_appliance.ota.jobs_emulator import status_details_problem

    report = JobStatusReport(job_id="j", thing_name="t", rollout_id="r" * 128, ring=9, outcome=JobOutcome.FAILED,
                             reason="smoke_failed", message=one_line(message), serving=models,
                             figures=JobFigures(download_bytes=10**9, download_seconds=1e4, restarts=20,
                                                smoke=SmokeResult(frames=10_000, accuracy=0.123456789,
                                                                  latency_ms_p50=1e5, latency_ms_p99=1e5)),
                             reported_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert status_details_problem(report.status_details()) is None
