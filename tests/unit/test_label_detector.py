"""OnnxPalletPipeline with a label detector (the teacher labeler's): pallets and people from `detector`, label boxes
from `label_detector` only. Fake sessions stand in for the two ONNX detectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_repository import onnx_pipeline
from model_repository import processing as P
from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline

FRAME = np.zeros((720, 1280, 3), np.uint8)
CELLS = (P.DETECTOR_H // P.DETECTOR_STRIDE, P.DETECTOR_W // P.DETECTOR_STRIDE)


class FakeDetector:
    """Answers every frame with the same objects: (class, score, centre x, centre y, w, h) in frame pixels."""

    def __init__(self, objects: list[tuple[str, float, float, float, float, float]]) -> None:
        heat = np.zeros((len(P.DETECTOR_CLASSES), *CELLS), np.float32)
        size = np.zeros((2, *CELLS), np.float32)
        offset = np.zeros((2, *CELLS), np.float32)
        for name, score, cx, cy, w, h in objects:  # frame pixels -> input cells (the frame is scaled by 0.5)
            x, y = int(cx * 0.5 / P.DETECTOR_STRIDE), int(cy * 0.5 / P.DETECTOR_STRIDE)
            heat[P.DETECTOR_CLASSES.index(name), y, x] = score
            size[:, y, x] = np.log([w * 0.5 / P.DETECTOR_STRIDE, h * 0.5 / P.DETECTOR_STRIDE])
        self.outputs = [heat[None], size[None], offset[None]]

    def run(self, _names: object, _feeds: dict) -> list[np.ndarray]:
        return self.outputs


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    fakes: dict[str, object] = {
        "teacher.onnx": FakeDetector([("pallet", 0.9, 400, 400, 300, 400), ("person", 0.8, 1000, 360, 120, 400),
                                      ("label", 0.95, 400, 300, 60, 90)]),
        "v1.onnx": FakeDetector([("pallet", 0.7, 800, 400, 300, 400), ("label", 0.6, 408, 304, 64, 96),
                                 ("label", 0.99, 900, 300, 60, 90)]),
        "ocr.onnx": object(), "damage.onnx": object(),
    }
    monkeypatch.setattr(onnx_pipeline, "session", lambda path, threads=None: fakes[Path(path).name])
    return fakes


def paths(label_detector: str | None) -> ModelPaths:
    return ModelPaths(Path("teacher.onnx"), Path("ocr.onnx"), Path("damage.onnx"), versions={},
                      label_detector=None if label_detector is None else Path(label_detector))


def test_without_a_label_detector_every_class_comes_from_the_detector(sessions: dict[str, object]) -> None:
    det = OnnxPalletPipeline(paths(None)).detect(FRAME)
    assert sorted(P.DETECTOR_CLASSES[c] for c in det.classes) == ["label", "pallet", "person"]
    assert det.of_class("label").scores.tolist() == pytest.approx([0.95])


def test_label_boxes_come_from_the_label_detector_and_nothing_else_does(sessions: dict[str, object]) -> None:
    det = OnnxPalletPipeline(paths("v1.onnx")).detect(FRAME)
    labels, pallets, people = det.of_class("label"), det.of_class("pallet"), det.of_class("person")
    assert labels.scores.tolist() == pytest.approx([0.99, 0.6])  # v1's two labels, the teacher's one is gone
    assert labels.boxes[1].tolist() == pytest.approx([376, 256, 440, 352])
    assert pallets.scores.tolist() == pytest.approx([0.9])  # the teacher's pallet, not v1's
    assert people.scores.tolist() == pytest.approx([0.8])
    assert det.scores.tolist() == sorted(det.scores.tolist(), reverse=True)  # best first, as decoded


def test_joined_keeps_best_first_and_without_class_drops_only_that_class() -> None:
    a = P.Detections(np.array([[0, 0, 1, 1], [0, 0, 2, 2]], np.float32), np.array([0.9, 0.3], np.float32),
                     np.array([0, 1], np.int32))
    b = P.Detections(np.array([[0, 0, 3, 3]], np.float32), np.array([0.5], np.float32), np.array([1], np.int32))
    joined = a.without_class("label").joined(b)
    assert joined.scores.tolist() == pytest.approx([0.9, 0.5])
    assert joined.classes.tolist() == [0, 1] and joined.boxes[:, 2].tolist() == [1, 3]
