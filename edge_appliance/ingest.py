"""Per-camera ingest: source -> bounded frame queue -> Triton (async, a few frames in flight) -> in-order decisions.

Threads per camera: a reader (pulls the source, applies the overload policy), a sender (keeps up to `max_in_flight`
frames at Triton so that pipeline stages overlap and several cameras share dynamic batches) and a decider (gets the
answers back in frame order and hands them to the sink: tracking, sampling, the decision log). Several cameras share
one `PipelineClient`, i.e. one Triton.

Faults are counted, logged once per episode and survived: corrupt frames are skipped, a camera that stops delivering
is marked stalled, a failed inference (e.g. Triton killed and being restarted) loses only that frame's answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from contracts.predictions import FramePrediction
from edge_appliance.pipeline_client import InferenceError, PipelineClient
from edge_appliance.sources import CorruptFrame, SourceError, SourceFrame

log = logging.getLogger(__name__)


class OverloadPolicy(StrEnum):
    DROP_OLDEST = "drop_oldest"  # a live camera: the newest frames matter, drops are counted
    BLOCK = "block"  # a file or an unpaced benchmark: the source waits for room


class CameraState(StrEnum):
    STARTING = "starting"
    STREAMING = "streaming"
    STALLED = "stalled"  # no frame from the source for `stall_seconds`
    ENDED = "ended"  # the source is exhausted (file end) and every frame is decided
    FAILED = "failed"  # the source could not be opened or broke for good


class CameraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    queue_size: int = Field(default=4, ge=1, le=256, title="frames waiting for Triton before the overload policy")
    overload: OverloadPolicy = OverloadPolicy.DROP_OLDEST
    max_in_flight: int = Field(default=2, ge=1, le=16, title="frames of this camera at Triton at once")
    stall_seconds: float = Field(default=5.0, gt=0, le=600, title="silence before the camera counts as stalled")
    inference_timeout_s: float = Field(default=10.0, gt=0, le=120)


class CameraCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frames_in: int = 0
    dropped_frames: int = 0
    corrupt_frames: int = 0
    inference_errors: int = 0
    frames_decided: int = 0
    stalls: int = 0


@dataclass(frozen=True)
class DecidedFrame:
    camera_id: str
    frame: SourceFrame
    prediction: FramePrediction
    latency_ms: float  # frame taken from its source -> decision available


class FrameSink(Protocol):
    def on_frame(self, decided: DecidedFrame) -> None: ...

    def on_end(self, camera_id: str) -> None: ...


class LatencyWindow:
    """The last `size` latencies (ms); thread-safe percentiles."""

    def __init__(self, size: int = 4096) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def values(self) -> list[float]:
        with self._lock:
            return list(self._values)

    def percentiles(self) -> dict[str, float]:
        values = self.values()
        if not values:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)}


class FrameQueue:
    """Bounded FIFO with an explicit overload policy."""

    def __init__(self, size: int, policy: OverloadPolicy) -> None:
        self.size, self.policy = size, policy
        self._items: deque[SourceFrame] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: SourceFrame, stop: threading.Event) -> int:
        """Enqueue; returns how many frames were dropped to make room."""
        with self._cond:
            dropped = 0
            if self.policy is OverloadPolicy.BLOCK:
                while len(self._items) >= self.size and not stop.is_set():
                    self._cond.wait(0.1)
            while len(self._items) >= self.size:
                self._items.popleft()
                dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float) -> SourceFrame | None:
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def clear(self) -> int:
        """Discard what is queued (at stop); returns how many frames were discarded."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return n

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def drained(self) -> bool:
        with self._cond:
            return self._closed and not self._items


