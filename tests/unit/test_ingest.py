"""The per-camera ingest with a fake Triton client: order, overload policy, faults counted and survived."""

import random
import threading
import time

import numpy as np
import pytest

from contracts.predictions import DetectedPallet, FramePrediction
from edge_appliance.ingest import (
    CameraConfig,
    CameraPipeline,
    CameraState,
    FrameQueue,
    LatencyWindow,
    OverloadPolicy,
)
from edge_appliance.pipeline_client import InferenceError
from edge_appliance.sources import CorruptFrame, Pacer, SourceError, SourceFrame, SyntheticCamera


def frame(i: int) -> SourceFrame:
    return SourceFrame(i, time.perf_counter(), time.time(), np.full((32, 32, 3), i % 255, np.uint8))


class ListSource:
    def __init__(self, items, delay=0.0):
        self.items, self.delay = items, delay

    def frames(self):
        for item in self.items:
            if self.delay:
                time.sleep(self.delay)
            yield item


class FakeClient:
    """Answers out of order on other threads; fails the frames it is told to."""

    def __init__(self, fail_ids=(), jitter=0.01, raise_on_send=()):
        self.fail_ids, self.jitter, self.raise_on_send = set(fail_ids), jitter, set(raise_on_send)
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def predict_async(self, image, done, timeout_s=None):
        frame_id = int(image[0, 0, 0])
        if frame_id in self.raise_on_send:
            raise ConnectionError("socket closed")
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

        def answer():
            time.sleep(random.random() * self.jitter)
            with self.lock:
                self.in_flight -= 1
            if frame_id in self.fail_ids:
                done(None, InferenceError("server unavailable"))
            else:
                pallet = DetectedPallet(bbox=[0, 0, 10, 10], score=0.9, damaged=False, damage_score=0.0)
                done(FramePrediction(pallets=[pallet] * (frame_id % 3)), None)

        threading.Thread(target=answer, daemon=True).start()


class RecordingSink:
    def __init__(self, fail_on=()):
        self.frames, self.ended, self.fail_on = [], [], set(fail_on)

    def on_frame(self, decided):
        if decided.frame.frame_id in self.fail_on:
            raise RuntimeError("sink bug")
        self.frames.append(decided.frame.frame_id)

    def on_end(self, camera_id):
        self.ended.append(camera_id)


def run(items, client, config=None, sink=None):
    sink = sink or RecordingSink()
    camera = CameraPipeline(config or CameraConfig(camera_id="cam1", overload=OverloadPolicy.BLOCK,
                                                   max_in_flight=3), ListSource(items), client, sink).start()
    assert camera.join(timeout=30)
    return camera, sink


def test_decisions_come_back_in_frame_order_with_bounded_in_flight():
    client = FakeClient(jitter=0.02)
    camera, sink = run([frame(i) for i in range(1, 60)], client)
    assert sink.frames == list(range(1, 60))
    assert client.max_in_flight <= 3
    assert camera.counters.frames_decided == 59 and camera.state is CameraState.ENDED and sink.ended == ["cam1"]
    assert len(camera.latency.values()) == 59


def test_failed_inferences_and_corrupt_frames_are_counted_and_skipped():
    items = [frame(1), CorruptFrame(2, "truncated"), frame(3), frame(4), frame(5), frame(6)]
    camera, sink = run(items, FakeClient(fail_ids={4}, raise_on_send={5}))
    assert sink.frames == [1, 3, 6]
    c = camera.counters
    assert (c.corrupt_frames, c.inference_errors, c.frames_in, c.frames_decided) == (1, 2, 5, 3)


def test_a_sink_failure_does_not_stop_the_stream():
    camera, sink = run([frame(i) for i in range(1, 6)], FakeClient(), sink=RecordingSink(fail_on={2}))
    assert sink.frames == [1, 3, 4, 5] and camera.counters.frames_decided == 5


def test_a_source_that_cannot_open_marks_the_camera_failed():
    class Broken:
        def frames(self):
            raise SourceError("cannot open rtsp://10.0.0.9/cam: timeout")
            yield  # pragma: no cover

    camera = CameraPipeline(CameraConfig(camera_id="cam9"), Broken(), FakeClient(), RecordingSink()).start()
    assert camera.join(timeout=10)
    assert camera.state is CameraState.FAILED and "timeout" in camera.last_error


def test_a_silent_camera_is_marked_stalled_then_recovers():
    items = [frame(1), frame(2)]

    class Slow:
        def frames(self):
            yield items[0]
            time.sleep(0.8)
            yield items[1]

    config = CameraConfig(camera_id="cam1", stall_seconds=0.3)
    camera = CameraPipeline(config, Slow(), FakeClient(), RecordingSink()).start()
    assert camera.join(timeout=10)
    assert camera.counters.stalls == 1 and camera.counters.frames_decided == 2


def test_drop_oldest_keeps_the_newest_frames_and_counts_drops():
    q = FrameQueue(2, OverloadPolicy.DROP_OLDEST)
    stop = threading.Event()
    dropped = sum(q.put(frame(i), stop) for i in range(1, 6))
    assert dropped == 3
    assert [q.get(0.01).frame_id, q.get(0.01).frame_id] == [4, 5]
    assert q.get(0.01) is None


def test_block_policy_waits_for_room_instead_of_dropping():
    q = FrameQueue(1, OverloadPolicy.BLOCK)
    stop = threading.Event()
    q.put(frame(1), stop)
    threading.Timer(0.2, lambda: q.get(0.01)).start()
    started = time.monotonic()
    assert q.put(frame(2), stop) == 0
    assert time.monotonic() - started >= 0.15
    assert q.get(0.01).frame_id == 2


def test_pacer_never_bursts_after_a_late_consumer():
    now = [0.0]
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        now[0] += s

    pacer = Pacer(10.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait()
    now[0] += 1.0  # the consumer was late by ten periods
    for _ in range(3):
        pacer.wait()
    assert all(s <= 0.1 + 1e-9 for s in sleeps)
    assert sum(1 for s in sleeps if s > 0) >= 2  # back to pacing, not three frames at once


def test_latency_window_percentiles():
    window = LatencyWindow(size=100)
    for v in range(1, 201):
        window.add(float(v))
    assert window.percentiles()["p50"] == pytest.approx(150.5)


def test_synthetic_camera_refuses_a_folder_without_frames(tmp_path):
    with pytest.raises(SourceError, match="no frames"):
        SyntheticCamera(tmp_path)


def test_synthetic_camera_reports_a_corrupt_jpeg(tmp_path):
    (tmp_path / "frames").mkdir()
    from PIL import Image

    Image.new("RGB", (40, 30), (10, 20, 30)).save(tmp_path / "frames" / "000001.jpg")
    (tmp_path / "frames" / "000002.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    items = list(SyntheticCamera(tmp_path, fps=None).frames())
    assert isinstance(items[0], SourceFrame) and items[0].image.shape == (30, 40, 3)
    assert isinstance(items[1], CorruptFrame) and items[1].frame_id == 2
