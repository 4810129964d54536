"""`edgecv demo`, the product's main command, end to end: every stage ok, in the order and with the outcomes
the demo exists to show (real Tritons, moto, both state machines, the sites' OTA agents). About 10.5 minutes on
2 cores (about 13 when its data is not rendered yet)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

pytest.importorskip("moto.server")
pytest.importorskip("torch")

from edgecv.demo import DRIFT_SITE, MIN_RECOVERY, MODEL, run_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGES_UP_TO_THE_GATE = ["prepare_data", "start_local_cloud", "start_sites", "edge_v1", "drift_detected",
                         "wan_outage", "drain_samples", "eval_v1", "ingest_samples", "deidentify", "auto_label",
                         "review", "train"]


@pytest.fixture
def quiet_globals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """run_demo sets these for its own run; keep them from leaking into later tests."""
    for key, value in {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    levels = {name: logging.getLogger(name).level for name in ("moto", "werkzeug", "edgecv-local")}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


# The whole loop's stages take 750-900 s on CI's two cores (rendering 160-210 s, the fine-tune 270-295 s): the
# suite's 900 s guard (pyproject) stopped one healthy run at its last ring. This test gets twice that.
@pytest.mark.timeout(1800)
def test_the_demo_runs_the_whole_loop(tmp_path: Path, quiet_globals: None) -> None:
    """Every stage ran and every outcome the demo exists to show held, the flywheel's included: v2 passes the gate,
    reaches every ring and lifts the drifted site's held-out exact match by at least MIN_RECOVERY."""
    out = io.StringIO()
    report_path = tmp_path / "demo-report.json"
    report = run_demo(report_path=report_path, console=Console(file=out, width=120))
    print(out.getvalue())
    stage = {s.stage: s for s in report.stages}
    data = json.loads(report_path.read_text())
    assert data["format"] == "edgecv-demo/1" and len(data["stages"]) == len(report.stages)
    assert "data:image/png" in report_path.with_suffix(".html").read_text()  # the plots

    # the edge half and the training pipeline up to the gate always succeed
    for name in STAGES_UP_TO_THE_GATE:
        assert stage[name].ok, (name, stage[name].details.get("error"))
    assert stage["drain_samples"].details["landed"] > 0
    # every site was deployed from the Greengrass recipes; each ingest process played its sequence and exited 0
    assert {c: s for site in stage["edge_v1"].details["sites"].values() for c, s in site["components"].items()} == {
        "com.edgecv.Triton": "RUNNING", "com.edgecv.Ingest": "FINISHED", "com.edgecv.OtaAgent": "RUNNING"}
    assert stage["ingest_samples"].details["ingest_samples"]["accepted"] == stage["drain_samples"].details[
        "landing_total"]
    # the teacher's labels are not all confident: the execution waited on its task token for the demo's reviewer
    assert stage["review"].details["review"]["reviewer"] == "demo-operator"
    # the flywheel works: the gate passes v2, every ring takes it, and the drifted site reads clearly better (four
    # runs in session 11: site-2 0.430 -> 0.595 to 0.630 against a required +0.03; docs/demo.md)
    gate = stage["eval_gate"].details["eval_gate"]
    assert gate["verdict"] == "pass" and "ocr.exact_match" in gate["metrics"], gate  # the gate judges the reader
    for name in ("export", "sign", "register", "rollout_ring_0", "rollout_ring_1", "rollout_ring_2", "ota_hot_load",
                 "drift_recovery"):
        assert stage[name].ok, (name, stage[name].details.get("error"))
    assert all(v[MODEL] == 2 for v in stage["ota_hot_load"].details["serving"].values())
    recovery = stage["drift_recovery"].details  # measured on the same held-out frames, before and after
    assert recovery["held_out_after"][DRIFT_SITE]["versions"][MODEL] == 2
    assert recovery["held_out_after"][DRIFT_SITE]["exact_match"] >= recovery["held_out_before"][DRIFT_SITE][
        "exact_match"] + MIN_RECOVERY

    # a regressed release is stopped at the canary whatever production is, and served nowhere
    rollback = stage["canary_rollback"]
    assert rollback.ok, rollback.details.get("error")
    regressed = rollback.details["regressed_version"]
    assert rollback.details["canary_job"]["reason"] == "smoke_failed"  # the canary's agent process reported it
    assert rollback.details["incident"]["detail"]["version"] == regressed
    assert all(s.model_versions.get(MODEL) != regressed for s in report.timeline.sites)
    assert {e.ring for e in report.timeline.rollout if e.version == regressed} == {"canary"}