class CameraPipeline:
    def __init__(self, config: CameraConfig, source, client: PipelineClient, sink: FrameSink | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.config = config
        self.source = source
        self.client = client
        self.sink = sink
        self.counters = CameraCounters()
        self.latency = LatencyWindow()
        self.state = CameraState.STARTING
        self.last_error: str | None = None
        self._clock = clock
        self._queue = FrameQueue(config.queue_size, config.overload)
        self._stop = threading.Event()
        self._in_flight = threading.Semaphore(config.max_in_flight)
        self._results: dict[int, tuple[SourceFrame, FramePrediction | None]] = {}
        self._results_cond = threading.Condition()
        self._sent = 0  # sequence numbers handed to Triton (frames dropped before sending never get one)
        self._sending_done = threading.Event()
        self._last_frame_at = clock()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._error_logged = False
        self.started_at: float | None = None
        self.ended_at: float | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> CameraPipeline:
        self.started_at = self._clock()
        for target, name in ((self._read, "reader"), (self._send, "sender"), (self._decide, "decider")):
            thread = threading.Thread(target=target, name=f"{self.config.camera_id}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop taking frames; frames already at Triton are still decided, queued ones are dropped (counted)."""
        self._stop.set()
        self._queue.close()
        self.join(timeout=15)
        discarded = self._queue.clear()
        if discarded:
            self._count("dropped_frames", discarded)

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.counters, name, getattr(self.counters, name) + n)

    # ------------------------------------------------------------------------------------------ reader
    def _read(self) -> None:
        watchdog = threading.Thread(target=self._watch_stall, name=f"{self.config.camera_id}-watchdog", daemon=True)
        watchdog.start()
        try:
            for item in self.source.frames():
                if self._stop.is_set():
                    break
                self._last_frame_at = self._clock()
                if self.state is CameraState.STALLED:
                    log.info("camera %s: frames flowing again", self.config.camera_id)
                self.state = CameraState.STREAMING
                if isinstance(item, CorruptFrame):
                    self._count("corrupt_frames")
                    log.warning("camera %s: corrupt frame %d skipped (%s)", self.config.camera_id, item.frame_id,
                                item.reason)
                    continue
                self._count("frames_in")
                dropped = self._queue.put(item, self._stop)
                if dropped:
                    self._count("dropped_frames", dropped)
        except SourceError as exc:
            self.state, self.last_error = CameraState.FAILED, str(exc)
            log.error("camera %s: %s", self.config.camera_id, exc)
        except Exception as exc:  # a source that breaks mid-stream ends this camera, never the site
            self.state, self.last_error = CameraState.FAILED, f"source broke: {exc}"
            log.error("camera %s: source broke: %s", self.config.camera_id, exc)
        finally:
            self._queue.close()

    def _watch_stall(self) -> None:
        while not self._stop.wait(min(1.0, self.config.stall_seconds / 4)):
            if self._queue.drained and self._sending_done.is_set():
                return
            silent = self._clock() - self._last_frame_at
            if silent >= self.config.stall_seconds and self.state is CameraState.STREAMING:
                self.state = CameraState.STALLED
                self._count("stalls")
                log.warning("camera %s: no frame for %.1f s (stalled)", self.config.camera_id, silent)

    # ------------------------------------------------------------------------------------------ sender
    def _send(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._queue.get(timeout=0.1)
                if frame is None:
                    if self._queue.drained:
                        return
                    continue
                while not self._in_flight.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                with self._results_cond:
                    seq = self._sent
                    self._sent += 1
                self._submit(seq, frame)
        finally:
            self._sending_done.set()
            with self._results_cond:
                self._results_cond.notify_all()

    def _submit(self, seq: int, frame: SourceFrame) -> None:
        def done(prediction: FramePrediction | None, error: InferenceError | None) -> None:
            self._in_flight.release()
            if error is not None:
                self._inference_failed(frame, error)
            with self._results_cond:
                self._results[seq] = (frame, prediction)
                self._results_cond.notify_all()

        try:
            self.client.predict_async(frame.image, done, timeout_s=self.config.inference_timeout_s)
        except Exception as exc:  # the channel itself failed (server gone): same as a failed answer
            done(None, InferenceError(f"cannot send frame: {exc}"))

    def _inference_failed(self, frame: SourceFrame, error: InferenceError) -> None:
        self._count("inference_errors")
        with self._lock:
            first = not self._error_logged
            self._error_logged = True
        if first:
            log.error("camera %s: frame %d not decided: %s (further failures counted, not logged)",
                      self.config.camera_id, frame.frame_id, error)

    # ------------------------------------------------------------------------------------------ decider
    def _decide(self) -> None:
        next_seq = 0
        while True:
            with self._results_cond:
                while next_seq not in self._results:
                    if self._sending_done.is_set() and next_seq >= self._sent:
                        self._finish()
                        return
                    self._results_cond.wait(0.1)
                frame, prediction = self._results.pop(next_seq)
            next_seq += 1
            if prediction is None:
                continue
            with self._lock:
                self._error_logged = False
            decided = DecidedFrame(self.config.camera_id, frame, prediction,
                                   (self._clock() - frame.taken_at) * 1000)
            if self.sink is not None:
                try:
                    self.sink.on_frame(decided)
                except Exception as exc:  # a sink bug must not stop inference; it is logged with the frame
                    log.exception("camera %s: decision sink failed on frame %d: %s", self.config.camera_id,
                                  frame.frame_id, exc)
            self.latency.add((self._clock() - frame.taken_at) * 1000)
            self._count("frames_decided")

    def _finish(self) -> None:
        self.ended_at = self._clock()
        if self.state is not CameraState.FAILED:
            self.state = CameraState.ENDED
        if self.sink is not None:
            try:
                self.sink.on_end(self.config.camera_id)
            except Exception as exc:
                log.exception("camera %s: decision sink failed at end of stream: %s", self.config.camera_id, exc)

    # ------------------------------------------------------------------------------------------ stats
    def fps(self) -> float:
        end = self.ended_at or self._clock()
        if self.started_at is None or end <= self.started_at:
            return 0.0
        return self.counters.frames_decided / (end - self.started_at)
