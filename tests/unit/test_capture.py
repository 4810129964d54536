from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from contracts.predictions import DetectedPerson, FramePrediction
from contracts.samples import HardNegativeSample, SampleReason
from edge_appliance.capture import CaptureConfig, Handover, SampleCapture
from edge_appliance.sample_buffer import DiskSampleStore, MemorySampleStore, PutOutcome
from tests.sample_factory import frame


def _ids() -> object:
    counter = iter(range(10**6))
    return lambda: f"id-{next(counter):08d}"


def _scene() -> np.ndarray:
    """A smooth gradient with a sharp checkerboard where the person stands."""
    y, x = np.mgrid[0:96, 0:128]
    img = np.stack([x * 2, y * 2, (x + y)], axis=2).astype(np.uint8)
    img[10:80, 10:50] = np.where(((y[10:80, 10:50] // 6 + x[10:80, 10:50] // 6) % 2)[..., None] == 0, 0, 255)
    return img


def test_capture_blurs_people_before_the_frame_reaches_disk(tmp_path: Path) -> None:
    store = DiskSampleStore(tmp_path, 1 << 20)
    store.open()
    cap = SampleCapture(store, CaptureConfig(site_id="site1"), clock=lambda: 1234.5, new_id=_ids())
    cap.start()
    img = _scene()
    pred = FramePrediction(people=[DetectedPerson(bbox=[10, 10, 50, 80], score=0.9)], model_versions={"ocr": "2"})
    assert cap.put_nowait(img, pred, camera_id="cam7", frame_id=42, reasons=[SampleReason.LOW_CONFIDENCE_READ],
                          priority=3.0, pass_id="cam7-1-40") is Handover.QUEUED
    img[:] = 0  # the ingest reuses its buffer at once: the capture holds its own copy
    cap.stop()
    (entry,) = store.pending()
    stored = store.load(entry.sample_id)
    assert stored is not None
    s = stored.sample
    assert (s.site_id, s.camera_id, s.frame_id, s.captured_at, s.pass_id) == ("site1", "cam7", 42, 1234.5,
                                                                                "cam7-1-40")
    assert (s.width, s.height, s.people_blurred, s.priority) == (128, 96, 1, 3.0)
    assert s.model_versions == {"ocr": "2"} and s.reasons == [SampleReason.LOW_CONFIDENCE_READ]
    on_disk = np.asarray(Image.open(io.BytesIO((tmp_path / "samples" / f"{s.sample_id}.jpg").read_bytes())))
    original = _scene().astype(int)
    person = on_disk[10:80, 10:50].astype(int)
    # the person's checkerboard is gone, the rest of the frame is as it was (JPEG error aside)
    assert np.abs(np.diff(person, axis=1)).mean() < 0.1 * np.abs(np.diff(original[10:80, 10:50], axis=1)).mean()
    assert np.abs(on_disk[:, 70:].astype(int) - original[:, 70:]).mean() < 5
    assert cap.counters().outcomes == {PutOutcome.STORED.value: 1}
    assert cap.counters().people_blurred == 1
    assert HardNegativeSample.model_validate_json(
        (tmp_path / "samples" / f"{s.sample_id}.json").read_bytes()) == s


def test_full_queue_drops_and_counts_without_blocking() -> None:
    store = MemorySampleStore()
    store.open()
    cap = SampleCapture(store, CaptureConfig(site_id="site1", queue_size=2), new_id=_ids())
    # worker not started: the queue fills up and further hand-overs return at once
    got = [cap.put_nowait(frame(n), FramePrediction(), camera_id="c", frame_id=n,
                          reasons=[SampleReason.RANDOM_BASELINE], priority=1.0) for n in range(5)]
    assert got == [Handover.QUEUED] * 2 + [Handover.QUEUE_FULL] * 3
    assert cap.counters().queue_full == 3
    cap.start()
    cap.stop()
    assert len(store) == 2
    assert cap.put_nowait(frame(9), FramePrediction(), camera_id="c", frame_id=9,
                          reasons=[SampleReason.RANDOM_BASELINE], priority=1.0) is Handover.CLOSED


def test_a_bad_frame_is_counted_and_the_worker_goes_on() -> None:
    store = MemorySampleStore()
    store.open()
    cap = SampleCapture(store, CaptureConfig(site_id="site1"), new_id=_ids())
    cap.start()
    cap.put_nowait(np.zeros((4, 4), np.uint8), FramePrediction(), camera_id="c", frame_id=1,
                   reasons=[SampleReason.RANDOM_BASELINE], priority=1.0)
    cap.put_nowait(frame(2), FramePrediction(), camera_id="c", frame_id=2,
                   reasons=[SampleReason.RANDOM_BASELINE], priority=1.0)
    cap.flush()
    assert cap.counters().outcomes == {"failed": 1, PutOutcome.STORED.value: 1}
    assert len(store) == 1
    cap.stop()
    assert not [t for t in threading.enumerate() if t.name == "sample-capture"]
