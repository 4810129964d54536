"""make_all's staged recipe: the datasets each stage reads, resuming a model at a later stage, and keeping the
lineage of a model a run did not train."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from training import make_all


def _lane_script(monkeypatch, **kwargs) -> str:
    scripts: list[list[str]] = []
    monkeypatch.setattr(make_all.subprocess, "Popen", lambda args: scripts.append(args))
    make_all.train_lane(**kwargs)
    return scripts[0][2]


def _data(root: Path) -> dict[str, Path]:
    return {name: root / name for name in [*make_all.DATASETS, *make_all.MERGED_DATASETS]}


def test_each_stage_reads_its_own_datasets_and_fine_tunes_the_previous_stage(tmp_path: Path, monkeypatch) -> None:
    for name in make_all.RECIPE:
        script = _lane_script(monkeypatch, names=(name,), work=tmp_path / "work", data=_data(tmp_path),
                              overrides={}, threads=1, recipe=make_all.RECIPE, first_stage={})
        stages = script.split(" && ")
        assert len(stages) == len(make_all.RECIPE[name])
        assert "SM_CHANNEL_INIT" not in stages[0]  # the first stage starts from scratch
        for k, stage in enumerate(stages, start=1):
            for channel, dataset in make_all.stage_channels(name, k).items():
                assert f"SM_CHANNEL_{channel.upper()}={tmp_path / dataset} " in stage
            if k > 1:
                assert f"SM_CHANNEL_INIT={tmp_path / 'work' / name / f'stage{k - 1}'} " in stage
    # the damage classifier reads every training frame; each stage's datasets are ones make_all provides
    assert make_all.stage_channels("damage_classifier", 1) == {"train": "train_all"}
    assert set(make_all.MERGED_DATASETS["train_all"]) == {"train", "train12", "train13"}
    assert all(ds in _data(tmp_path) for chans in make_all.STAGE_CHANNELS.values()
               for stage in chans.values() for ds in stage.values())


def test_resume_starts_at_the_named_stage_from_the_checkpoint_before_it(tmp_path: Path, monkeypatch) -> None:
    work = tmp_path / "work"
    (work / "detector" / "stage2").mkdir(parents=True)
    (work / "detector" / "stage2" / "model.pt").write_bytes(b"ckpt")
    first = make_all.parse_resume(["detector=3"], make_all.RECIPE, work)
    assert first == {"detector": 3}
    script = _lane_script(monkeypatch, names=("detector",), work=work, data=_data(tmp_path), overrides={},
                          threads=2, recipe=make_all.RECIPE, first_stage=first)
    stages = script.split(" && ")
    assert len(stages) == len(make_all.RECIPE["detector"]) - 2
    assert f"SM_CHANNEL_INIT={work / 'detector' / 'stage2'} " in stages[0]
    assert f"SM_MODEL_DIR={work / 'detector' / 'stage3'} " in stages[0]


@pytest.mark.parametrize("item, message", [
    ("detector=3", "missing"),  # no stage-2 checkpoint in the work directory
    ("damage_classifier=2", "a stage of its recipe"),
    ("nosuchmodel=2", "MODEL one of"),
    ("damage_classifier", "expected MODEL=N"),
])
def test_a_bad_resume_is_refused_before_any_work(tmp_path: Path, item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_all.parse_resume([item], make_all.RECIPE, tmp_path / "work")


def test_bad_resume_on_the_command_line_is_one_clear_line_before_any_data_is_rendered(tmp_path: Path,
                                                                                      capsys) -> None:
    code = make_all.main(["--datasets", str(tmp_path / "data"), "--work", str(tmp_path / "work"),
                          "--out", str(tmp_path / "out"), "--resume", "detector=3"])
    assert code == 2
    out = capsys.readouterr().out
    assert "stage2" in out and out.count("\n") == 1  # one line, whatever the terminal's width
    assert not (tmp_path / "data").exists()


def test_a_model_not_trained_keeps_its_lineage_only_when_its_export_is_the_committed_model(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.onnx"
    fresh.write_bytes(b"onnx bytes")
    dest = tmp_path / "repo"
    dest.mkdir()
    report = {"eval": {"golden": {"g": 1}, "shifted": {"s": 2}}}
    lineage = {"code_commit": "abc", "onnx": {"sha256": hashlib.sha256(b"onnx bytes").hexdigest()}}
    (dest / "lineage.json").write_text(json.dumps(lineage))
    stamp = {"at": "2026-11-24T06:14:25Z", "code_commit": "def"}
    assert make_all.keep_lineage(dest, fresh, report, stamp)
    kept = json.loads((dest / "lineage.json").read_text())
    assert kept["code_commit"] == "abc" and kept["eval_golden"] == {"g": 1} and kept["eval_shifted"] == {"s": 2}
    assert kept["evaluated"] == stamp
    fresh.write_bytes(b"another model")
    assert not make_all.keep_lineage(dest, fresh, report, stamp)
    assert not make_all.keep_lineage(tmp_path / "nothing", fresh, report, stamp)


def test_a_set_made_before_a_knob_existed_is_reused_when_the_knob_has_its_default(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    from dataclasses import asdict

    def render(*args, **kwargs):
        raise AssertionError("the set was rendered again")

    monkeypatch.setattr(make_all, "write_dataset", render)

    seed, frames, knobs = make_all.DATASETS["train"]
    recorded = asdict(knobs)
    recorded.pop("label_font")  # the knob came later; its default (None) changes nothing
    directory = tmp_path / "train"
    directory.mkdir()
    (directory / "generator.json").write_text(json.dumps({"seed": seed, "frames": frames, "knobs": recorded}))
    assert make_all.ensure_dataset(tmp_path, "train") == directory
    recorded["label_font"] = "SomethingElse.ttf"  # a knob that differs still means another set
    (directory / "generator.json").write_text(json.dumps({"seed": seed, "frames": frames, "knobs": recorded}))
    with pytest.raises(AssertionError, match="rendered again"):
        make_all.ensure_dataset(tmp_path, "train")


def test_a_new_report_keeps_what_the_run_did_not_produce(tmp_path: Path) -> None:
    old = {"total_seconds": 7000.0, "post_processing": {"note": 1}, "eval": {"old": True},
           "last_partial_run": {"seconds": 60}, "evaluated": {"at": "then"}}
    path = tmp_path / "training_report.json"
    path.write_text(json.dumps(old))
    partial = {"eval": {"new": True}, "evaluated": {"at": "now"}, "last_partial_run": {"seconds": 70}}
    make_all.carry_over_report(partial, path, whole_run=False)
    assert partial == {"eval": {"new": True}, "evaluated": {"at": "now"}, "last_partial_run": {"seconds": 70},
                       "total_seconds": 7000.0, "post_processing": {"note": 1}}
    whole = {"eval": {"new": True}, "evaluated": {"at": "now"}, "total_seconds": 6000.0}
    make_all.carry_over_report(whole, path, whole_run=True)
    assert "last_partial_run" not in whole and whole["total_seconds"] == 6000.0
    assert whole["post_processing"] == {"note": 1}
    make_all.carry_over_report(whole, tmp_path / "none.json", whole_run=True)  # no earlier report: nothing to keep


def test_the_report_names_the_thresholds_served_not_the_ones_it_carried_over() -> None:
    from model_repository import processing

    report = {"post_processing": {"damage_threshold": 0.3, "min_read_confidence": 0.5, "rules": "kept"}}
    make_all.record_served_thresholds(report)
    assert report["post_processing"] == {
        "damage_threshold": processing.DAMAGE_THRESHOLD, "min_read_confidence": processing.MIN_READ_CONFIDENCE,
        "detection_thresholds": processing.DETECTION_THRESHOLDS, "rules": "kept"}
    fresh: dict = {}
    make_all.record_served_thresholds(fresh)
    assert fresh["post_processing"]["damage_threshold"] == processing.DAMAGE_THRESHOLD


def test_a_model_the_run_did_not_train_is_taken_as_committed_not_exported_again(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    import numpy as np

    def no_checkpoint(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded")

    monkeypatch.setattr(make_all, "load_model", no_checkpoint)
    monkeypatch.setattr(make_all, "calibration_samples", lambda name, train: np.zeros((8, 1), np.float32))
    monkeypatch.setattr(make_all, "quantize_int8", lambda name, fp32, int8, samples: int8.write_bytes(b"q" * 3))
    monkeypatch.setattr(make_all, "latency_ms", lambda path, shape, one: {"p50": 1.0})
    committed = tmp_path / "repo" / "ocr" / "1" / "model.onnx"
    committed.parent.mkdir(parents=True)
    committed.write_bytes(b"committed onnx")
    fp32_dir, int8_dir = tmp_path / "fp32", tmp_path / "int8"
    fp32_dir.mkdir()
    int8_dir.mkdir()
    earlier = {"onnx_max_abs_diff_vs_torch": 1e-5, "training": {"steps": 9000}, "size_bytes": {"fp32": 1}}
    entry = make_all.export_model("ocr", tmp_path / "no-checkpoint", tmp_path / "train", fp32_dir, int8_dir,
                                  committed=committed, earlier=earlier)
    assert (fp32_dir / "ocr.onnx").read_bytes() == b"committed onnx"  # so keep_lineage keeps its lineage
    assert entry["training"] == {"steps": 9000} and entry["onnx_max_abs_diff_vs_torch"] == 1e-5
    assert entry["size_bytes"] == {"fp32": len(b"committed onnx"), "int8": 3}  # measured again
    with pytest.raises(AssertionError, match="checkpoint was loaded"):  # a trained model is exported from it
        make_all.export_model("ocr", tmp_path / "ckpt", tmp_path / "train", fp32_dir, int8_dir)


def test_the_report_states_training_time_per_model_and_per_lane_from_the_lineage(tmp_path: Path) -> None:
    seconds = {"detector": 100.0, "ocr": 250.0, "damage_classifier": 50.5}
    for name, s in seconds.items():
        (tmp_path / name / "1").mkdir(parents=True)
        (tmp_path / name / "1" / "lineage.json").write_text(json.dumps({"training_seconds": s}))
    report: dict = {}
    make_all.record_training_time(report, tmp_path, "1")
    assert report["training_seconds"] == seconds
    lanes = report["training_lanes_seconds"]
    assert sorted(lanes.values()) == [150.5, 250.0] and "detector | damage_classifier" in lanes


def test_a_merged_set_is_joined_once_and_again_when_a_part_changes(tmp_path: Path, monkeypatch) -> None:
    from training.synth.dataset import write_dataset

    parts = {}
    for k, name in enumerate(("train", "train12", "train13")):
        write_dataset(tmp_path / name, seed=100 + k, frames=1, workers=1)
        parts[name] = tmp_path / name
    merged = make_all.ensure_merged(tmp_path, "train_all", parts)
    assert len(json.loads((merged / "annotations.json").read_text())["frames"]) == 3
    assert make_all.dataset_hash(merged) not in {make_all.dataset_hash(part) for part in parts.values()}
    calls = []
    monkeypatch.setattr(make_all, "merge_datasets", lambda out, p: calls.append(out))
    make_all.ensure_merged(tmp_path, "train_all", parts)
    assert calls == []  # the parts did not change: reused
    write_dataset(tmp_path / "train13", seed=999, frames=1, workers=1)
    make_all.ensure_merged(tmp_path, "train_all", parts)
    assert calls == [merged]  # a part changed: joined again
