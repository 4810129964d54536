"""Detector outputs -> detections in frame pixels, plus the label crops for the reader and the pallet crops for the
damage classifier, each box in its views (`processing.reader_batch` / `damage_batch`). A frame without labels (or
pallets) still sends one blank crop so the batch is never empty; the `classes` tensor says how many boxes are real."""

from __future__ import annotations

import numpy as np

from model_repository import processing as P
from model_repository.triton_python._tensors import input_array, response

LABEL = P.DETECTOR_CLASSES.index("label")
PALLET = P.DETECTOR_CLASSES.index("pallet")


def crops(frame: np.ndarray, boxes: np.ndarray, make, blank_shape: tuple[int, ...]) -> np.ndarray:
    """`make(frame, boxes)`: every box's views, box by box; one blank crop when there is no box."""
    if not len(boxes):
        return np.zeros((1, *blank_shape), np.float32)
    return make(frame, boxes)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        pass

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:
            frame = input_array(request, "frame")
            scale = float(input_array(request, "scale")[0])
            det = P.decode_detections(input_array(request, "heatmap")[0], input_array(request, "size")[0],
                                      input_array(request, "offset")[0], scale, frame.shape[:2])
            labels = det.boxes[det.classes == LABEL]
            pallets = det.boxes[det.classes == PALLET]
            out.append(response({
                "boxes": det.boxes.reshape(-1, 4).astype(np.float32),
                "scores": det.scores.astype(np.float32),
                "classes": det.classes.astype(np.int32),
                "label": crops(frame, labels, P.reader_batch, (1, P.OCR_H, P.OCR_W)),
                "crop": crops(frame, pallets, P.damage_batch, (3, P.DAMAGE_SIZE, P.DAMAGE_SIZE)),
            }))
        return out
