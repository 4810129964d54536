"""What a site decides about each pallet pass, and how a truck's load reconciles against its manifest.

A *pass* is one pallet carried across a camera's view (one track). These records cross planes: they are
the evidence kept in the site's append-only decision log and summarised in telemetry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DECISION_FORMAT = "edgecv-decision/1"
RECONCILIATION_FORMAT = "edgecv-reconciliation/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PalletPassDecision(_Strict):
    """One pallet pass: what was read (only check-digit-valid PRO), whether it is damaged, and why we think so."""

    format: Literal["edgecv-decision/1"] = DECISION_FORMAT
    site_id: str
    camera_id: str
    pass_id: str  # unique per site: f"{camera_id}-{track_id}-{first_frame_id}"
    pro: str | None = Field(default=None, pattern=r"^[0-9]{10}$")
    dest: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    read_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    reads_agree: bool = True  # every valid read of the track gave the same PRO/DEST
    damaged: bool = False
    damage_score: float = Field(default=0.0, ge=0.0, le=1.0)
    damage_agree: bool = True  # every frame's damage flag agreed
    detection_score: float = Field(default=0.0, ge=0.0, le=1.0)
    frame_ids: list[int] = Field(default_factory=list)
    first_seen: float = 0.0  # unix seconds
    last_seen: float = 0.0
    model_versions: dict[str, str] = Field(default_factory=dict)


class ReconciledPallet(_Strict):
    pro: str | None = None
    dest: str | None = None
    pass_id: str | None = None  # None for a pallet listed on the manifest that never passed
    damaged: bool = False


class ReconciliationReport(_Strict):
    """A truck's load against its `edgecv-manifest/1`: matched, missing, unexpected, damaged."""

    format: Literal["edgecv-reconciliation/1"] = RECONCILIATION_FORMAT
    truck_id: str
    door: str
    matched: list[ReconciledPallet] = Field(default_factory=list)
    missing: list[ReconciledPallet] = Field(default_factory=list)  # listed, never seen
    unexpected: list[ReconciledPallet] = Field(default_factory=list)  # seen, not listed
    unread: list[ReconciledPallet] = Field(default_factory=list)  # seen, no valid PRO read
    damaged: list[ReconciledPallet] = Field(default_factory=list)  # any seen pallet flagged damaged
    dest_mismatch: list[ReconciledPallet] = Field(default_factory=list)  # PRO listed, DEST differs
