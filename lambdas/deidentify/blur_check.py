"""Is every person in the frame blurred? A check over the person boxes the device reported.

The device blurs each person box before it writes the frame. Here each of those boxes must show almost
no fine detail (variance of the Laplacian of the grey image, the usual sharpness measure) or the
frame counts as not de-identified. People the device did not detect are out of reach of this check;
a cloud-side person detector can be chained in through the same `PersonCheck` seam.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from contracts.samples import HardNegativeSample
from lambdas.common.errors import NotDeidentifiedError

DEFAULT_MAX_SHARPNESS = 100.0  # Laplacian variance (grey 0..255) inside the box: blurred ~40 after JPEG, sharp 1e3+
INSET = 0.15  # ignore the box's border: the seam between blurred and sharp pixels is sharp by nature


def laplacian_variance(grey: np.ndarray) -> float:
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    g = grey.astype(np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def decode_grey(image: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(image)) as img:
            return np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise NotDeidentifiedError(f"the frame is not a readable image: {exc}") from exc


class BlurCheck:
    def __init__(self, max_sharpness: float = DEFAULT_MAX_SHARPNESS) -> None:
        self.max_sharpness = max_sharpness

    def unblurred_people(self, image: bytes, sample: HardNegativeSample) -> int:
        grey = decode_grey(image)
        h, w = grey.shape
        count = 0
        for person in sample.prediction.people:
            x1, y1, x2, y2 = (round(v) for v in person.bbox)
            dx, dy = round((x2 - x1) * INSET), round((y2 - y1) * INSET)
            x1, y1, x2, y2 = max(0, x1 + dx), max(0, y1 + dy), min(w, x2 - dx), min(h, y2 - dy)
            if x2 - x1 < 3 or y2 - y1 < 3:
                continue
            if laplacian_variance(grey[y1:y2, x1:x2]) > self.max_sharpness:
                count += 1
        return count
