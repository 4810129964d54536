"""`edgecv-rollout-sim/1`: what `edgecv simulate rollout` writes (one JSON document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REPORT_FORMAT = "edgecv-rollout-sim/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Assessment(_Model):
    """One run of the AssessRing step (the ring gate) for a ring, as the state machine recorded it."""

    verdict: str = Field(title="continue / wait / halt")
    bakes: int = Field(ge=0)
    reasons: list[str] = Field(default_factory=list)


class RingReport(_Model):
    ring: str
    ring_index: int = Field(ge=0)
    devices: int = Field(ge=0, title="devices in the ring's thing group")
    targeted: int = Field(ge=0, title="devices the ring's job reached (0: no job for this ring)")
    succeeded: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    rejected: int = Field(default=0, ge=0)
    offline: int = Field(default=0, ge=0, title="never answered within the bake window")
    flaky_downloads: int = Field(default=0, ge=0, title="devices whose download failed at least once")
    reasons: dict[str, int] = Field(default_factory=dict, title="reason code -> devices (failed or rejected)")
    decision: str = Field(title="the ring gate's last verdict, or not_reached")
    assessments: list[Assessment] = Field(default_factory=list)
    rolled_back: int = Field(default=0, ge=0, title="devices that took the signed rollback job")
    rollback_failed: int = Field(default=0, ge=0)
    versions_running: dict[str, int] = Field(default_factory=dict, title="'v<N>' -> devices serving it at the end")


class RolloutReport(_Model):
    rollout_id: str
    version: int
    previous_version: int
    status: str = Field(title="the Step Functions execution status")
    error: str | None = None
    completed: bool = Field(title="reached 100% of the fleet")
    halted_at: str | None = Field(default=None, title="the ring whose gate halted the rollout")
    states: list[str] = Field(title="states entered, in order")
    rings: list[RingReport]
    incident: dict[str, Any] | None = None
    seconds: float = Field(ge=0.0)


class SimReport(_Model):
    format: Literal["edgecv-rollout-sim/1"] = REPORT_FORMAT
    devices: int
    seed: int
    fault_rate: float
    offline_rate: float
    model: str
    versions: dict[str, int] = Field(title="baseline / healthy / regressed")
    ring_rule: str
    ring_sizes: dict[str, int]
    gate: dict[str, Any] = Field(title="the RolloutConfig the state machine ran with")
    rollouts: list[RolloutReport]
    regressed_outside_canary: int = Field(
        ge=0, title="devices outside the canary whose model server ever routed traffic to the regressed version")
    regressed_jobs_outside_canary: int = Field(
        ge=0, title="devices outside the canary that were ever sent a job for the regressed version")
    canary_ran_regressed: int = Field(ge=0)
    serving_regressed_at_end: int = Field(ge=0)
    incidents: int = Field(ge=0)
    checks: dict[str, bool]
    ok: bool
    wall_seconds: float = Field(ge=0.0, title="the whole command: cloud start, fleet, both rollouts, clean-up")
    phase_seconds: dict[str, float]
    agent_runs: int = Field(ge=0, title="jobs handled by a device's real OTA agent")
    workers: int = Field(ge=1, title="processes the devices' agents ran in")
    real: list[str]
    simulated: list[str]
