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


class TeacherPipelineLabeler:
    def __init__(self, repository: Path, version: str = "1") -> None:
        self.repository = Path(repository)
        self.version = version
        self._pipeline: Any = None

    def _load(self) -> Any:
        if self._pipeline is None:
            from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline

            self._pipeline = OnnxPalletPipeline(ModelPaths.from_repository(self.repository, self.version), threads=1)
        return self._pipeline

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str) -> Labeled:
        with Image.open(io.BytesIO(image)) as img:
            frame = np.asarray(img.convert("RGB"))
        pred = self._load().predict(frame)
        return prediction_to_label(pred, image_name, frame.shape[1], frame.shape[0])
