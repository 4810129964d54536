"""OTA jobs: the IoT Jobs job document the cloud sends a site, and the status report its agent sends back.

The document names one signed bundle (where to fetch it, its sha256 and size), the model versions it
must install, the rollout it belongs to, and what the on-device smoke test must show before traffic
moves. The report says how the job ended (SUCCEEDED / FAILED / REJECTED), why (a reason code: a
bundle refusal code from `contracts.bundles.RefusalReason` or an agent reason below) and the figures
the agent measured. In IoT Jobs the report travels as `status` + `statusDetails` (a string map).
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator

from contracts.bundles.errors import RefusalReason
from contracts.bundles.manifest import MODEL_NAME_PATTERN, SHA256_PATTERN, DeviceClass

JOB_FORMAT = "edgecv-ota-job/1"
REPORT_FORMAT = "edgecv-ota-report/1"
MAX_BUNDLE_BYTES = 1 << 30
MAX_STATUS_DETAIL = 1024  # IoT Jobs statusDetails values are short strings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmokeExpectations(_Strict):
    """What the candidate must show on held-out frames before the switch, relative to the manifest's eval."""

    frames: int = Field(default=32, ge=1, le=10_000, title="held-out frames to run")
    metric: str = Field(default="accuracy", min_length=1, max_length=200,
                        title="dotted key into the manifest's lineage.eval_metrics, e.g. `ocr.exact_match`")
    max_drop: float = Field(default=0.05, ge=0.0, le=1.0,
                            title="how far the on-device figure may fall below the manifest's")
    min_accuracy: float | None = Field(default=None, ge=0.0, le=1.0, title="absolute floor, whatever the manifest says")
    max_latency_ms_p99: float = Field(default=1000.0, gt=0.0, le=60_000.0,
                                      title="p99 per held-out frame through the candidate ensemble")


class SmokeCriteria(_Strict):
    """Expectations resolved against one manifest: the numbers a smoke result is judged by."""

    frames: int = Field(ge=1)
    min_accuracy: float = Field(ge=0.0, le=1.0)
    max_latency_ms_p99: float = Field(gt=0.0)
    metric: str


class SmokeResult(_Strict):
    """What the model server measured on the candidate versions."""

    frames: int = Field(ge=0)
    accuracy: float = Field(ge=0.0, le=1.0)
    latency_ms_p50: float = Field(ge=0.0)
    latency_ms_p99: float = Field(ge=0.0)


