"""The state that flows through the two state machines, one pydantic model per step result.

Each Lambda receives the whole state and returns only its own step's result (the state machine puts it
at the step's ResultPath). Lists of samples travel through S3 (`runs/{run_id}/...`), never the state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.bundles import DeviceClass
from contracts.jobs import SmokeExpectations

RUN_ID = r"^[A-Za-z0-9-]{1,48}$"
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$", max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PipelineConfig(_Model):
    poll_seconds: int = Field(default=60, ge=1, le=3600, title="Wait between training-job polls")
    auto_approve_confidence: float = Field(default=0.8, ge=0.0, le=1.0,
                                           title="labels at or above this (weakest) confidence skip human review")
    min_samples: int = Field(default=1, ge=1, title="fewer approved samples than this: nothing to train on")
    entry_point: str = Field(default="train_damage", pattern=r"^train_[a-z_]+$", title="training.<module>")
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    init_checkpoint: str | None = Field(
        default=None, pattern=r"^s3://[a-z0-9.-]{3,63}/.*$", max_length=1024,
        title="S3 prefix holding the production version's model.pt: the job fine-tunes from it (the `init` channel)")
    replay_data: str | None = Field(
        default=None, pattern=r"^s3://[a-z0-9.-]{3,63}/.*$", max_length=1024,
        title="S3 prefix of an earlier labeled edgecv-annotations set (the `replay` channel): mixed into each "
              "batch so that fine-tuning on new samples does not forget the old domain")
    max_runtime_seconds: int = Field(default=4 * 3600, ge=60)
    golden_prefix: str = Field(default="golden/", title="curated-bucket prefix of the golden edgecv-annotations set")
    max_regression: float = Field(default=0.0, ge=0.0, le=1.0,
                                  title="how far a gated metric may fall below production's")
    gates: dict[MetricName, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, max_length=32,
        title="minimums by dotted edgecv-eval/1 metric (e.g. damage.f1), over the retrained network's defaults")
    device_class: DeviceClass = DeviceClass.CPU
    approval_status: str = Field(default="PendingManualApproval",
                                 pattern=r"^(Approved|PendingManualApproval)$")
    code_commit: str | None = Field(default=None, max_length=64)
    teacher: Literal["trained", "edge-v1"] = Field(
        default="trained", title="the labeling job's networks: the trained teacher (v1 standing in where none is "
                                 "trained) or the edge's v1 alone (plumbing tests)")


class IngestResult(_Model):
    manifest_key: str
    accepted: int = Field(ge=0)
    parked: int = Field(ge=0)
    skipped: int = Field(ge=0, title="already curated or quarantined by an earlier run")


class DeidResult(_Model):
    manifest_key: str
    curated: int = Field(ge=0)
    quarantined: int = Field(ge=0)


class TrainingStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class LabelResult(_Model):
    """The teacher's labeling job and, once it completed, what it labeled (the review gate reads the confidences)."""

    job_name: str | None = Field(default=None, title="the labeling job; None when every sample had a label already")
    status: TrainingStatus = TrainingStatus.COMPLETED
    manifest_key: str
    labeled: int = Field(default=0, ge=0)
    withheld: int = Field(default=0, ge=0, title="samples in which the teacher found a person the site did not blur: "
                          "quarantined, their frames removed from curated")
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    mean_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    failure_reason: str | None = None
    polls: int = Field(default=0, ge=0)


class ReviewDecision(StrEnum):
    APPROVED = "approved"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"


class ReviewResult(_Model):
    decision: ReviewDecision
    reason: str = ""
    reviewer: str | None = None


class DatasetResult(_Model):
    prefix: str = Field(title="curated-bucket prefix holding annotations.json and images/")
    frames: int = Field(ge=0)
    sha256: str


class TrainingResult(_Model):
    job_name: str
    status: TrainingStatus
    model_artifact: str | None = Field(default=None, title="s3://.../model.tar.gz once Completed")
    failure_reason: str | None = None
    polls: int = Field(default=0, ge=0)


class GateVerdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class ProcessingResult(_Model):
    """A SageMaker Processing job's state (same status names as training jobs)."""

    job_name: str
    status: TrainingStatus
    failure_reason: str | None = None


