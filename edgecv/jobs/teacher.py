"""The teacher labeler: the same pallet pipeline code the edge runs, over the teacher's networks.

It runs inside the labeling job (`edgecv.jobs.label_samples`: SageMaker Processing in the processing image; a
local process in the local cloud), never in a Lambda. `model_repository` and onnxruntime are imported on first use.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import ValidationError

from contracts.annotations import AnnotatedFrame, Pallet, Person, ShippingLabel
from contracts.predictions import FramePrediction
from contracts.samples import HardNegativeSample

REPO_ROOT = Path(__file__).resolve().parents[2]
TEACHER_REPOSITORY = REPO_ROOT / "training" / "teacher"  # where `python -m training.train_teacher` writes the teacher
STAND_IN_REPOSITORY = REPO_ROOT / "model_repository"     # the v1 edge models


NETWORKS = ("detector", "ocr", "damage_classifier")
# Where the teacher's label boxes come from when it has a detector of its own: v1's detector. The detector teacher
# finds pallets and people in the dark far better than v1, but v1's reader reads v1's label boxes better (the demo's
# drifted printer: 133 of 200 labels right against the manifests with v1's boxes, 124 with the teacher's;
# docs/models.md, "The teacher").
LABEL_DETECTOR = "label_detector"


@dataclass(frozen=True)
class Labeled:
    frame: AnnotatedFrame
    confidence: float  # the weakest box's confidence: what the review gate compares


def prediction_to_label(pred: FramePrediction, image_name: str, width: int, height: int) -> Labeled:
    confidences: list[float] = []
    pallets = []
    for pallet in pred.pallets:
        confidences.append(pallet.score)
        label = None
        if pallet.label_index is not None and 0 <= pallet.label_index < len(pred.labels):
            read = pred.labels[pallet.label_index]
            confidences.append(min(read.score, read.read_confidence))
            if read.pro and read.dest:
                try:
                    label = ShippingLabel(bbox=read.bbox, pro=read.pro, dest=read.dest)
                except ValidationError:
                    confidences.append(0.0)  # an unreadable label: a person has to look
        pallets.append(Pallet(bbox=pallet.bbox, damaged=pallet.damaged, label=label))
    people = [Person(bbox=p.bbox) for p in pred.people]
    confidences.extend(p.score for p in pred.people)
    frame = AnnotatedFrame(image=image_name, width=width, height=height, pallets=pallets, people=people)
    return Labeled(frame=frame, confidence=min(confidences) if confidences else 0.0)



class TeacherPipelineLabeler:
    """The pallet pipeline over per-network ONNX files: each network's teacher where one was trained, else v1."""

    def __init__(self, repository: Path, version: str = "1", name: str | None = None,
                 networks: dict[str, Path] | None = None) -> None:
        self.repository = Path(repository)
        self.version = version
        self.networks = dict(networks or {})  # network -> model.onnx, overriding `repository`
        self.name = name or f"pipeline:{self.repository.name}@{version}"
        self._pipeline: Any = None

    @classmethod
    def local_default(cls, teacher: Path = TEACHER_REPOSITORY, stand_in: Path = STAND_IN_REPOSITORY
                      ) -> TeacherPipelineLabeler:
        """The trained teacher networks where they exist (training/teacher/<network>/1/model.onnx), the v1 edge
        networks standing in for the others; with a teacher detector, the label boxes still come from v1's
        (`LABEL_DETECTOR`). The name says which is which."""
        trained = {name: teacher / name / "1" / "model.onnx" for name in NETWORKS
                   if (teacher / name / "1" / "model.onnx").is_file()}
        if not trained:
            return cls(stand_in, "1", name="v1-stand-in-for-teacher")
        stand_ins = [n for n in NETWORKS if n not in trained]
        name = "teacher@1" + (f" (v1 standing in for {', '.join(stand_ins)})" if stand_ins else "")
        if "detector" in trained:
            trained[LABEL_DETECTOR] = stand_in / "detector" / "1" / "model.onnx"
            name += "; label boxes from v1's detector"
        return cls(stand_in, "1", name=name, networks=trained)

    def _load(self) -> Any:
        if self._pipeline is None:
            from dataclasses import replace

            from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline

            paths = replace(ModelPaths.from_repository(self.repository, self.version), **self.networks)
            self._pipeline = OnnxPalletPipeline(paths, threads=1)
        return self._pipeline

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str,
              lexicon: Sequence[tuple[str, str]] = ()) -> Labeled:
        with Image.open(io.BytesIO(image)) as img:
            frame = np.asarray(img.convert("RGB"))
        return prediction_to_label(self.predict(frame, lexicon), image_name, frame.shape[1], frame.shape[0])

    def predict(self, frame: np.ndarray, lexicon: Sequence[tuple[str, str]] = ()) -> FramePrediction:
        """What the teacher sees in one RGB frame: the pallet pipeline over its networks, each label read again
        against the lexicon (the site's manifests) where one is given."""
        pred = self._load().predict(frame)
        return self.read_in_lexicon(frame, pred, lexicon) if lexicon else pred

    def read_in_lexicon(self, frame: np.ndarray, pred: FramePrediction,
                        lexicon: Sequence[tuple[str, str]]) -> FramePrediction:
        """Each label of `pred` read again against the site's truck manifests (`read_label_in_lexicon`, over the
        same lattices the pipeline read, views merged): an entry the lattices clearly prefer replaces the read, with
        its posterior as the read's confidence."""
        from model_repository import processing as P

        if not pred.labels:
            return pred
        lexicon = list(lexicon)
        pipeline = self._load()
        pro_lp, dest_lp = pipeline.label_lattices(frame, np.array([label.bbox for label in pred.labels]))
        labels = []
        for i, label in enumerate(pred.labels):
            entry = P.read_label_in_lexicon(pro_lp[i], dest_lp[i], lexicon)
            if entry.pro is not None and entry.dest is not None:
                label = label.model_copy(update={"pro": entry.pro, "dest": entry.dest,
                                                 "read_confidence": entry.posterior, "check_digit_ok": True,
                                                 "raw_text": entry.pro + entry.dest})
            labels.append(label)
        return pred.model_copy(update={"labels": labels})