class JobDocument(_Strict):
    """The IoT Jobs document of one OTA job (what `create_job(document=...)` carries)."""

    format: Literal["edgecv-ota-job/1"] = JOB_FORMAT
    rollout_id: str = Field(min_length=1, max_length=128)
    ring: int = Field(default=0, ge=0, le=9, title="0 = canary, then 10%, 50%, 100%")
    device_class: DeviceClass
    bundle_url: str = Field(min_length=8, max_length=8192, title="http(s) URL, usually a presigned S3 GET")
    bundle_sha256: str = Field(pattern=SHA256_PATTERN)
    bundle_size: int = Field(ge=1, le=MAX_BUNDLE_BYTES, title="bytes")
    targets: dict[str, int] = Field(min_length=1, max_length=64, title="model name -> version to serve")
    rollback: bool = Field(default=False, title="a signed rollback to an older, still-approved version")
    smoke: SmokeExpectations = Field(default_factory=SmokeExpectations)

    @field_validator("bundle_url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("bundle_url must be an http(s) URL")
        return url

    @field_validator("targets")
    @classmethod
    def _targets(cls, targets: dict[str, int]) -> dict[str, int]:
        for name, version in targets.items():
            if not re.match(MODEL_NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not a model name")
            if version < 1:
                raise ValueError(f"{name}: version {version} is not a Triton version (>= 1)")
        return targets


class JobOutcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


class AgentReason(StrEnum):
    """Why a job failed or was rejected when the bundle layer itself did not refuse it."""

    JOB_INVALID = "job_invalid"              # the job document does not parse
    WRONG_DEVICE_CLASS = "wrong_device_class"  # the job is for the other device class
    DOWNLOAD_FAILED = "download_failed"      # the URL kept failing after retries
    DOWNLOAD_MISMATCH = "download_mismatch"  # the bytes differ from the job's sha256 / size
    DOWNLOAD_TOO_LARGE = "download_too_large"  # over the agent's size cap
    NO_SPACE = "no_space"                    # not enough free disk for the bundle, its extraction and staging
    TARGET_MISMATCH = "target_mismatch"      # the bundle holds other models/versions than the job names
    ROLLBACK_MISMATCH = "rollback_mismatch"  # the job's rollback flag disagrees with the signed manifest
    STAGE_FAILED = "stage_failed"
    LOAD_FAILED = "load_failed"
    SMOKE_FAILED = "smoke_failed"
    SWITCH_FAILED = "switch_failed"
    ABANDONED = "abandoned"                  # restarted too often before the switch; the old version kept


REASON_CODES = frozenset(r.value for r in RefusalReason) | frozenset(r.value for r in AgentReason)


class JobFigures(_Strict):
    """Measured figures of one job, as far as it got."""

    download_bytes: int = Field(default=0, ge=0)
    download_seconds: float = Field(default=0.0, ge=0.0)
    download_resumes: int = Field(default=0, ge=0)
    verify_seconds: float = Field(default=0.0, ge=0.0)
    load_seconds: float = Field(default=0.0, ge=0.0)
    switch_seconds: float = Field(default=0.0, ge=0.0)
    total_seconds: float = Field(default=0.0, ge=0.0)
    restarts: int = Field(default=0, ge=0, title="agent restarts during the job")
    smoke: SmokeResult | None = None


class JobStatusReport(_Strict):
    """What the agent sends back for a job."""

    format: Literal["edgecv-ota-report/1"] = REPORT_FORMAT
    job_id: str = Field(min_length=1, max_length=64)
    thing_name: str = Field(min_length=1, max_length=128)
    rollout_id: str | None = None
    ring: int | None = None
    outcome: JobOutcome
    reason: str | None = Field(default=None, title="a bundle refusal code or an AgentReason")
    message: str | None = Field(default=None, max_length=MAX_STATUS_DETAIL, title="one line for a person")
    serving: dict[str, int] = Field(default_factory=dict, title="model versions serving when reported")
    figures: JobFigures = Field(default_factory=JobFigures)
    reported_at: AwareDatetime

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, reason: str | None) -> str | None:
        if reason is not None and reason not in REASON_CODES:
            raise ValueError(f"unknown reason code {reason!r}")
        return reason

    @field_validator("message")
    @classmethod
    def _one_line(cls, message: str | None) -> str | None:
        if message is not None and (not message or any(unicodedata.category(c).startswith("C") for c in message)):
            raise ValueError("the message must be one non-empty line without control characters (see one_line)")
        return message

    def status_details(self) -> dict[str, str]:
        """The IoT Jobs `statusDetails` map (string values only)."""
        details = {"format": self.format, "outcome": self.outcome.value,
                   "serving": json.dumps(self.serving, sort_keys=True, separators=(",", ":")),
                   "figures": self.figures.model_dump_json(exclude_defaults=True),
                   "reported_at": self.reported_at.isoformat()}
        if self.reason:
            details["reason"] = self.reason
        if self.message:
            details["message"] = self.message
        if self.rollout_id is not None:
            details["rollout_id"] = self.rollout_id
        if self.ring is not None:
            details["ring"] = str(self.ring)
        return details

    @classmethod
    def from_status_details(cls, job_id: str, thing_name: str, details: dict[str, str]) -> JobStatusReport:
        """Rebuild a report from what IoT Jobs stored (the cloud side reads reports this way)."""
        data: dict[str, JsonValue] = {
            "job_id": job_id, "thing_name": thing_name, "outcome": details["outcome"],
            "reason": details.get("reason"), "message": details.get("message"),
            "rollout_id": details.get("rollout_id"),
            "ring": int(details["ring"]) if "ring" in details else None,
            "serving": json.loads(details.get("serving", "{}")),
            "figures": json.loads(details.get("figures", "{}")),
            "reported_at": details["reported_at"],
        }
        return cls.model_validate(data)


def one_line(text: object, limit: int = MAX_STATUS_DETAIL) -> str:
    """`text` as a report message: whitespace runs collapsed, control characters replaced, at most `limit` chars."""
    line = " ".join(str(text).split())
    line = "".join("?" if unicodedata.category(c).startswith("C") else c for c in line) or "-"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def resolve_smoke(expectations: SmokeExpectations, eval_metrics: dict[str, JsonValue]) -> SmokeCriteria:
    """The accuracy floor for this manifest: its eval figure minus the allowed drop, never under the floor.

    The metric is looked up as a flat dotted key first (the cloud gate's metrics: `{"ocr.exact_match": 0.9}`), then
    as a path into nested objects (an `edgecv-eval/1` report: `{"ocr": {"exact_match": 0.9}}`). A manifest
    without the named metric is judged by `min_accuracy` alone (0 when that is unset too).
    """
    value: JsonValue = eval_metrics.get(expectations.metric)
    if value is None:
        value = eval_metrics
        for key in expectations.metric.split("."):
            value = value.get(key) if isinstance(value, dict) else None
    claimed = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    floor = expectations.min_accuracy or 0.0
    if claimed is not None:
        floor = max(floor, claimed - expectations.max_drop)
    return SmokeCriteria(frames=expectations.frames, min_accuracy=min(max(floor, 0.0), 1.0),
                         max_latency_ms_p99=expectations.max_latency_ms_p99, metric=expectations.metric)


def judge_smoke(result: SmokeResult, criteria: SmokeCriteria) -> str | None:
    """None when the candidate passes; else one line saying what failed."""
    if result.frames < criteria.frames:
        return f"smoke test ran {result.frames} of {criteria.frames} frames"
    if result.accuracy < criteria.min_accuracy:
        return (f"smoke {criteria.metric} {result.accuracy:.3f} is below {criteria.min_accuracy:.3f} "
                f"on {result.frames} held-out frames")
    if result.latency_ms_p99 > criteria.max_latency_ms_p99:
        return f"smoke latency p99 {result.latency_ms_p99:.1f} ms is over {criteria.max_latency_ms_p99:.1f} ms"
    return None


def parse_job_document(data: bytes | str | dict) -> JobDocument:
    """Parse a job document; raises pydantic's ValidationError (the agent maps it to `job_invalid`)."""
    if isinstance(data, dict):
        return JobDocument.model_validate(data)
    return JobDocument.model_validate_json(data)


def now_for_report(clock_value: float) -> datetime:
    return datetime.fromtimestamp(clock_value, UTC)
