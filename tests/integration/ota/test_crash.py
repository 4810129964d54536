"""Kill -9 the agent process at each journal step, restart it, and check the invariant.

The agent runs as `python -m edge_appliance.ota run-job` with `EDGECV_OTA_KILL_AT=before:STEP|after:STEP`
(it SIGKILLs itself around that journal commit) over a fake model server whose state lives on disk (as
Triton's would) and a real local HTTP server. After the kill: the served version is v1 or v2, never
none. After the restart: the job is reported, and v2 serves (resumed or completed), or, with no restarts
allowed before the switch, v1 serves and the job is FAILED `abandoned`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.bundles import LocalSigner
from contracts.jobs import JobOutcome
from edge_appliance.ota.cli import JsonlReporter
from edge_appliance.ota.model_server import FakeModelServer
from edge_appliance.ota.states import ORDER, JobStep
from tests.integration.ota.conftest import FlakyFileServer
from tests.ota_support import MODEL, dump, job_for, make_bundle, write_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
POINTS = [(when, step) for step in ORDER for when in ("before", "after")]


def agent(tmp: Path, command: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGECV_OTA_KILL_AT"}
    if kill_at:
        env["EDGECV_OTA_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "edge_appliance.ota", *command, "--config", str(tmp / "agent.json"),
                           "--fake-server", str(tmp / "triton")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def setup_site(tmp: Path, signer: LocalSigner, server: FlakyFileServer, max_starts: int) -> dict[str, Path]:
    key = write_key(tmp / "trusted.pem", signer)
    (tmp / "agent.json").write_text(json.dumps({"root": str(tmp / "agent"), "thing_name": "box-1",
                                                "trusted_keys": [str(key)], "max_starts": max_starts,
                                                "download_backoff_s": 0.01}))
    jobs = {}
    for version in (1, 2):
        bundle = make_bundle(server.folder, signer, version)
        doc = job_for(bundle, server.url(bundle.name), {MODEL: version})
        jobs[f"job-v{version}"] = tmp / f"job-v{version}.json"
        jobs[f"job-v{version}"].write_text(dump(doc))
    done = agent(tmp, ["run-job", "--job-id", "job-v1", "--document", str(jobs["job-v1"])])
    assert done.returncode == 0 and "SUCCEEDED" in done.stdout, done.stderr
    return jobs


def serving(tmp: Path) -> dict[str, int]:
    return FakeModelServer(tmp / "triton" / "repository", state_file=tmp / "triton" / "server.json").serving_versions()


@pytest.mark.parametrize(("when", "step"), POINTS, ids=[f"{w}-{s.value}" for w, s in POINTS])
@pytest.mark.parametrize("max_starts", [1, 3], ids=["abandon", "resume"])
def test_sigkill_at_each_step_then_restart(tmp_path: Path, signer: LocalSigner, file_server: FlakyFileServer,
                                           when: str, step: JobStep, max_starts: int) -> None:
    jobs = setup_site(tmp_path, signer, file_server, max_starts)
    killed = agent(tmp_path, ["run-job", "--job-id", "job-v2", "--document", str(jobs["job-v2"])],
                   kill_at=f"{when}:{step.value}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after_kill = serving(tmp_path)
    assert after_kill in ({MODEL: 1}, {MODEL: 2})

    restarted = agent(tmp_path, ["run-job", "--job-id", "job-v2", "--document", str(jobs["job-v2"])])
    assert restarted.returncode == 0, restarted.stderr

    reports = [r for r in JsonlReporter(tmp_path / "agent" / "reports.jsonl").read() if r.job_id == "job-v2"]
    assert reports, "the job was never reported"
    final = reports[-1]
    abandoned = max_starts == 1 and after_kill == {MODEL: 1} and not (when == "before" and step is JobStep.RECEIVED)
    expected = (JobOutcome.FAILED, "abandoned", 1) if abandoned else (JobOutcome.SUCCEEDED, None, 2)
    assert (final.outcome, final.reason, serving(tmp_path)[MODEL]) == expected, final
    assert {(r.outcome, r.reason) for r in reports} == {expected[:2]}  # no contradicting reports
    state = json.loads((tmp_path / "triton" / "server.json").read_text())
    assert state["loaded"] == {MODEL: [expected[2]]}
    status = agent(tmp_path, ["status", "--json"])
    data = json.loads(status.stdout)
    assert data["current_job"] is None and data["problems"] == []
    assert data["installed"][MODEL]["version"] == expected[2]
