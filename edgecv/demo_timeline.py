"""The demo's timeline: per-site samples and rollout events over time, carried in the report as `"timeline"`.

The demo fills it as it runs (`add_site`, `add_rollout`); `edgecv.demo_html` plots it. Times are seconds
since the demo started, so samples from different stages share one axis.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RolloutEventKind = Literal["job_created", "ring_ok", "halted", "rolled_back", "incident", "done"]
# Events that mean a ring went wrong; the HTML report draws them in red.
BAD_ROLLOUT_EVENTS: frozenset[str] = frozenset({"halted", "rolled_back", "incident"})


class SiteSample(BaseModel):
    """One site's state at one moment."""

    model_config = ConfigDict(extra="forbid")

    t: float = Field(ge=0, title="seconds since the demo started")
    site: str = Field(min_length=1)
    phase: str = Field(min_length=1, title="e.g. edge_v1, after_rollout_v2")
    model_versions: dict[str, int] = Field(title="network -> version serving at this site")
    mean_read_confidence: float | None = Field(default=None, ge=0, le=1)
    valid_read_share: float | None = Field(default=None, ge=0, le=1)
    held_out_exact_match: float | None = Field(default=None, ge=0, le=1,
                                               title="label exact match on the site's held-out frames")
    held_out_damage_f1: float | None = Field(default=None, ge=0, le=1)
    buffer_bytes: int | None = Field(default=None, ge=0)
    buffer_cap_bytes: int | None = Field(default=None, ge=0)
    hard_negative_rate: float | None = Field(default=None, ge=0)


class RolloutEvent(BaseModel):
    """One step of a ringed rollout."""

    model_config = ConfigDict(extra="forbid")

    t: float = Field(ge=0, title="seconds since the demo started")
    rollout_id: str = Field(min_length=1)
    model: str = Field(min_length=1)
    version: int = Field(ge=1)
    ring: str = Field(min_length=1, title="e.g. canary, ring10")
    event: RolloutEventKind
    devices: list[str] = Field(default_factory=list)
    detail: str | None = None


class DemoTimeline(BaseModel):
    """Everything the demo's plots need, appended to as the demo runs."""

    model_config = ConfigDict(extra="forbid")

    sites: list[SiteSample] = Field(default_factory=list)
    rollout: list[RolloutEvent] = Field(default_factory=list)

    def add_site(self, sample: SiteSample) -> None:
        self.sites.append(sample)

    def add_rollout(self, event: RolloutEvent) -> None:
        self.rollout.append(event)

    def site_names(self) -> list[str]:
        """Sites in order of first appearance."""
        return list(dict.fromkeys(s.site for s in self.sites))

    def samples_of(self, site: str) -> list[SiteSample]:
        """One site's samples, sorted by time."""
        return sorted((s for s in self.sites if s.site == site), key=lambda s: s.t)
