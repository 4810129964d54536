"""`edgecv bench train-step`: fp32 vs bf16 step times of the three networks, measured in one run."""

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from edgecv.cli import app
from training.bench_train_step import FORMAT, bench_train_step


def test_each_model_is_timed_in_both_precisions():
    result = bench_train_step(steps=1, models=("damage_classifier",))
    assert result["format"] == FORMAT and result["threads"] == 1
    entry = result["models"]["damage_classifier"]
    assert entry["fp32_s"] > 0 and entry["bf16_s"] > 0
    assert entry["bf16_speedup"] == pytest.approx(entry["fp32_s"] / entry["bf16_s"], rel=0.01)
    assert result["auto_picks"] == ("bf16" if result["native_bf16"] else "fp32")


def test_the_command_prints_the_report_and_refuses_an_unknown_model(tmp_path):
    out = tmp_path / "bench.json"
    ok = CliRunner().invoke(app, ["bench", "train-step", "--steps", "1", "--model", "damage_classifier",
                                  "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(out.read_text())["models"].keys() == {"damage_classifier"}
    bad = CliRunner().invoke(app, ["bench", "train-step", "--model", "resnet"])
    assert bad.exit_code == 1
    assert "unknown model resnet: choose from detector, ocr, damage_classifier" in bad.output
