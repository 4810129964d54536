"""Export trained checkpoints to ONNX (opset 17), check ORT against torch, and quantize to INT8."""

from __future__ import annotations

import hashlib
import json
import os
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
    """Static QDQ INT8 of the convolutions (per channel), calibrated on real inputs.

    Weights use 7 bits (`reduce_range`): on x86 CPUs without VNNI (AVX2 only, like this project's machines) ONNX
    Runtime's u8 x s8 kernels add products pairwise in 16 bits (VPMADDUBSW), which saturates with full-range weights.
    With 8-bit weights the reader read 0.49 of golden's labels exactly on such a CPU against 0.78 in FP32, and the
    figure depended on the CPU the report was made on; with 7 bits it reads 0.78 (docs/models.md)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(fp32), str(out), _Calibration(SPECS[name][1], calibration), quant_format=QuantFormat.QDQ,
        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"],
    )


INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")  # x86 VNNI / AMX, Arm dot product


def machine_facts() -> dict:
    """The CPU the latencies and INT8 figures of a report were measured on. Both depend on it: without an int8
    dot-product instruction INT8 is no faster than FP32, and 8-bit weights saturate (see `quantize_int8`)."""
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    flags = set(info.get("flags", []))
    return {"cpu": info.get("brand_raw", "unknown"), "arch": info.get("arch", "unknown"),
            "logical_cpus": os.cpu_count(), "int8_dot_product": sorted(flags & set(INT8_DOT_PRODUCT_FLAGS)),
            "onnxruntime": ort.__version__}


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


# ------------------------------------------------------------------------------------- training-job output
SERVING_MODEL = "model.onnx"
LINEAGE = "lineage.json"
PARITY_TOLERANCE = 1e-3  # max |torch - ONNX Runtime| a training job accepts before it fails


class ParityError(RuntimeError):
    """The exported ONNX model does not compute what the trained torch model computes."""


def channel_sha256(directory: Path) -> str:
    """Content hash of a training channel as delivered: every file's relative path and bytes, in path order."""
    h = hashlib.sha256()
    root = Path(directory)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def parity_samples(name: str, n: int = 4, seed: int = 0) -> np.ndarray:
    """Inputs in the network's range ([0, 1] floats) for the parity check when no real ones are at hand."""
    shape = SPECS[name][2]
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def write_serving_model(name: str, model: torch.nn.Module, model_dir: Path, lineage: dict,
                        samples: np.ndarray | None = None, tolerance: float = PARITY_TOLERANCE) -> dict:
    """Export `model` as `model_dir/model.onnx` (the export `make train` uses) and write `lineage.json`.

    The lineage gets the ONNX facts (opset, sha256, max |torch - ORT| on `samples`). Raises ParityError when
    that difference exceeds `tolerance`: a training job must not hand on a model the edge would compute
    differently. Returns the lineage written.
    """
    model = model.eval()
    model_dir = Path(model_dir)
    onnx_path = model_dir / SERVING_MODEL
    export_onnx(name, model, onnx_path)
    use = samples if samples is not None and len(samples) else parity_samples(name)
    batch = np.ascontiguousarray(use[:8], dtype=np.float32)
    diff = parity(name, model, onnx_path, batch)
    if not diff <= tolerance:
        raise ParityError(f"{name}: ONNX Runtime differs from torch by {diff:.3g} (tolerance {tolerance:g})")
    out = {**lineage, "model": name,
           "onnx": {"opset": OPSET, "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
                    "max_abs_diff_vs_torch": diff, "parity_samples": len(batch)}}
    (model_dir / LINEAGE).write_text(json.dumps(out, indent=2))
    return out


def training_lineage(env_hyperparameters: dict[str, str], train_dir: Path | None, metrics: dict) -> dict:
    """What a training job records about itself: hyperparameters as given, its train channel's hash, results."""
    return {
        "role": "edge",
        "training_job": os.environ.get("SM_TRAINING_JOB_NAME"),
        "hyperparameters": dict(env_hyperparameters),
        "dataset": {"channel": "train", "sha256": channel_sha256(train_dir) if train_dir is not None else None},
        "training": {k: v for k, v in metrics.items() if k != "loss_history"},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
