"""Kill -9 the agent process mid-job on a real Triton (which lives on), restart it, and check that requests never
failed and that the ensemble serves a verified version: resumed (v -> v+1), completed after a switch the journal
missed, or abandoned (the old version kept)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.annotations import load_annotation_set
from contracts.bundles import LocalSigner
from contracts.jobs import JobOutcome, SmokeExpectations
from edge_appliance.ota.cli import JsonlReporter
from edge_appliance.ota.triton_model_server import GrpcTritonControl, TritonModelServer
from tests.integration.ota.conftest import FlakyFileServer
from tests.integration.ota.test_triton_swap import Load, detector_bundle
from tests.ota_support import dump, job_for, write_key
from training.evaluation import load_frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
# (kill point, max_starts, what the restarted agent must end with)
CASES = [("after:LOADED", 3, "resumed"), ("before:SWITCHED", 1, "completed"), ("after:SMOKE_TESTED", 1, "abandoned")]


def test_sigkill_mid_job_on_real_triton(tmp_path: Path, rendered_frames: Path, file_server: FlakyFileServer) -> None:
    from edgecv.local_triton import local_pipeline

    signer = LocalSigner.generate()
    key = write_key(tmp_path / "k.pem", signer)
    frames = load_annotation_set(rendered_frames).frames
    frame = load_frame(rendered_frames, frames[0].image, frames[0].width, frames[0].height)
    smoke = SmokeExpectations(frames=len(frames), metric="detection.pallet.f1", max_drop=0.3,
                              max_latency_ms_p99=30_000)
    with local_pipeline(workdir=tmp_path, watchdog=False) as pipeline:
        repository = pipeline.supervisor.process.repository
        server = TritonModelServer(GrpcTritonControl(pipeline.url), held_out=lambda n: [], repository=repository)

        def agent(config: Path, job: Path, kill_at: str | None) -> subprocess.CompletedProcess[str]:
            env = {k: v for k, v in os.environ.items() if k != "EDGECV_OTA_KILL_AT"}
            if kill_at:
                env["EDGECV_OTA_KILL_AT"] = kill_at
            return subprocess.run([sys.executable, "-m", "edge_appliance.ota", "run-job", "--config", str(config),
                                   "--triton-url", pipeline.url, "--repository", str(repository),
                                   "--held-out", str(rendered_frames), "--job-id", job.stem, "--document", str(job)],
                                  cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

        serving = 1
        for version, (kill_at, max_starts, ending) in enumerate(CASES, start=2):
            config = tmp_path / f"agent-{version}.json"
            config.write_text(json.dumps({"root": str(tmp_path / "agent"), "thing_name": "box-1",
                                          "trusted_keys": [str(key)], "max_starts": max_starts}))
            bundle = detector_bundle(file_server.folder, signer, version)
            job = tmp_path / f"ota-v{version}.json"
            job.write_text(dump(job_for(bundle, file_server.url(bundle.name), {"detector": version}, smoke=smoke)))
            with Load(pipeline.url, frame) as load:
                killed = agent(config, job, kill_at)
                assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
                assert server.serving_versions()["detector"] in (serving, version)
                restarted = agent(config, job, None)
                assert restarted.returncode == 0, restarted.stderr[-2000:]
            assert load.failed == [], load.failed[:3]
            report = [r for r in JsonlReporter(tmp_path / "agent" / "reports.jsonl").read() if r.job_id == job.stem][-1]
            if ending == "abandoned":
                assert (report.outcome, report.reason) == (JobOutcome.FAILED, "abandoned"), report.message
            else:
                assert report.outcome is JobOutcome.SUCCEEDED, (report.reason, report.message)
                serving = version
            assert server.serving_versions()["detector"] == serving
            assert server.loaded_versions()["detector"] == [serving]
