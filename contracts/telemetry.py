"""Site telemetry: what an edge appliance reports about itself (published when the link is up, kept on disk when
it is not). The cloud's dashboards and the rollout's health gate read these fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TELEMETRY_FORMAT = "edgecv-telemetry/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Percentiles(_Model):
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0


class CameraTelemetry(_Model):
    state: str
    fps: float = Field(ge=0.0)
    latency_ms: Percentiles
    frames_in: int = Field(ge=0)
    frames_decided: int = Field(ge=0)
    dropped_frames: int = Field(ge=0)
    corrupt_frames: int = Field(ge=0)
    inference_errors: int = Field(ge=0)
    stalls: int = Field(ge=0)


class BufferTelemetry(_Model):
    bytes: int = Field(ge=0)
    cap_bytes: int = Field(ge=0)
    samples: int = Field(ge=0)
    evictions: int = Field(ge=0)
    disk_full: int = Field(ge=0)


class UploadTelemetry(_Model):
    link: str
    uploaded: int = Field(ge=0)
    failed: int = Field(ge=0)


class SiteTelemetry(_Model):
    format: Literal["edgecv-telemetry/1"] = TELEMETRY_FORMAT
    site_id: str
    at: float  # unix seconds
    model_versions: dict[str, str] = Field(default_factory=dict)
    cameras: dict[str, CameraTelemetry] = Field(default_factory=dict)
    passes: int = Field(default=0, ge=0)
    decision_rate_per_min: float = Field(default=0.0, ge=0.0)
    mean_read_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    valid_read_share: float = Field(default=0.0, ge=0.0, le=1.0)
    hard_negative_rate: float = Field(default=0.0, ge=0.0, le=1.0)  # frames offered to the buffer / frames
    decision_log_errors: int = Field(default=0, ge=0)
    buffer: BufferTelemetry | None = None
    upload: UploadTelemetry | None = None
    triton: dict[str, float] = Field(default_factory=dict)  # nv_* metrics
