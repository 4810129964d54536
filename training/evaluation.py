"""Run a predictor over an annotation set and score it (`edgecv-eval/1`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from contracts.annotations import AnnotationSet, load_annotation_set
from contracts.errors import DatasetError
from contracts.evaluation import EvalAccumulator
from contracts.predictions import FramePrediction


class Predictor(Protocol):
    def predict(self, frame: np.ndarray) -> FramePrediction: ...


def load_frame(dataset_dir: Path, image: str, width: int, height: int) -> np.ndarray:
    path = Path(dataset_dir) / image
    try:
        with Image.open(path) as img:
            img.load()
            frame = np.asarray(img.convert("RGB"))
    except FileNotFoundError as exc:
        raise DatasetError(f"image missing: {path}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"image unreadable or corrupt: {path} ({exc.__class__.__name__})") from exc
    if frame.shape[:2] != (height, width):
        raise DatasetError(f"image {path} is {frame.shape[1]}x{frame.shape[0]}, annotations say {width}x{height}")
    return frame


def check_images_exist(dataset_dir: Path, dataset: AnnotationSet) -> None:
    for frame in dataset.frames:
        if not (Path(dataset_dir) / frame.image).is_file():
            raise DatasetError(f"image missing: {Path(dataset_dir) / frame.image}")


def evaluate(dataset_dir: Path, predictor: Predictor, on_frame: Callable[[], None] | None = None) -> dict:
    dataset = load_annotation_set(dataset_dir)
    check_images_exist(dataset_dir, dataset)
    acc = EvalAccumulator()
    for frame in dataset.frames:
        image = load_frame(dataset_dir, frame.image, frame.width, frame.height)
        acc.add(frame, predictor.predict(image))
        if on_frame:
            on_frame()
    return acc.report(str(dataset_dir))


def write_json_atomic(path: Path, data: dict) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
