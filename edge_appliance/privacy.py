"""People blurring: every person box of a frame is made unrecognisable before the frame is ever written to disk.

Each box is grown by a margin (a detector box can clip a head or an elbow), averaged into a few coarse cells
(a face inside a person box covers at most one or two cells), blurred across cells and scaled back up smoothly,
so that neither the face nor a cell edge survives. A box that cannot be trusted (not finite) fails closed:
the whole frame is blurred. numpy + Pillow only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field

from contracts.predictions import FramePrediction

Frame = np.ndarray | Image.Image


class BlurConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    margin: float = Field(default=0.2, ge=0.0, le=1.0, title="Margin added on every side, as a share of the box size")
    min_margin_px: int = Field(default=8, ge=0, le=256, title="Smallest margin in pixels")
    cells: int = Field(default=6, ge=1, le=32, title="Pixelation cells along the longer side of a box")
    blur_radius_per_cell: float = Field(default=0.5, ge=0.0, le=4.0, title="Gaussian radius, as a share of a cell")


DEFAULT_BLUR = BlurConfig()


def _region(box: Sequence[float], width: int, height: int, config: BlurConfig) -> tuple[int, int, int, int] | None:
    """The grown, clipped integer region of a box; None when nothing of it lies in the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    mx = max(config.min_margin_px, (x2 - x1) * config.margin)
    my = max(config.min_margin_px, (y2 - y1) * config.margin)
    left, top = max(0, math.floor(x1 - mx)), max(0, math.floor(y1 - my))
    right, bottom = min(width, math.ceil(x2 + mx)), min(height, math.ceil(y2 + my))
    if right - left < 1 or bottom - top < 1:
        return None
    return left, top, right, bottom


def _obscure(region: Image.Image, config: BlurConfig) -> Image.Image:
    """Average into a few cells, blur across the cells, scale back up smoothly.

    Blurring at cell resolution is the same as a Gaussian of `blur_radius_per_cell` cells at full resolution
    and costs next to nothing; whatever detail was finer than a cell is gone before the upscale.
    """
    w, h = region.size
    cell = max(1.0, max(w, h) / config.cells)
    small = region.resize((max(1, round(w / cell)), max(1, round(h / cell))), Image.BOX)
    if config.blur_radius_per_cell > 0:
        small = small.filter(ImageFilter.GaussianBlur(config.blur_radius_per_cell))
    return small.resize((w, h), Image.BILINEAR)


def blur_boxes(frame: Frame, boxes: Iterable[Sequence[float]], config: BlurConfig = DEFAULT_BLUR) -> int:
    """Blur every box in place (numpy HxWx3 uint8 array or PIL image); return how many boxes were blurred.

    A box lying wholly outside the frame is not counted (there is nothing of it to blur). A box with a
    non-finite coordinate blurs the whole frame and counts as one.
    """
    is_array = isinstance(frame, np.ndarray)
    if is_array:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 frame, got shape {frame.shape} dtype {frame.dtype}")
        height, width = frame.shape[:2]
    else:
        width, height = frame.size
    count = 0
    for box in boxes:
        coords = [float(v) for v in box]
        if len(coords) != 4:
            raise ValueError(f"a box has 4 coordinates, got {len(coords)}")
        region = (0, 0, width, height) if not all(math.isfinite(v) for v in coords) else _region(
            coords, width, height, config)
        if region is None:
            continue
        left, top, right, bottom = region
        if is_array:
            crop = Image.fromarray(frame[top:bottom, left:right])
            frame[top:bottom, left:right] = np.asarray(_obscure(crop, config))
        else:
            frame.paste(_obscure(frame.crop(region), config), (left, top))
        count += 1
    return count


def blur_people(frame: Frame, prediction: FramePrediction, config: BlurConfig = DEFAULT_BLUR) -> int:
    """Blur every person the pipeline found in this frame (whatever its score); return how many were blurred."""
    return blur_boxes(frame, (person.bbox for person in prediction.people), config)
