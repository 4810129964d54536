"""An ONNX network served by ONNX Runtime inside a Python-backend model (the `cpu` device class).

Dynamic batching hands `execute` several requests at once: their inputs are concatenated along the batch axis,
run in one ONNX Runtime call and split back, so requests from several camera streams share one forward pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_repository.onnx_pipeline import session
from model_repository.triton_python._tensors import (
    error_response,
    input_array,
    input_names,
    model_parameters,
    output_names,
    response,
)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        version_dir = Path(args["model_repository"]) / args["model_version"]
        threads = int(model_parameters(args).get("onnx_threads", "1") or 1)
        self.session = session(version_dir / "model.onnx", threads=threads)
        self.inputs = input_names(args)
        self.outputs = output_names(args)
        onnx_outputs = [o.name for o in self.session.get_outputs()]
        missing = sorted(set(self.outputs) - set(onnx_outputs))
        if missing:
            raise ValueError(f"{version_dir}/model.onnx lacks outputs {missing} named in config.pbtxt")

    def execute(self, requests: list) -> list:
        try:
            feeds = {name: [input_array(r, name) for r in requests] for name in self.inputs}
            sizes = [len(a) for a in feeds[self.inputs[0]]]
            batch = {name: np.concatenate(arrays, axis=0) for name, arrays in feeds.items()}
            results = self.session.run(self.outputs, batch)
        except Exception as exc:  # one bad batch must answer every request with an error, not kill the model
            return [error_response(f"inference failed: {exc}") for _ in requests]
        bounds = np.cumsum([0, *sizes])
        return [
            response({name: out[bounds[i]:bounds[i + 1]] for name, out in zip(self.outputs, results, strict=True)})
            for i in range(len(requests))
        ]

    def finalize(self) -> None:
        self.session = None
