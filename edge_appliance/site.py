"""The ingest component of a site: cameras -> Triton -> decisions, hard negatives to the disk buffer, the buffer
drained to the landing bucket, telemetry written as JSON lines (store-and-forward: the file is the queue).

Run: `python -m edge_appliance.site --config site.json` (what the Greengrass ingest component starts), or build a
`SiteRuntime` in-process (the demo, tests). The configuration is loaded once, at the edge of the program.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.annotations import TruckManifest, load_manifest
from contracts.errors import EdgecvError, first_validation_error
from contracts.telemetry import (
    BufferTelemetry,
    CameraTelemetry,
    Percentiles,
    SiteTelemetry,
    UploadTelemetry,
)
from edge_appliance.capture import CaptureConfig, SampleCapture
from edge_appliance.decision_log import DecisionLog
from edge_appliance.hard_negatives import HardNegativeRecorder
from edge_appliance.ingest import CameraConfig, CameraPipeline, CameraState, OverloadPolicy
from edge_appliance.pipeline_client import PipelineClient
from edge_appliance.sample_buffer import DiskSampleStore
from edge_appliance.sampler import HardNegativeSampler, SamplerConfig
from edge_appliance.site_decisions import SiteDecisions
from edge_appliance.sources import open_source
from edge_appliance.triton_server import parse_prometheus
from edge_appliance.uploader import LinkState, Uploader, UploaderConfig, make_s3_client

log = logging.getLogger(__name__)


class SiteConfigError(EdgecvError):
    """The site configuration file is missing or invalid."""


class CameraSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    source: str = Field(title="synthetic:DIR, a sequence folder, a video file, or an rtsp:// URL")
    fps: float | None = Field(default=15.0, gt=0, le=120, title="pace of a synthetic or file source")
    loops: int | None = Field(default=1, ge=1, title="synthetic source: times to replay (null: forever)")
    manifest: Path | None = Field(default=None, title="the door's truck manifest (edgecv-manifest/1)")
    queue_size: int = Field(default=4, ge=1, le=256)
    overload: OverloadPolicy = OverloadPolicy.DROP_OLDEST
    max_in_flight: int = Field(default=2, ge=1, le=16)


class UploadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    endpoint_url: str | None = Field(default=None, title="S3 endpoint (a moto server locally; None in AWS)")
    region: str = "us-east-1"


class SiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    site_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    triton_url: str = Field(default="127.0.0.1:8001", title="gRPC address of the site's Triton (loopback)")
    triton_metrics_url: str | None = Field(default=None, title="Triton's Prometheus endpoint, for nv_* telemetry")
    data_dir: Path = Field(title="decision log, sample buffer and telemetry live here")
    cameras: list[CameraSpec] = Field(min_length=1)
    buffer_cap_bytes: int = Field(default=512 * 1024 * 1024, ge=64 * 1024, title="disk buffer cap")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    upload: UploadSpec | None = None
    telemetry_interval_s: float = Field(default=10.0, gt=0, le=3600)

    @classmethod
    def load(cls, path: Path) -> SiteConfig:
        try:
            return cls.model_validate_json(Path(path).read_text())
        except FileNotFoundError as exc:
            raise SiteConfigError(f"site config not found: {path}") from exc
        except ValidationError as exc:
            raise SiteConfigError(f"{path}: {first_validation_error(exc)}") from exc


class SiteRuntime:
    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        data = Path(config.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self.telemetry_path = data / "telemetry.jsonl"
        manifests: dict[str, TruckManifest] = {
            c.camera_id: load_manifest(c.manifest) for c in config.cameras if c.manifest is not None}
        self.decision_log = DecisionLog(data / "decisions.sqlite")
        self.store = DiskSampleStore(data / "buffer", cap_bytes=config.buffer_cap_bytes)
        recovered = self.store.open()
        if recovered.partial_removed or recovered.corrupt_removed or recovered.evicted_for_cap:
            log.warning("sample buffer recovered after an unclean stop: %s", recovered)
        self.capture = SampleCapture(self.store, CaptureConfig(site_id=config.site_id))
        recorder = HardNegativeRecorder(HardNegativeSampler(config.sampler), self.capture)
        self.decisions = SiteDecisions(config.site_id, decision_log=self.decision_log, recorder=recorder,
                                       manifests=manifests)
        self.uploader: Uploader | None = None
        if config.upload is not None:
            client = make_s3_client(config.upload.endpoint_url, config.upload.region)
            self.uploader = Uploader(self.store, client, UploaderConfig(bucket=config.upload.bucket))
        self.client = PipelineClient(config.triton_url)
        self.cameras = [
            CameraPipeline(CameraConfig(camera_id=c.camera_id, queue_size=c.queue_size, overload=c.overload,
                                        max_in_flight=c.max_in_flight),
                           open_source(c.source, fps=c.fps, loops=c.loops), self.client, self.decisions)
            for c in config.cameras
        ]
        self.started_at = time.time()
        self._stop = threading.Event()
        self._telemetry_thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> SiteRuntime:
        try:
            self.client.refresh_versions()
        except EdgecvError as exc:
            log.warning("model versions unknown for now: %s", exc)
        self.capture.start()
        if self.uploader is not None:
            self.uploader.start()
        for camera in self.cameras:
            camera.start()
        self._telemetry_thread = threading.Thread(target=self._telemetry_loop, name="telemetry", daemon=True)
        self._telemetry_thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Until every camera's source is exhausted (files, replays) or the runtime is stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            if all(c.state in (CameraState.ENDED, CameraState.FAILED) for c in self.cameras):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._stop.wait(0.2)
        return True

    def stop(self) -> None:
        self._stop.set()
        for camera in self.cameras:
            camera.stop()
        self.decisions.close()  # the sampler's open windows admit their best candidates before the writer stops
        self.capture.stop()
        if self.uploader is not None:
            self._drain_before_stop()
            self.uploader.stop()
        self.write_telemetry()
        self.client.close()
        self.decision_log.close()

    def _drain_before_stop(self, budget_s: float = 10.0) -> None:
        """Give a live link a short chance to take what is buffered; the rest stays on disk for next time."""
        deadline = time.monotonic() + budget_s
        self.uploader.wake()
        while self.store.pending() and time.monotonic() < deadline:
            if self.uploader.link_state in (LinkState.DOWN, LinkState.REFUSED):
                return
            time.sleep(0.1)

    # ------------------------------------------------------------------------------------------ telemetry
    def telemetry(self) -> SiteTelemetry:
        d = self.decisions.counters
        elapsed_min = max((time.time() - self.started_at) / 60, 1e-9)
        cameras = {
            c.config.camera_id: CameraTelemetry(
                state=c.state.value, fps=round(c.fps(), 3), latency_ms=Percentiles(**c.latency.percentiles()),
                **c.counters.model_dump())
            for c in self.cameras
        }
        b = self.store.counters()
        buffer = BufferTelemetry(bytes=self.store.total_bytes(), cap_bytes=self.config.buffer_cap_bytes,
                                 samples=len(self.store.pending()), evictions=sum(b.evicted_samples.values()),
                                 disk_full=b.disk_full)
        upload = None
        if self.uploader is not None:
            u = self.uploader.counters()
            upload = UploadTelemetry(link=self.uploader.link_state.value, uploaded=u.uploaded_samples,
                                     failed=u.failed_samples)
        return SiteTelemetry(
            site_id=self.config.site_id, at=time.time(), model_versions=self.client.versions, cameras=cameras,
            passes=d.passes, decision_rate_per_min=round(d.passes / elapsed_min, 3),
            mean_read_confidence=round(d.mean_read_confidence, 4),
            valid_read_share=round(d.valid_reads / d.reads, 4) if d.reads else 0.0,
            hard_negative_rate=round(d.frames_offered / d.frames, 5) if d.frames else 0.0,
            decision_log_errors=d.decision_log_errors, buffer=buffer, upload=upload, triton=self._triton_metrics())

    def _triton_metrics(self) -> dict[str, float]:
        if not self.config.triton_metrics_url:
            return {}
        import urllib.request

        try:
            with urllib.request.urlopen(self.config.triton_metrics_url, timeout=2) as response:
                return parse_prometheus(response.read().decode())
        except OSError:
            return {}

    def write_telemetry(self) -> SiteTelemetry:
        record = self.telemetry()
        try:
            with self.telemetry_path.open("a") as fh:
                fh.write(record.model_dump_json() + "\n")
        except OSError as exc:
            log.error("telemetry: cannot write %s: %s", self.telemetry_path, exc)
        return record

    def _telemetry_loop(self) -> None:
        while not self._stop.wait(self.config.telemetry_interval_s):
            self.write_telemetry()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_appliance.site", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="site configuration (JSON)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run on)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        runtime = SiteRuntime(SiteConfig.load(args.config)).start()
    except (EdgecvError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    while not stop.is_set() and not runtime.wait(timeout=0.5):
        if deadline is not None and time.monotonic() >= deadline:
            break
    runtime.stop()
    print(json.dumps(runtime.telemetry().model_dump(), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
