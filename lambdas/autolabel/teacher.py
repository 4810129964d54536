"""The teacher labeler: the same pallet pipeline code the edge runs, over the teacher's model repository.

`model_repository` and onnxruntime are imported on first use: the teacher runs where those are installed
(the local cloud; in AWS a container-image function or a SageMaker batch job with the same code).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from contracts.samples import HardNegativeSample
from lambdas.autolabel.convert import prediction_to_label
from lambdas.common.interfaces import Labeled

REPO_ROOT = Path(__file__).resolve().parents[2]
TEACHER_REPOSITORY = REPO_ROOT / "training" / "teacher"  # where `make_all --teacher` writes the teacher
STAND_IN_REPOSITORY = REPO_ROOT / "model_repository"     # the v1 edge models


NETWORKS = ("detector", "ocr", "damage_classifier")


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
        networks standing in for the others. The name says which is which."""
        trained = {name: teacher / name / "1" / "model.onnx" for name in NETWORKS
                   if (teacher / name / "1" / "model.onnx").is_file()}
        if not trained:
            return cls(stand_in, "1", name="v1-stand-in-for-teacher")
        stand_ins = [n for n in NETWORKS if n not in trained]
        name = "teacher@1" + (f" (v1 standing in for {', '.join(stand_ins)})" if stand_ins else "")
        return cls(stand_in, "1", name=name, networks=trained)

    def _load(self) -> Any:
        if self._pipeline is None:
            from dataclasses import replace

            from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline

            paths = replace(ModelPaths.from_repository(self.repository, self.version), **self.networks)
            self._pipeline = OnnxPalletPipeline(paths, threads=1)
        return self._pipeline

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str) -> Labeled:
        with Image.open(io.BytesIO(image)) as img:
            frame = np.asarray(img.convert("RGB"))
        pred = self._load().predict(frame)
        return prediction_to_label(pred, image_name, frame.shape[1], frame.shape[0])
