"""DemoSite.measure: warm-up requests first (untimed), then the held-out set through the site's pipeline; the
warm-up frame is decoded once per site, not on every measurement. Fakes stand in for the site's Triton and agent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contracts.predictions import DetectedLabel, FramePrediction
from edgecv.demo_fleet import WARM_UP_REQUESTS, DemoSite


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def refresh_versions(self) -> None:
        pass

    def predict(self, frame: np.ndarray) -> FramePrediction:
        self.calls.append(frame)
        label = DetectedLabel(bbox=[1, 1, 5, 5], score=0.9, pro="4827119301", dest="MEM", read_confidence=0.8,
                              raw_text="4827119301MEM", check_digit_ok=True)
        return FramePrediction(labels=[label])


class FakePipeline:
    def __init__(self) -> None:
        self.client = FakeClient()


class FakeAgent:
    def serving_versions(self) -> dict[str, int]:
        return {"ocr": 2}


@pytest.fixture
def held_out(tmp_path: Path) -> Path:
    (tmp_path / "frames").mkdir()
    frames = []
    for i in range(3):
        Image.new("RGB", (64, 48), (i * 40, 0, 0)).save(tmp_path / "frames" / f"{i}.png")
        frames.append({"image": f"frames/{i}.png", "width": 64, "height": 48, "pallets": []})
    (tmp_path / "annotations.json").write_text(json.dumps({"format": "edgecv-annotations/1", "frames": frames}))
    return tmp_path


def test_measure_warms_up_then_scores_every_held_out_frame(held_out: Path) -> None:
    site = DemoSite("site-1", "canary", FakePipeline(), held_out, FakeAgent())  # type: ignore[arg-type]
    health = site.measure()
    calls = site.pipeline.client.calls
    assert len(calls) == WARM_UP_REQUESTS + 3
    assert all(np.array_equal(c, calls[WARM_UP_REQUESTS]) for c in calls[:WARM_UP_REQUESTS])  # the first frame
    assert health.mean_read_confidence == pytest.approx(0.8)
    assert health.versions == {"ocr": 2} and health.frames_per_second > 0


def test_the_warm_up_frame_is_decoded_once_per_site(held_out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = DemoSite("site-1", "canary", FakePipeline(), held_out, FakeAgent())  # type: ignore[arg-type]
    site.measure()
    decoded = []
    import training.evaluation as evaluation

    original = evaluation.load_frame
    monkeypatch.setattr(evaluation, "load_frame", lambda *a: decoded.append(a[1]) or original(*a))
    site.measure()
    assert decoded == ["frames/0.png", "frames/1.png", "frames/2.png"]  # the evaluation's own reads only
