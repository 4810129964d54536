"""`edgecv eval` on bad input: one clear line, non-zero exit, nothing written."""

import json

import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from training.synth.dataset import write_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds") / "set", seed=21, frames=2, workers=1)


def run_eval(dataset, out):
    return runner.invoke(app, ["eval", "--dataset", str(dataset), "--out", str(out)])


def assert_refused(result, out, fragment):
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert fragment in text
    assert "Traceback" not in text
    assert not out.exists()


def test_missing_dataset(tmp_path):
    out = tmp_path / "eval.json"
    assert_refused(run_eval(tmp_path / "nope", out), out, "not found")


def test_unknown_format(tmp_path, small_set):
    data = json.loads((small_set / "annotations.json").read_text())
    data["format"] = "something/9"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "annotations.json").write_text(json.dumps(data))
    out = tmp_path / "eval.json"
    assert_refused(run_eval(bad, out), out, "unknown format")


def test_missing_and_corrupt_images(tmp_path, small_set):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_set, copy)
    first = sorted((copy / "frames").iterdir())[0]
    first.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "eval.json"
    assert_refused(run_eval(copy, out), out, "corrupt")
    first.unlink()
    assert_refused(run_eval(copy, out), out, "image missing")
