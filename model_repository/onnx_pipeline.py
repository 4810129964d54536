"""The pallet pipeline in-process with ONNX Runtime: detector -> label reader + damage classifier.

The same processing functions that the Triton models call; used by the training harness, as the
baseline of `edgecv bench edge`, and inside the Python-backend models.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from contracts.predictions import DetectedLabel, DetectedPallet, DetectedPerson, FramePrediction
from model_repository import processing as P

REPOSITORY = Path(__file__).resolve().parent
MODEL_NAMES = ("detector", "ocr", "damage_classifier")


def session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or int(os.environ.get("EDGECV_ORT_THREADS", "2"))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class ModelPaths:
    detector: Path
    ocr: Path
    damage_classifier: Path
    versions: dict[str, str]
    # where label boxes come from when not from `detector` (the teacher labeler: its detector finds pallets and people,
    # v1's finds the label boxes its reader reads best); the edge never sets it
    label_detector: Path | None = None

    @classmethod
    def from_repository(cls, root: Path = REPOSITORY, version: str = "1", variant: str = "model.onnx") -> ModelPaths:
        """The ONNX files of one version in Triton repository layout: ROOT/<model>/<version>/model.onnx."""
        paths = {name: Path(root) / name / version / variant for name in MODEL_NAMES}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"model files missing: {', '.join(missing)} (run `make train`)")
        return cls(**paths, versions={name: version for name in MODEL_NAMES})

    @classmethod
    def from_dir(cls, directory: Path, version: str = "local") -> ModelPaths:
        """A flat directory with detector.onnx, ocr.onnx, damage_classifier.onnx."""
        paths = {name: Path(directory) / f"{name}.onnx" for name in MODEL_NAMES}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"model files missing: {', '.join(missing)}")
        return cls(**paths, versions={name: version for name in MODEL_NAMES})


def assign_labels(pallets: np.ndarray, labels: np.ndarray) -> list[int | None]:
    """For each pallet, the index of the label whose centre lies in it (smallest pallet wins)."""
    out: list[int | None] = [None] * len(pallets)
    if not len(pallets):
        return out
    areas = (pallets[:, 2] - pallets[:, 0]) * (pallets[:, 3] - pallets[:, 1])
    for li, lb in enumerate(labels):
        cx, cy = (lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2
        inside = (pallets[:, 0] <= cx) & (cx <= pallets[:, 2]) & (pallets[:, 1] <= cy) & (cy <= pallets[:, 3])
        if inside.any():
            candidates = np.where(inside)[0]
            best = int(candidates[np.argmin(areas[candidates])])
            if out[best] is None:
                out[best] = li
    return out


class OnnxPalletPipeline:
    def __init__(self, models: ModelPaths, threads: int | None = None) -> None:
        self.models = models
        self.detector = session(models.detector, threads)
        self.ocr = session(models.ocr, threads)
        self.damage = session(models.damage_classifier, threads)
        self.label_detector = session(models.label_detector, threads) if models.label_detector else None

    def detect(self, frame: np.ndarray) -> P.Detections:
        x, scale = P.detector_input(frame)
        det = self._decode(self.detector.run(None, {"image": x[None]}), scale, frame)
        if self.label_detector is None:
            return det
        labels = self._decode(self.label_detector.run(None, {"image": x[None]}), scale, frame).of_class("label")
        return det.without_class("label").joined(labels)

    @staticmethod
    def _decode(outputs: list[np.ndarray], scale: float, frame: np.ndarray) -> P.Detections:
        heat, size, offset = outputs
        return P.decode_detections(heat[0], size[0], offset[0], scale, frame.shape[:2])

    def label_lattices(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reader's PRO and DEST lattices per label box, its views merged: (N, T, 11), (N, T, 27)."""
        if not len(boxes):
            return np.zeros((0, 1, 1 + len(P.PRO_ALPHABET)), np.float32), \
                np.zeros((0, 1, 1 + len(P.DEST_ALPHABET)), np.float32)
        pro_lp, dest_lp = self.ocr.run(None, {"label": P.reader_batch(frame, boxes)})
        return P.merge_reader_views(pro_lp, len(boxes)), P.merge_reader_views(dest_lp, len(boxes))

    def read_labels(self, frame: np.ndarray, boxes: np.ndarray) -> list[P.LabelRead]:
        pro_lp, dest_lp = self.label_lattices(frame, boxes)
        return [P.read_label(pro_lp[i], dest_lp[i]) for i in range(len(boxes))]

    def damage_scores(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if not len(boxes):
            return np.zeros((0,), np.float32)
        (logits,) = self.damage.run(None, {"crop": P.damage_batch(frame, boxes)})
        return P.merge_damage_views(logits, len(boxes))

    def predict(self, frame: np.ndarray) -> FramePrediction:
        start = time.perf_counter()
        det = self.detect(frame)
        pallets, labels, people = det.of_class("pallet"), det.of_class("label"), det.of_class("person")
        reads = self.read_labels(frame, labels.boxes)
        damage = self.damage_scores(frame, pallets.boxes)
        owner = assign_labels(pallets.boxes, labels.boxes)
        prediction = FramePrediction(
            pallets=[
                DetectedPallet(bbox=pallets.boxes[i].tolist(), score=float(pallets.scores[i]),
                               damaged=bool(damage[i] >= P.DAMAGE_THRESHOLD), damage_score=float(damage[i]),
                               label_index=owner[i])
                for i in range(len(pallets.boxes))
            ],
            labels=[
                DetectedLabel(bbox=labels.boxes[i].tolist(), score=float(labels.scores[i]), pro=r.pro, dest=r.dest,
                              read_confidence=r.confidence, raw_text=r.raw_pro + r.raw_dest,
                              check_digit_ok=r.check_digit_ok)
                for i, r in enumerate(reads)
            ],
            people=[DetectedPerson(bbox=people.boxes[i].tolist(), score=float(people.scores[i]))
                    for i in range(len(people.boxes))],
            model_versions=self.models.versions,
        )
        prediction.latency_ms = (time.perf_counter() - start) * 1000
        return prediction


def read_lineage(model_dir: Path) -> dict:
    path = Path(model_dir) / "lineage.json"
    return json.loads(path.read_text()) if path.is_file() else {}
