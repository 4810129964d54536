"""`python -m training.make_all --evaluate-only`: it re-scores the committed models only against the data the
report was made on, and changes nothing when it refuses."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from training import make_all


def _fake_sets(root: Path) -> Path:
    """Empty sets whose generator.json matches make_all's DATASETS, so ensure_dataset reuses them."""
    for name in ("golden", "shifted"):
        seed, frames, knobs = make_all.DATASETS[name]
        directory = root / name
        (directory / "frames").mkdir(parents=True)
        (directory / "annotations.json").write_text('{"format": "edgecv-annotations/1", "frames": []}')
        (directory / "generator.json").write_text(json.dumps({"seed": seed, "frames": frames,
                                                              "knobs": asdict(knobs)}))
    return root


def test_without_a_report_it_refuses(tmp_path: Path, capsys) -> None:
    assert make_all.main(["--evaluate-only", "--out", str(tmp_path / "repo"),
                          "--datasets", str(_fake_sets(tmp_path / "data"))]) == 1
    assert "no training report" in capsys.readouterr().out


def test_a_dataset_the_report_was_not_made_on_is_refused_and_nothing_is_rewritten(tmp_path: Path, capsys) -> None:
    out = tmp_path / "repo"
    out.mkdir()
    report = {"datasets": {name: {"sha256": "0" * 64} for name in ("golden", "shifted")}, "eval": {"kept": True}}
    (out / "training_report.json").write_text(json.dumps(report))
    before = (out / "training_report.json").read_bytes()
    assert make_all.main(["--evaluate-only", "--out", str(out), "--datasets", str(_fake_sets(tmp_path / "data"))]) == 1
    assert "dataset golden" in capsys.readouterr().out.replace("\n", " ")
    assert (out / "training_report.json").read_bytes() == before
