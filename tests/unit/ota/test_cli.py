"""`python -m edge_appliance.ota`: the status dump, one-line errors, the kill hooks the crash test uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.bundles import LocalSigner
from edge_appliance.ota.cli import kill_hooks, main
from edge_appliance.ota.states import JobStep
from tests.ota_support import write_key


@pytest.fixture
def config(tmp_path: Path) -> Path:
    key = write_key(tmp_path / "k.pem", LocalSigner.generate())
    path = tmp_path / "agent.json"
    path.write_text(json.dumps({"root": str(tmp_path / "agent"), "thing_name": "box-9", "trusted_keys": [str(key)]}))
    return path


def test_status_of_a_fresh_agent(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--config", str(config), "--fake-server", str(tmp_path / "srv")]) == 0
    assert capsys.readouterr().out.strip() == "box-9 (cpu)"
    assert main(["status", "--json", "--config", str(config), "--fake-server", str(tmp_path / "srv")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["serving"] == {} and data["current_job"] is None


def test_errors_are_one_line(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run-job", "--config", str(config), "--fake-server", str(tmp_path / "srv"), "--job-id", "j",
                 "--document", str(tmp_path / "missing.json")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1


def test_bad_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "agent.json"
    bad.write_text(json.dumps({"root": str(tmp_path), "thing_name": "x", "trusted_keys": [], "surprise": 1}))
    assert main(["status", "--config", str(bad), "--fake-server", str(tmp_path / "srv")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_kill_hooks() -> None:
    assert kill_hooks(None) == (None, None)
    before, after = kill_hooks("after:VERIFIED")
    assert before is None and after is not None
    after(JobStep.STAGED)  # another step: nothing happens
    with pytest.raises(ValueError):
        kill_hooks("during:VERIFIED")
    with pytest.raises(ValueError):
        kill_hooks("after:NAPPING")
