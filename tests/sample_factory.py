"""Small hard-negative samples for the edge buffer and uploader tests: tiny numpy frames, JPEG via Pillow."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from contracts.predictions import DetectedLabel, FramePrediction
from contracts.samples import HardNegativeSample, SampleReason


def frame(seed: int, h: int = 24, w: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def jpeg(seed: int, h: int = 24, w: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame(seed, h, w)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def sample(n: int, priority: float = 1.0, captured_at: float | None = None, camera_id: str = "cam1",
           site_id: str = "site1", h: int = 24, w: int = 32) -> HardNegativeSample:
    return HardNegativeSample(
        sample_id=f"sample-{n:08d}", site_id=site_id, camera_id=camera_id, frame_id=n,
        captured_at=float(n) if captured_at is None else captured_at, width=w, height=h, people_blurred=0,
        reasons=[SampleReason.LOW_CONFIDENCE_READ], priority=priority,
        prediction=FramePrediction(labels=[DetectedLabel(bbox=[1, 2, 10, 12], score=0.8, read_confidence=0.3,
                                                         raw_text="1234")]),
        model_versions={"ocr": "1"},
    )
