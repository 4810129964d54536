"""frame (HxWx3 uint8 RGB) -> detector input (1, 3, 384, 640) and the frame->input scale."""

from __future__ import annotations

import numpy as np

from model_repository import processing as P
from model_repository.triton_python._tensors import error_response, input_array, response


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        pass

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:
            frame = input_array(request, "frame")
            if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 16:
                out.append(error_response(f"frame must be HxWx3 RGB uint8 of at least 16x16, got {frame.shape}"))
                continue
            image, scale = P.detector_input(np.ascontiguousarray(frame))
            out.append(response({"image": image[None], "scale": np.array([scale], np.float32)}))
        return out
