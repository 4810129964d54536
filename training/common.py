"""Shared plumbing for the trainers: seeding, progress, checkpoints, dataset loading."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from contracts.annotations import AnnotationSet, load_annotation_set

CHECKPOINT = "model.pt"


def seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("EDGECV_TORCH_THREADS", os.cpu_count() or 2)))
    return np.random.default_rng(seed)


PRECISIONS = ("fp32", "bf16", "auto")


def native_bf16() -> bool:
    """Whether the CPU computes bfloat16 in hardware (x86 AVX512-BF16 or AMX). oneDNN also runs bf16 on plain
    AVX-512 (`torch.ops.mkldnn._is_mkldnn_bf16_supported()` says yes there), emulated and slower than fp32."""
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check() for check in checks if check is not None)


def training_precision(requested: str) -> str:
    """The arithmetic a trainer's forward pass runs in: `fp32`, or `bf16` autocast (weights, optimiser and losses stay
    fp32). `auto` picks bf16 where the CPU has native bfloat16 (`native_bf16`), fp32 elsewhere: emulated bf16 is
    slower than fp32. The precision used is recorded in the model's metrics (docs/models.md, "Training")."""
    if requested not in PRECISIONS:
        raise SystemExit(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "auto":
        return "bf16" if native_bf16() else "fp32"
    return requested


def forward_precision(precision: str) -> torch.autocast:
    """The context a training forward pass runs in (a no-op for fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


class PlainProgress:
    """Progress for logs (no terminal): a line every 10% or 30 s, with the latest status."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.tasks: dict[int, dict] = {}
        self.console = None

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.tasks.values():
            self._print(task)

    def add_task(self, name: str, total: int, status: str = "") -> int:
        now = time.perf_counter()
        self.tasks[len(self.tasks)] = {"name": name, "total": total, "done": 0, "status": status,
                                       "last": now, "next": max(1, total // 10), "start": now}
        return len(self.tasks) - 1

    def update(self, task_id: int, status: str = "", **_: object) -> None:
        self.tasks[task_id]["status"] = status

    def advance(self, task_id: int, n: int = 1) -> None:
        task = self.tasks[task_id]
        task["done"] += n
        now = time.perf_counter()
        if task["done"] >= task["next"] or now - task["last"] > 30:
            task["next"] = task["done"] + max(1, task["total"] // 10)
            task["last"] = now
            self._print(task)

    def _print(self, task: dict) -> None:
        elapsed = time.perf_counter() - task["start"]
        print(f"{self.description}: {task['done']}/{task['total']} {task['status']} ({elapsed:.0f}s)",
              file=sys.stderr, flush=True)


def progress(description: str) -> Progress | PlainProgress:
    """Progress on stderr: a live bar in a terminal, plain lines in a log."""
    if not sys.stderr.isatty():
        return PlainProgress(description)
    return Progress(
        TextColumn(f"[bold]{description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )


def save_checkpoint(model_dir: Path, model: torch.nn.Module, config: dict, metrics: dict) -> None:
    torch.save({"state_dict": model.state_dict(), "config": config}, model_dir / CHECKPOINT)
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))


def model_width(hyperparameters: dict[str, str], init_dir: Path | None) -> float:
    """The network width: the `width` hyperparameter when given, else the width of the checkpoint being
    fine-tuned (so a fine-tune of a wider version need not repeat it), else 1.0 (the edge student)."""
    if "width" in hyperparameters:
        return float(hyperparameters["width"])
    return float(checkpoint_config(init_dir).get("width", 1.0))


def checkpoint_config(init_dir: Path | None) -> dict:
    """The `config` a checkpoint was saved with ({} without one)."""
    if init_dir is None:
        return {}
    path = init_dir / CHECKPOINT if init_dir.is_dir() else init_dir
    if not path.is_file():
        return {}
    return dict(torch.load(path, map_location="cpu", weights_only=True)["config"])


def load_init(model: torch.nn.Module, init_dir: Path | None, grown: str | None = None) -> str | None:
    """Fine-tune from a previous version's checkpoint (the `init` channel), if given.

    `grown`: the prefix of modules the model has and the checkpoint may lack (blocks added to a trained network,
    which start as identities); any other difference between the two is an error."""
    if init_dir is None:
        return None
    path = init_dir / CHECKPOINT if init_dir.is_dir() else init_dir
    state = torch.load(path, map_location="cpu", weights_only=True)
    if grown is None:
        model.load_state_dict(state["state_dict"])
        return str(path)
    missing, unexpected = model.load_state_dict(state["state_dict"], strict=False)
    foreign = [k for k in missing if not k.startswith(grown)] + list(unexpected)
    if foreign:
        raise ValueError(f"the init checkpoint {path} is not this network: {', '.join(foreign[:5])}")
    return str(path)


def keep_share_of_fine_tune(model: torch.nn.Module, init_state: dict[str, torch.Tensor], share: float) -> None:
    """Weight-space ensembling (WiSE-FT, Wortsman et al. 2022): move `model`'s floating-point weights back to
    `init + share * (fine-tuned - init)`. A short fine-tune on a new look then keeps most of its gain there while
    the previous version's looks lose less; share 1 keeps the fine-tune as it is."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"the kept share of a fine-tune must be in (0, 1], got {share}")
    state = model.state_dict()
    if state.keys() != init_state.keys():
        raise ValueError("the init checkpoint is not this network: its weights cannot be interpolated")
    with torch.no_grad():
        for name, tuned in state.items():
            if tuned.is_floating_point():
                tuned.copy_(init_state[name] + share * (tuned - init_state[name]))


def _load_rgb(path: str) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def iter_frames(dataset_dir: Path, workers: int = 2) -> Iterator[tuple[int, np.ndarray, AnnotationSet]]:
    """Yield (index, RGB frame, set) for every frame of an annotation set, decoding in parallel."""
    dataset = load_annotation_set(dataset_dir)
    paths = [str(Path(dataset_dir) / f.image) for f in dataset.frames]
    with ProcessPoolExecutor(workers) as pool:
        for i, frame in enumerate(pool.map(_load_rgb, paths, chunksize=8)):
            yield i, frame, dataset


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
