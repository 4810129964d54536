"""`edgecv bench sampler` end to end on two passes: real Triton, ingest, site decisions, sampler and capture."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_sampler_reports_consistent_figures(triton_pipeline, tmp_path):
    out = tmp_path / "sampler.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edgecv.cli", "bench", "sampler", "--passes", "2", "--preset", "shifted",
         "--cache", str(tmp_path / "cache"), "--triton", triton_pipeline.url, "--out", str(out)],
        capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout) == result
    assert "sampler bench (shifted" in proc.stderr and "target recall >= 0.95" in proc.stderr

    assert result["format"] == "edgecv-sampler-bench/1"
    assert [s["passes"] for s in result["sequences"]] == [2]
    assert result["frames"] == sum(s["frames"] for s in result["sequences"]) > 0
    assert result["true_passes"] == 2
    # nothing dropped or lost on the way: every frame was decided
    pipeline = result["pipeline"]
    assert pipeline["frames_decided"] == pipeline["frames_in"] == result["frames"]
    assert pipeline["dropped_frames"] == 0 and pipeline["inference_errors"] == 0
    assert result["sampler"]["frames_seen"] == result["frames"]

    # the figures agree with each other
    assert result["frames_stored"] == result["frames_asked"] == result["capture"]["outcomes"].get("stored", 0)
    assert result["upload_rate"] == pytest.approx(result["frames_stored"] / result["frames"], abs=1e-6)
    assert result["frames_stored"] <= result["budget_bound_rate"] * result["frames"] + 1e-9
    wrong, captured = result["wrong_decisions"], result["captured_wrong_decisions"]
    assert 0 <= captured <= wrong
    assert result["recall"] == (pytest.approx(captured / wrong, abs=1e-4) if wrong else None)
    assert result["wrong_decisions"] == len(result["wrong"])
    assert captured == sum(w["captured"] for w in result["wrong"])
    assert result["flagged_wrong_decisions"] == sum(bool(w["flagged"]) for w in result["wrong"])
    for reason, figures in result["pass_reasons"].items():
        assert figures["wrong"] == sum(reason in w["flagged"] for w in result["wrong"])
    assert result["correct_decisions"] + wrong >= result["true_passes"]
    assert 0 <= result["captured_correct_decisions"] <= result["correct_decisions"]
    for kind, figures in result["wrong_by_kind"].items():
        assert figures["wrong"] == sum(kind in w["kinds"] for w in result["wrong"])
        assert 0 <= figures["captured"] <= figures["wrong"]
    assert result["target"]["met"] == (wrong > 0 and result["recall"] >= 0.95 and result["upload_rate"] <= 0.005)
