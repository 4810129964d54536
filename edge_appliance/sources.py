"""Camera sources: a synthetic camera (the generator's forklift sequences), a video file and an RTSP URL.

A source yields `SourceFrame`s (decoded RGB uint8, numbered, stamped when taken). Pacing: at `fps` the source
waits for each frame's tick, like a real camera; with `fps=None` it yields as fast as the consumer takes frames.
A frame that cannot be decoded is reported as a `CorruptFrame` (counted by the ingest), never raised.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from contracts.errors import EdgecvError


class SourceError(EdgecvError):
    """A camera source cannot be opened at all (missing file, bad URL, not a sequence)."""


@dataclass(frozen=True)
class SourceFrame:
    frame_id: int
    taken_at: float  # time.perf_counter() when the frame left its source (start of frame-to-decision latency)
    timestamp: float  # wall clock (unix seconds)
    image: np.ndarray  # HxWx3 uint8 RGB


@dataclass(frozen=True)
class CorruptFrame:
    frame_id: int
    reason: str


class Pacer:
    """Waits for the next tick of a camera running at `fps` (None: no waiting)."""

    def __init__(self, fps: float | None, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        if not self.period:
            return
        now = self._clock()
        if self._next is None:
            self._next = now
        delay = self._next - now
        if delay > 0:
            self._sleep(delay)
            self._next += self.period
        else:  # a late consumer does not cause a burst: the next tick is one period after this frame
            self._next = now + self.period


def decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return np.asarray(img.convert("RGB"))


class SyntheticCamera:
    """Replays a forklift sequence written by `edgecv generate-sequence` (JPEG files, decoded per frame)."""

    def __init__(self, sequence_dir: Path, fps: float | None = 15.0, loops: int | None = 1,
                 preload: bool = True, start_index: int = 0) -> None:
        self.sequence_dir = Path(sequence_dir)
        frames_dir = self.sequence_dir / "frames"
        self.files = sorted(frames_dir.glob("*.jpg")) if frames_dir.is_dir() else []
        if not self.files:
            raise SourceError(f"{self.sequence_dir} has no frames/*.jpg (write one with `edgecv generate-sequence`)")
        self.fps = fps
        self.loops = loops
        self.start_index = start_index % len(self.files)  # several cameras on one sequence, out of step
        # the camera's encoded stream held in memory, so disk reads are not part of what is measured
        self._encoded = [f.read_bytes() for f in self.files] if preload else None

    def _bytes(self, index: int) -> bytes:
        return self._encoded[index] if self._encoded is not None else self.files[index].read_bytes()

    def frames(self) -> Iterator[SourceFrame | CorruptFrame]:
        pacer = Pacer(self.fps)
        frame_id, loop = 0, 0
        while self.loops is None or loop < self.loops:
            for step in range(len(self.files)):
                index = (self.start_index + step) % len(self.files)
                pacer.wait()
                frame_id += 1
                try:
                    image = decode_jpeg(self._bytes(index))
                except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                    yield CorruptFrame(frame_id, f"{self.files[index].name}: {exc.__class__.__name__}")
                    continue
                yield SourceFrame(frame_id, time.perf_counter(), time.time(), image)
            loop += 1


class AvSource:
    """A video file or an RTSP/HTTP stream decoded with PyAV (FFmpeg; software decode here)."""

    def __init__(self, url: str, fps: float | None = None, rtsp_transport: str = "tcp",
                 open_timeout_s: float = 10.0) -> None:
        self.url = url
        self.fps = fps
        self.options = {"rtsp_transport": rtsp_transport} if url.startswith("rtsp://") else {}
        self.timeout = open_timeout_s
        if "://" not in url and not Path(url).is_file():
            raise SourceError(f"video file not found: {url}")

    def frames(self) -> Iterator[SourceFrame | CorruptFrame]:
        import av

        try:
            container = av.open(self.url, options=self.options, timeout=self.timeout)
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open {self.url}: {exc}") from exc
        pacer = Pacer(self.fps)
        frame_id = 0
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except av.FFmpegError as exc:  # a broken packet: count it, keep reading
                    frame_id += 1
                    yield CorruptFrame(frame_id, f"demux: {exc}")
                    continue
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    frame_id += 1
                    yield CorruptFrame(frame_id, f"decode: {exc}")
                    continue
                for frame in decoded:
                    pacer.wait()
                    frame_id += 1
                    yield SourceFrame(frame_id, time.perf_counter(), time.time(), frame.to_ndarray(format="rgb24"))
        finally:
            container.close()


def open_source(spec: str, fps: float | None = 15.0, loops: int | None = 1) -> SyntheticCamera | AvSource:
    """`synthetic:DIR`, a sequence directory, a video file path, or an rtsp:// / http(s):// URL."""
    if spec.startswith("synthetic:"):
        return SyntheticCamera(Path(spec.removeprefix("synthetic:")), fps=fps, loops=loops)
    if Path(spec).is_dir():
        return SyntheticCamera(Path(spec), fps=fps, loops=loops)
    return AvSource(spec, fps=fps)
