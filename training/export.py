"""Export trained checkpoints to ONNX (opset 17), check ORT against torch, and quantize to INT8."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from model_repository.processing import DAMAGE_SIZE, DETECTOR_H, DETECTOR_W, OCR_H, OCR_W
from training.common import CHECKPOINT
from training.models import DamageClassifier, LabelReader, PalletDetector

OPSET = 17
SPECS = {
    # name: (class, input name, input shape without batch, output names)
    "detector": (PalletDetector, "image", (3, DETECTOR_H, DETECTOR_W), ["heatmap", "size", "offset"]),
    "ocr": (LabelReader, "label", (1, OCR_H, OCR_W), ["pro_log_probs", "dest_log_probs"]),
    "damage_classifier": (DamageClassifier, "crop", (3, DAMAGE_SIZE, DAMAGE_SIZE), ["logit"]),
}


def load_model(name: str, checkpoint_dir: Path) -> torch.nn.Module:
    cls = SPECS[name][0]
    state = torch.load(Path(checkpoint_dir) / CHECKPOINT, map_location="cpu", weights_only=True)
    model = cls(**state["config"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


def export_onnx(name: str, model: torch.nn.Module, out: Path) -> None:
    _, input_name, shape, outputs = SPECS[name]
    dummy = torch.zeros(2, *shape)
    axes = {input_name: {0: "batch"}, **{o: {0: "batch"} for o in outputs}}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (dummy,), str(out), input_names=[input_name], output_names=outputs,
                      dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def parity(name: str, model: torch.nn.Module, onnx_path: Path, samples: np.ndarray) -> float:
    """Max absolute difference between torch and ONNX Runtime outputs on `samples`."""
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(torch.from_numpy(samples))
    ref = ref if isinstance(ref, tuple) else (ref,)
    got = sess.run(None, {SPECS[name][1]: samples})
    return float(max(np.abs(r.numpy() - g).max() for r, g in zip(ref, got, strict=True)))


class _Calibration(CalibrationDataReader):
    def __init__(self, input_name: str, samples: np.ndarray) -> None:
        self.items = iter([{input_name: samples[i:i + 1]} for i in range(len(samples))])

    def get_next(self):
        return next(self.items, None)


def quantize_int8(name: str, fp32: Path, out: Path, calibration: np.ndarray) -> None:
    """Static QDQ INT8 of the convolutions (per channel), calibrated on real inputs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(fp32), str(out), _Calibration(SPECS[name][1], calibration), quant_format=QuantFormat.QDQ,
        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"],
    )


def latency_ms(onnx_path: Path, input_name: str, sample: np.ndarray, runs: int = 50, threads: int = 2) -> dict:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    for _ in range(5):
        sess.run(None, {input_name: sample})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {input_name: sample})
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50": round(times[len(times) // 2], 3), "p95": round(times[int(len(times) * 0.95) - 1], 3)}
