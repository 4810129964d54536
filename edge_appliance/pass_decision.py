"""From the observations of one track to its `PalletPassDecision`: votes over reads, damage, confidences.

Pure functions over immutable records; the tracker (`edge_appliance.tracking`) collects the observations.
Only check-digit-valid reads vote: a read whose check digit fails is a low-confidence case, never a decision.
"""

from __future__ import annotations

import re
from collections import defaultdict
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.decisions import PalletPassDecision
from contracts.predictions import DetectedLabel, DetectedPallet
from contracts.pro import is_valid_pro
from model_repository.processing import DAMAGE_THRESHOLD

_DEST = re.compile(r"^[A-Z]{3}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObservedRead(_Frozen):
    """What the label reader said about the track's label in one frame."""

    pro: str | None = None
    dest: str | None = None
    read_confidence: float = 0.0
    check_digit_ok: bool = False
    raw_text: str = ""

    @property
    def valid(self) -> bool:
        """A read that may vote: the reader vouched for the check digit and the PRO really passes it."""
        return self.check_digit_ok and self.pro is not None and is_valid_pro(self.pro)

    @property
    def valid_dest(self) -> str | None:
        return self.dest if self.valid and self.dest is not None and _DEST.match(self.dest) else None

    @classmethod
    def from_label(cls, label: DetectedLabel) -> ObservedRead:
        return cls(pro=label.pro, dest=label.dest, read_confidence=label.read_confidence,
                   check_digit_ok=label.check_digit_ok, raw_text=label.raw_text)


class TrackObservation(_Frozen):
    """One frame of a track: the detection matched to it and the read of its label, if any."""

    frame_id: int
    timestamp: float
    bbox: tuple[float, float, float, float]
    score: float
    damaged: bool
    damage_score: float
    read: ObservedRead | None = None
    model_versions: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_detection(cls, frame_id: int, timestamp: float, pallet: DetectedPallet, labels: list[DetectedLabel],
                       model_versions: dict[str, str]) -> TrackObservation:
        read = None
        if pallet.label_index is not None and 0 <= pallet.label_index < len(labels):
            read = ObservedRead.from_label(labels[pallet.label_index])
        x1, y1, x2, y2 = pallet.bbox
        return cls(frame_id=frame_id, timestamp=timestamp, bbox=(x1, y1, x2, y2), score=pallet.score,
                   damaged=pallet.damaged, damage_score=pallet.damage_score, read=read,
                   model_versions=dict(model_versions))


class PassFlag(StrEnum):
    """Why a pass is worth a second look (the hard-negative sampler keys on these)."""

    READS_DISAGREE = "reads_disagree"  # valid reads of the track gave different PRO or DEST
    DAMAGE_DISAGREE = "damage_disagree"  # per-frame damage flags differ
    CHECK_DIGIT_FAILURE = "check_digit_failure"  # some frame's read failed its check digit
    LOW_CONFIDENCE_READ = "low_confidence_read"  # check digit fine, but the reader declined to answer
    NO_VALID_READ = "no_valid_read"  # a label was seen but never read validly


class DecisionPolicy(_Frozen):
    # the served model's operating point (chosen on the tuning set with the model, `processing.DAMAGE_THRESHOLD`):
    # the pass is judged on the mean of the same per-frame scores, so the frames' flags and the pass's agree
    damage_threshold: float = Field(default=DAMAGE_THRESHOLD, ge=0.0, le=1.0,
                                     title="mean damage score at or above which a pass is damaged")


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _weighted_winner(votes: list[tuple[str, float]]) -> tuple[str | None, float, int]:
    """The value with the largest total weight (ties: the one seen first), its weight share, and distinct count."""
    if not votes:
        return None, 0.0, 0
    weight: dict[str, float] = defaultdict(float)
    order: list[str] = []
    for value, w in votes:
        if value not in weight:
            order.append(value)
        weight[value] += max(w, 0.0)
    winner = max(order, key=lambda v: (weight[v], -order.index(v)))
    total = sum(weight.values())
    share = weight[winner] / total if total > 0 else 1.0 / len(order)
    return winner, share, len(order)


def merged_model_versions(observations: list[TrackObservation]) -> dict[str, str]:
    """Each model's version over the track; a version that changed mid-track reads '1+2' (order of appearance)."""
    seen: dict[str, list[str]] = {}
    for obs in observations:
        for model, version in obs.model_versions.items():
            versions = seen.setdefault(model, [])
            if version not in versions:
                versions.append(version)
    return {model: "+".join(versions) for model, versions in seen.items()}


def decide_pass(site_id: str, camera_id: str, pass_id: str, observations: list[TrackObservation],
                policy: DecisionPolicy | None = None) -> PalletPassDecision:
    """The decision of one pass.

    PRO: confidence-weighted vote over check-digit-valid reads only; DEST: the same vote over the reads that
    gave the winning PRO. `reads_agree` is false when valid reads differ in either. `read_confidence` is the mean
    confidence of the reads that gave the winning PRO times the winner's share of the vote, so a disputed
    read is less confident than an unanimous one. Damage: mean per-frame damage score against the policy's
    threshold; `damage_agree` is false when the per-frame flags differ.
    """
    if not observations:
        raise ValueError("a pass needs at least one observation")
    policy = policy or DecisionPolicy()
    valid = [o.read for o in observations if o.read is not None and o.read.valid]
    pro, pro_share, distinct_pros = _weighted_winner([(r.pro, r.read_confidence) for r in valid if r.pro])
    agreeing = [r for r in valid if r.pro == pro]
    dest, _, _ = _weighted_winner([(r.valid_dest, r.read_confidence) for r in agreeing if r.valid_dest])
    distinct_dests = len({r.valid_dest for r in valid if r.valid_dest})
    winners = [r.read_confidence for r in agreeing]
    read_confidence = (sum(winners) / len(winners)) * pro_share if winners else 0.0
    damage_score = sum(o.damage_score for o in observations) / len(observations)
    flags = {o.damaged for o in observations}
    return PalletPassDecision(
        site_id=site_id,
        camera_id=camera_id,
        pass_id=pass_id,
        pro=pro,
        dest=dest,
        read_confidence=_clamp(read_confidence),
        reads_agree=distinct_pros <= 1 and distinct_dests <= 1,
        damaged=damage_score >= policy.damage_threshold,
        damage_score=_clamp(damage_score),
        damage_agree=len(flags) <= 1,
        detection_score=_clamp(sum(o.score for o in observations) / len(observations)),
        frame_ids=[o.frame_id for o in observations],
        first_seen=observations[0].timestamp,
        last_seen=observations[-1].timestamp,
        model_versions=merged_model_versions(observations),
    )


def pass_flags(observations: list[TrackObservation]) -> frozenset[PassFlag]:
    """The second-look flags of a track, from its per-frame reads and damage flags."""
    reads = [o.read for o in observations if o.read is not None]
    valid = [r for r in reads if r.valid]
    found: set[PassFlag] = set()
    if len({r.pro for r in valid}) > 1 or len({r.valid_dest for r in valid if r.valid_dest}) > 1:
        found.add(PassFlag.READS_DISAGREE)
    if len({o.damaged for o in observations}) > 1:
        found.add(PassFlag.DAMAGE_DISAGREE)
    if any(not r.check_digit_ok for r in reads):
        found.add(PassFlag.CHECK_DIGIT_FAILURE)
    if any(r.check_digit_ok and not r.valid for r in reads):
        found.add(PassFlag.LOW_CONFIDENCE_READ)
    if reads and not valid:
        found.add(PassFlag.NO_VALID_READ)
    return frozenset(found)
