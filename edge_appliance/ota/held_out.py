"""Held-out frames for the smoke test: an `edgecv-annotations/1` set kept on the device (never trained on)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from contracts.annotations import AnnotatedFrame, load_annotation_set
from contracts.errors import DatasetError


class HeldOutFrames:
    """Callable `n -> [(annotation, HxWx3 uint8 frame)]`, the first n frames of the set (decoded on demand)."""

    def __init__(self, dataset_dir: Path) -> None:
        self.dataset_dir = Path(dataset_dir)
        self.annotations = load_annotation_set(self.dataset_dir).frames

    def __call__(self, n: int) -> Sequence[tuple[AnnotatedFrame, np.ndarray]]:
        return [(frame, self._load(frame)) for frame in self.annotations[:n]]

    def _load(self, frame: AnnotatedFrame) -> np.ndarray:
        path = self.dataset_dir / frame.image
        try:
            with Image.open(path) as img:
                pixels = np.asarray(img.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(f"held-out frame unreadable: {path} ({exc.__class__.__name__})") from exc
        if pixels.shape[:2] != (frame.height, frame.width):
            raise DatasetError(f"held-out frame {path} is {pixels.shape[1]}x{pixels.shape[0]}, "
                               f"the annotations say {frame.width}x{frame.height}")
        return pixels


def no_held_out(n: int) -> Sequence[tuple[AnnotatedFrame, np.ndarray]]:
    """No held-out set configured: every smoke test fails with a clear reason rather than passing blind."""
    return []
