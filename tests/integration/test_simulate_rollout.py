"""`edgecv simulate rollout` end to end: the real rollout state machine on moto, the real agent on 200 devices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("moto.server")

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def simulate(out: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([sys.executable, "-m", "edgecv.cli", "simulate", "rollout", "--out", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.exists(), done.stderr[-2000:]
    return done, json.loads(out.read_text())


def test_a_healthy_version_reaches_everyone_and_the_regressed_one_stops_at_the_canary(tmp_path: Path) -> None:
    done, report = simulate(tmp_path / "sim.json", "--devices", "200", "--seed", "7")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert report["format"] == "edgecv-rollout-sim/1" and report["devices"] == 200
    sizes = report["ring_sizes"]
    assert list(sizes) == ["edgecv-ring-canary", "edgecv-ring-ring10", "edgecv-ring-ring50", "edgecv-ring-ring100"]
    assert sum(sizes.values()) == 200

    healthy, regressed = report["rollouts"]
    assert healthy["status"] == "SUCCEEDED" and healthy["completed"]
    assert healthy["states"].count("StartRing") == 4
    for ring in healthy["rings"]:
        assert ring["decision"] == "continue" and ring["targeted"] == ring["devices"] == sizes[ring["ring"]]
        assert ring["succeeded"] + ring["failed"] + ring["rejected"] + ring["offline"] == ring["targeted"]
        assert ring["versions_running"].get("v3", 0) == ring["succeeded"]

    assert regressed["status"] == "FAILED" and regressed["error"] == "RolloutHalted"
    assert regressed["halted_at"] == "edgecv-ring-canary" and regressed["states"].count("StartRing") == 1
    canary, *others = regressed["rings"]
    assert canary["decision"] == "halt" and "confidence" in canary["assessments"][-1]["reasons"][0]
    assert canary["succeeded"] >= 1 and canary["rolled_back"] == canary["succeeded"]
    assert "v4" not in canary["versions_running"]
    assert all(r["decision"] == "not_reached" and r["targeted"] == 0 for r in others)
    assert all("v4" not in r["versions_running"] for r in others)
    assert regressed["incident"]["version"] == 4 and regressed["incident"]["rolled_back_to"] == 3

    # from the devices' serving history: the canary did run v4, nobody else ever did
    assert report["canary_ran_regressed"] == canary["succeeded"]
    assert report["regressed_outside_canary"] == 0 and report["regressed_jobs_outside_canary"] == 0
    assert report["serving_regressed_at_end"] == 0 and report["incidents"] == 1
    assert report["ok"] and all(report["checks"].values())
    assert report["agent_runs"] > 200 and report["wall_seconds"] > 0
    assert "halted at canary" in done.stdout and '"level"' not in done.stdout  # the tables, no handler logs


def test_download_failures_over_the_threshold_halt_even_the_healthy_version(tmp_path: Path) -> None:
    done, report = simulate(tmp_path / "sim.json", "--devices", "200", "--seed", "3", "--fault-rate", "1.0",
                            "--offline-rate", "0")
    assert done.returncode == 1  # the simulation ran, but the healthy version did not reach 100%
    healthy = report["rollouts"][0]
    assert healthy["status"] == "FAILED" and not healthy["completed"]
    halted = next(r for r in healthy["rings"] if r["decision"] == "halt")
    assert halted["reasons"].get("download_failed", 0) == halted["failed"] > 0
    assert "failed or rejected" in halted["assessments"][-1]["reasons"][0]
    assert report["checks"]["healthy_reached_100_percent"] is False
    assert report["regressed_outside_canary"] == 0
