"""Sample capture: the ingest's only entry into the buffer, a non-blocking `put_nowait`.

The ingest hands over a frame it decided to keep (see `edge_appliance.sampler`); a worker thread blurs every
person box, encodes the JPEG, builds the `HardNegativeSample` record and stores it. The frame is copied at
hand-over, so the ingest may reuse its buffer at once; a full hand-over queue drops the sample and counts it
rather than ever making inference wait on the disk.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from contracts.predictions import FramePrediction
from contracts.samples import HardNegativeSample, SampleReason
from edge_appliance.privacy import DEFAULT_BLUR, BlurConfig, blur_people
from edge_appliance.sample_buffer import PutOutcome, SampleStore

log = logging.getLogger(__name__)


class CaptureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    site_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", title="Site id written into every sample")
    queue_size: int = Field(default=16, ge=1, le=1024, title="Frames waiting for the writer before drops")
    jpeg_quality: int = Field(default=90, ge=50, le=100, title="JPEG quality of stored frames")
    blur: BlurConfig = Field(default=DEFAULT_BLUR, title="How person boxes are blurred")


class Handover(StrEnum):
    QUEUED = "queued"
    QUEUE_FULL = "queue_full"  # dropped and counted: the writer is behind (slow or failing disk)
    CLOSED = "closed"  # the capture was stopped


class CaptureCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queued: int = 0
    queue_full: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)  # PutOutcome -> count, plus "failed"
    people_blurred: int = 0


@dataclass(frozen=True)
class CaptureRequest:
    frame: np.ndarray  # HxWx3 uint8 RGB, a private copy
    prediction: FramePrediction
    camera_id: str
    frame_id: int
    reasons: tuple[SampleReason, ...]
    priority: float
    captured_at: float
    pass_id: str | None = None


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def new_sample_id() -> str:
    return uuid.uuid4().hex


class SampleCapture:
    """Blur -> encode -> record -> buffer, on a worker thread of its own."""

    def __init__(self, store: SampleStore, config: CaptureConfig, *, clock: Callable[[], float] = time.time,
                 new_id: Callable[[], str] = new_sample_id) -> None:
        self.store = store
        self.config = config
        self._clock = clock
        self._new_id = new_id
        self._queue: queue.Queue[CaptureRequest | None] = queue.Queue(maxsize=config.queue_size)
        self._lock = threading.Lock()
        self._counters = CaptureCounters()
        self._thread: threading.Thread | None = None
        self._closed = False

    def counters(self) -> CaptureCounters:
        with self._lock:
            return self._counters.model_copy(deep=True)

    def put_nowait(self, frame: np.ndarray, prediction: FramePrediction, *, camera_id: str, frame_id: int,
                   reasons: Sequence[SampleReason], priority: float, pass_id: str | None = None,
                   captured_at: float | None = None) -> Handover:
        """Hand a frame over for storage; returns at once whatever the disk is doing."""
        if self._closed:
            return Handover.CLOSED
        request = CaptureRequest(
            frame=np.array(frame, dtype=np.uint8, copy=True), prediction=prediction, camera_id=camera_id,
            frame_id=frame_id, reasons=tuple(reasons), priority=priority, pass_id=pass_id,
            captured_at=self._clock() if captured_at is None else captured_at)
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            with self._lock:
                self._counters.queue_full += 1
            return Handover.QUEUE_FULL
        with self._lock:
            self._counters.queued += 1
        return Handover.QUEUED

    def store_now(self, request: CaptureRequest) -> PutOutcome:
        """Blur, encode and store one request on the calling thread (what the worker does)."""
        frame = request.frame
        blurred = blur_people(frame, request.prediction, self.config.blur)
        h, w = frame.shape[:2]
        sample = HardNegativeSample(
            sample_id=self._new_id(), site_id=self.config.site_id, camera_id=request.camera_id,
            frame_id=request.frame_id, captured_at=request.captured_at, width=w, height=h,
            people_blurred=blurred, reasons=list(dict.fromkeys(request.reasons)), priority=request.priority,
            prediction=request.prediction, model_versions=dict(request.prediction.model_versions),
            pass_id=request.pass_id)
        outcome = self.store.put(sample, encode_jpeg(frame, self.config.jpeg_quality))
        with self._lock:
            self._counters.people_blurred += blurred
            self._counters.outcomes[outcome.value] = self._counters.outcomes.get(outcome.value, 0) + 1
        return outcome

    def _run(self) -> None:
        while True:
            request = self._queue.get()
            try:
                if request is None:
                    return
                self.store_now(request)
            except Exception as exc:  # a bad request must not stop the writer; it is counted and logged
                log.error("sample capture: could not store frame %s of %s: %s",
                          request.frame_id if request else "?", request.camera_id if request else "?", exc)
                with self._lock:
                    self._counters.outcomes["failed"] = self._counters.outcomes.get("failed", 0) + 1
            finally:
                self._queue.task_done()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sample-capture", daemon=True)
            self._thread.start()

    def flush(self) -> None:
        """Wait until every queued frame is stored (tests, shutdown)."""
        self._queue.join()

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is queued, then stop the worker."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
