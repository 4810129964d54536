"""edgecv.teacher_eval: the teacher scored as it labels (each frame predicted once, scored as read and as read against
the set's lexicon), its lexicon, and its argument errors. A fake labeler stands in for the networks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contracts.annotations import load_annotation_set
from contracts.predictions import DetectedLabel, DetectedPallet, FramePrediction
from edgecv import teacher_eval

TRUTH = [("4827119301", "MEM"), ("1000000013", "ATL")]


def write_set(root: Path) -> Path:
    frames = []
    for i, (pro, dest) in enumerate(TRUTH):
        Image.new("RGB", (64, 48), (i * 40, 0, 0)).save(root / f"{i}.png")
        frames.append({"image": f"{i}.png", "width": 64, "height": 48, "pallets": [
            {"bbox": [4.0, 4.0, 40.0, 44.0], "damaged": False,
             "label": {"bbox": [10.0, 10.0, 30.0, 30.0], "pro": pro, "dest": dest}}]})
    (root / "annotations.json").write_text(json.dumps({"format": "edgecv-annotations/1", "frames": frames}))
    return root


class FakeLabeler:
    """Finds every box; reads nothing on its own; against a lexicon, reads the entry whose index is the frame's red
    level / 40 (so frame 0 reads entry 0 of the sorted lexicon, frame 1 entry 1)."""

    name = "fake"

    def __init__(self) -> None:
        self.predicted = 0
        self.lexicons: list[list[tuple[str, str]]] = []

    def predict(self, frame: np.ndarray) -> FramePrediction:
        self.predicted += 1
        return FramePrediction(pallets=[DetectedPallet(bbox=[4, 4, 40, 44], score=0.9, damaged=False,
                                                       damage_score=0.1, label_index=0)],
                               labels=[DetectedLabel(bbox=[10, 10, 30, 30], score=0.9)])

    def read_in_lexicon(self, frame: np.ndarray, pred: FramePrediction, lexicon: list[tuple[str, str]]
                        ) -> FramePrediction:
        self.lexicons.append(list(lexicon))
        pro, dest = lexicon[int(frame[0, 0, 0]) // 40]
        label = pred.labels[0].model_copy(update={"pro": pro, "dest": dest, "check_digit_ok": True})
        return pred.model_copy(update={"labels": [label]})


def test_lexicon_is_every_pair_the_set_holds_sorted(tmp_path: Path) -> None:
    assert teacher_eval.dataset_lexicon(load_annotation_set(write_set(tmp_path))) == sorted(TRUTH)


def test_each_frame_is_predicted_once_and_scored_both_ways(tmp_path: Path) -> None:
    labeler = FakeLabeler()
    result = teacher_eval.score(write_set(tmp_path), labeler)  # type: ignore[arg-type]
    assert labeler.predicted == 2
    assert labeler.lexicons == [sorted(TRUTH)] * 2
    assert result["ocr"]["n"] == 2 and result["lexicon_entries"] == 2
    assert result["ocr"]["exact_match_edge_read"] == 0.0  # nothing read without the lexicon
    # sorted lexicon: ("1000000013", "ATL") first: frame 0 (truth 4827119301) reads it, frame 1 reads the other
    assert result["ocr"]["exact_match_with_lexicon"] == 0.0
    assert result["detection"]["label"]["f1"] == 1.0


def test_a_lexicon_read_that_matches_the_truth_counts(tmp_path: Path) -> None:
    root = write_set(tmp_path)
    annotations = json.loads((root / "annotations.json").read_text())
    annotations["frames"].reverse()  # frame 1.png (red 40) now holds entry 1 of the sorted lexicon: 4827119301
    annotations["frames"][0]["pallets"][0]["label"].update(pro="4827119301", dest="MEM")
    annotations["frames"][1]["pallets"][0]["label"].update(pro="1000000013", dest="ATL")
    (root / "annotations.json").write_text(json.dumps(annotations))
    result = teacher_eval.score(root, FakeLabeler())  # type: ignore[arg-type]
    assert result["ocr"]["exact_match_with_lexicon"] == 1.0


@pytest.mark.parametrize("value, message", [("ocr", "NAME=ONNX"), ("reader=x.onnx", "NAME=ONNX"),
                                            ("ocr=/no/such.onnx", "no such file")])
def test_bad_network_arguments_are_one_clear_line(value: str, message: str, capsys: pytest.CaptureFixture) -> None:
    assert teacher_eval.main(["--dataset", "unused", "--network", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_a_missing_dataset_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert teacher_eval.main(["--dataset", str(tmp_path / "absent"), "--teacher", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_record_writes_the_results_into_the_lineage_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "set").mkdir()
    data = write_set(tmp_path / "set")
    lineage = tmp_path / "lineage.json"
    lineage.write_text(json.dumps({"model": "detector", "role": "teacher"}))
    monkeypatch.setattr(teacher_eval, "teacher_labeler", lambda networks, teacher: FakeLabeler())
    assert teacher_eval.main(["--dataset", str(data), "--record", str(lineage)]) == 0
    recorded = json.loads(lineage.read_text())
    assert recorded["model"] == "detector" and recorded["role"] == "teacher"  # kept
    entry = recorded["teacher_eval"]["results"]["set"]
    assert entry["frames"] == 2 and entry["exact_match"] == {"as_read": 0.0, "with_lexicon": 0.0, "n": 2}
    assert entry["f1"]["label"] == 1.0
    assert recorded["teacher_eval"]["command"].startswith("python -m edgecv.teacher_eval --dataset ")


def test_record_into_a_missing_lineage_file_is_refused_before_any_work(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    assert teacher_eval.main(["--dataset", str(tmp_path), "--record", str(tmp_path / "absent.json")]) == 2
    assert "no such lineage file" in capsys.readouterr().err