class EvaluationResult(_Model):
    """The evaluation job of a candidate and, once it completed, the gate's verdict."""

    job_name: str
    status: TrainingStatus
    verdict: GateVerdict | None = Field(default=None, title="set when the job completed and the gate judged")
    failures: list[str] = Field(default_factory=list)
    candidate_version: int = Field(ge=1)
    production_version: int | None = None
    pins: dict[str, int] = Field(default_factory=dict, title="every network's version in the judged ensemble")
    report_key: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict, title="the gated metrics, flattened")
    failure_reason: str | None = None
    polls: int = Field(default=0, ge=0)


class ExportResult(_Model):
    prefix: str = Field(title="artifacts-bucket prefix holding <model>/<version>/...")
    model_name: str
    version: int = Field(ge=1)
    files: int = Field(ge=1)


class Release(_Model):
    """A signed bundle in the artifacts bucket."""

    bucket: str
    key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1)
    model_name: str
    version: int = Field(ge=1)
    device_class: DeviceClass
    signer_key_id: str
    rollback: bool = False


class RegistrationResult(_Model):
    model_package_arn: str
    approval_status: str
    version: int


class TrainingState(_Model):
    run_id: str = Field(pattern=RUN_ID)
    model_name: str = Field(default="damage_classifier", pattern=r"^[a-z_]{1,64}$")
    config: PipelineConfig = Field(default_factory=PipelineConfig)
    ingest: IngestResult | None = None
    deid: DeidResult | None = None
    labels: LabelResult | None = None
    review: ReviewResult | None = None
    dataset: DatasetResult | None = None
    training: TrainingResult | None = None
    evaluation: EvaluationResult | None = None
    export: ExportResult | None = None
    bundle: Release | None = None
    registration: RegistrationResult | None = None


class ReviewRequest(_Model):
    """The HumanReview task's payload (waitForTaskToken)."""

    task_token: str = Field(min_length=1)
    run_id: str = Field(pattern=RUN_ID)
    labels: LabelResult


# ---- rollout -----------------------------------------------------------------------------------------

class GateThresholds(_Model):
    max_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0, title="failed+rejected / finished executions")
    max_confidence_drop: float = Field(default=0.10, ge=0.0, le=1.0, title="relative to the previous version")
    max_decision_rate_drop: float = Field(default=0.30, ge=0.0, le=1.0, title="relative to the previous version")
    max_latency_ratio: float = Field(default=1.5, ge=1.0, title="p99 latency vs the previous version")
    max_latency_ms: float = Field(default=250.0, gt=0.0, title="absolute p99 ceiling")
    min_completion: float = Field(default=1.0, ge=0.0, le=1.0, title="share of devices that must have finished")


class RolloutConfig(_Model):
    smoke: SmokeExpectations | None = Field(
        default=None, title="what each device's smoke test must show before it switches (the job document's `smoke`)")
    bake_seconds: int = Field(default=900, ge=1, le=86_400)
    max_bakes: int = Field(default=4, ge=1, le=100, title="waits for a ring to finish before halting")
    thresholds: GateThresholds = Field(default_factory=GateThresholds)
    max_per_minute: int = Field(default=50, ge=1, le=1000, title="IoT job rollout rate")
    job_timeout_minutes: int = Field(default=60, ge=1, le=10_080)


class RingVerdict(StrEnum):
    CONTINUE = "continue"
    WAIT = "wait"
    HALT = "halt"


class RolloutProgress(_Model):
    ring_index: int = Field(ge=0, title="the ring being rolled out (after continue: the next one)")
    verdict: RingVerdict = RingVerdict.CONTINUE
    done: bool = False
    bakes: int = Field(default=0, ge=0)
    reasons: list[str] = Field(default_factory=list)
    reached: int = Field(default=0, ge=0, title="how many rings received the release")


class RingJob(_Model):
    job_id: str
    ring: str
    ring_index: int = Field(ge=0)
    target_arn: str


class RollbackResult(_Model):
    jobs: list[RingJob]
    cancelled: list[str]


class IncidentResult(_Model):
    event_id: str
    detail_type: str


class RolloutState(_Model):
    rollout_id: str = Field(pattern=RUN_ID)
    release: Release
    previous: Release | None = None
    rings: list[str] = Field(min_length=1, max_length=8, title="IoT thing group names, canary first")
    config: RolloutConfig = Field(default_factory=RolloutConfig)
    progress: RolloutProgress | None = None
    ring: RingJob | None = None
    rollback_bundle: Release | None = None
    rollback: RollbackResult | None = None
    incident: IncidentResult | None = None
    error: dict[str, Any] | None = Field(default=None, title="a caught step error (Error, Cause)")
