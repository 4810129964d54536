"""Calls the `pallet_pipeline` ensemble over loopback gRPC and turns its decision tensors into a FramePrediction."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import numpy as np
from tritonclient.grpc import InferenceServerClient, InferInput, InferRequestedOutput, InferResult
from tritonclient.utils import InferenceServerException

from contracts.errors import EdgecvError
from contracts.predictions import DetectedLabel, DetectedPallet, DetectedPerson, FramePrediction
from model_repository.configs import DECISION_OUTPUTS, NETWORKS, PIPELINE
from model_repository.processing import DAMAGE_THRESHOLD


class InferenceError(EdgecvError):
    """The pipeline failed for one frame (server down, bad frame, model error)."""


def _text(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]


def prediction_from_outputs(out: Callable[[str], np.ndarray], versions: dict[str, str]) -> FramePrediction:
    pallet_boxes = out("pallet_boxes").reshape(-1, 4)
    damage = out("damage_scores").reshape(-1)
    pallet_scores = out("pallet_scores").reshape(-1)
    owner = out("pallet_label_index").reshape(-1)
    label_boxes = out("label_boxes").reshape(-1, 4)
    label_scores = out("label_scores").reshape(-1)
    pros, dests, raws = _text(out("label_pro")), _text(out("label_dest")), _text(out("label_raw"))
    conf = out("label_read_confidence").reshape(-1)
    check = out("label_check_digit_ok").reshape(-1)
    person_boxes, person_scores = out("person_boxes").reshape(-1, 4), out("person_scores").reshape(-1)
    return FramePrediction(
        pallets=[DetectedPallet(bbox=pallet_boxes[i].tolist(), score=float(pallet_scores[i]),
                                damaged=bool(damage[i] >= DAMAGE_THRESHOLD), damage_score=float(damage[i]),
                                label_index=None if owner[i] < 0 else int(owner[i]))
                 for i in range(len(pallet_boxes))],
        labels=[DetectedLabel(bbox=label_boxes[i].tolist(), score=float(label_scores[i]), pro=pros[i] or None,
                              dest=dests[i] or None, read_confidence=float(conf[i]), raw_text=raws[i],
                              check_digit_ok=bool(check[i]))
                for i in range(len(label_boxes))],
        people=[DetectedPerson(bbox=person_boxes[i].tolist(), score=float(person_scores[i]))
                for i in range(len(person_boxes))],
        model_versions=dict(versions),
    )


_STEP = re.compile(r'model_name:\s*"(\w+)"\s*model_version:\s*(-?\d+)')


class PipelineClient:
    """Synchronous and callback-style calls of the ensemble; safe to share between camera threads."""

    def __init__(self, url: str, model_name: str = PIPELINE) -> None:
        self.url = url
        self.model_name = model_name
        self.client = InferenceServerClient(url)
        self._outputs = [InferRequestedOutput(t.name) for t in DECISION_OUTPUTS]
        self._versions: dict[str, str] = {}
        self._lock = threading.Lock()

    def refresh_versions(self) -> dict[str, str]:
        """The network versions the ensemble is pinned to (what produced the next decisions)."""
        try:
            config = self.client.get_model_config(self.model_name, as_json=True)["config"]
        except InferenceServerException as exc:
            raise InferenceError(f"cannot read {self.model_name} config: {exc.message()}") from exc
        steps = config.get("ensemble_scheduling", {}).get("step", [])
        versions = {s["model_name"]: str(s.get("model_version", "-1")) for s in steps
                    if s["model_name"] in NETWORKS}
        with self._lock:
            self._versions = versions
        return versions

    @property
    def versions(self) -> dict[str, str]:
        with self._lock:
            return dict(self._versions)

    def _inputs(self, frame: np.ndarray) -> list[InferInput]:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InferenceError(f"frame must be HxWx3 uint8, got {frame.dtype} {frame.shape}")
        tensor = InferInput("frame", list(frame.shape), "UINT8")
        tensor.set_data_from_numpy(np.ascontiguousarray(frame))
        return [tensor]

    def predict(self, frame: np.ndarray, timeout_s: float | None = 30.0) -> FramePrediction:
        start = time.perf_counter()
        try:
            result = self.client.infer(self.model_name, self._inputs(frame), outputs=self._outputs,
                                       client_timeout=timeout_s)
        except InferenceServerException as exc:
            raise InferenceError(f"pipeline inference failed: {exc.message()}") from exc
        prediction = prediction_from_outputs(result.as_numpy, self.versions)
        prediction.latency_ms = (time.perf_counter() - start) * 1000
        return prediction

    def predict_async(self, frame: np.ndarray,
                      done: Callable[[FramePrediction | None, InferenceError | None], None],
                      timeout_s: float | None = 30.0) -> None:
        """Send a frame; `done(prediction, error)` runs on a gRPC thread when the answer arrives."""
        versions = self.versions

        def callback(result: InferResult | None, error: InferenceServerException | None) -> None:
            if error is not None:
                done(None, InferenceError(f"pipeline inference failed: {error.message()}"))
                return
            try:
                done(prediction_from_outputs(result.as_numpy, versions), None)
            except Exception as exc:  # a malformed answer must reach the caller, not die on a gRPC thread
                done(None, InferenceError(f"malformed pipeline answer: {exc}"))

        self.client.async_infer(self.model_name, self._inputs(frame), callback, outputs=self._outputs,
                                client_timeout=timeout_s)

    def close(self) -> None:
        self.client.close()
