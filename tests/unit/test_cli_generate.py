import pytest
from typer.testing import CliRunner

from contracts.annotations import load_annotation_set, load_manifest
from edgecv.cli import app

runner = CliRunner()


def test_generate_writes_a_loadable_set(tmp_path):
    out = tmp_path / "set"
    result = runner.invoke(app, ["generate", "--out", str(out), "--seed", "5", "--frames", "2", "--workers", "1",
                                 "--preset", "drift"])
    assert result.exit_code == 0, result.output
    assert len(load_annotation_set(out).frames) == 2


@pytest.mark.parametrize("preset", ["foggy", "wide"])  # `wide` is a teacher training domain, not a preset
def test_generate_rejects_an_unknown_preset(tmp_path, preset):
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), "--preset", preset])
    assert result.exit_code == 2
    assert "unknown preset" in result.output and "shifted-light" in result.output
    assert not (tmp_path / "x").exists()


def test_generate_sequence(tmp_path):
    out = tmp_path / "seq"
    result = runner.invoke(app, ["generate-sequence", "--out", str(out), "--passes", "1", "--fps", "2",
                                 "--missing", "1", "--unexpected", "0"])
    assert result.exit_code == 0, result.output
    assert len(load_manifest(out / "manifest.json").pallets) == 2
