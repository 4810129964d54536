"""Hard-negative sampling policy: per frame and per finished pallet pass, whether and why to keep a frame.

A pure policy: no I/O, the time is passed in, the randomness is an injected `random.Random`. The ingest calls
`on_frame` for every frame and `on_pass` once per finished pass; what comes back says whether to capture, why
(`SampleReason`s) and how informative the capture is (`priority`: higher is kept longer by the disk buffer).

Selectivity (the product target is >= 95% of wrong decisions captured at <= 0.5% of frames uploaded):
- the budget is a share of each camera's frames (a token bucket refilled per frame seen: `budget_share`,
  0.45% by default, plus `budget_burst`), so the upload rate holds at any frame rate, paced or not;
- pass-level evidence (manifest or between-frame disagreement, an unread or barely read label, an uncertain
  damage score) is what predicts a wrong decision: a flagged pass may spend the whole budget and keeps its
  most informative frames (from what `on_frame` saw of them);
- frame-level triggers (a low-confidence read, a check-digit failure, a weak detection, the random baseline)
  only spend tokens above `frame_reserve`, which stays for passes, and have a cooldown per camera and reason;
- time-based caps per camera and level (`frame_per_minute`/`frame_burst`, `pass_per_minute`/`pass_burst`)
  bound a flood whatever the frame rate, so one stuck or racing camera cannot fill the buffer.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.decisions import PalletPassDecision
from contracts.predictions import FramePrediction
from contracts.samples import SampleReason

DEFAULT_WEIGHTS: dict[SampleReason, float] = {
    SampleReason.MANIFEST_DISAGREEMENT: 6.0,
    SampleReason.TRACK_OCR_DISAGREEMENT: 5.0,
    SampleReason.TRACK_DAMAGE_DISAGREEMENT: 5.0,
    SampleReason.CHECK_DIGIT_FAILURE: 4.0,
    SampleReason.LOW_CONFIDENCE_READ: 3.0,
    SampleReason.UNCERTAIN_DAMAGE: 3.0,
    SampleReason.LOW_CONFIDENCE_DETECTION: 2.0,
    SampleReason.RANDOM_BASELINE: 1.0,
}
EXTRA_REASON_BONUS = 0.25  # each reason beyond the strongest adds this to the priority


class SamplerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read_confidence_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, title="A frame's read below this confidence is a low-confidence read")
    pass_read_confidence_threshold: float = Field(
        default=0.7, ge=0.0, le=1.0, title="A pass whose best valid read is below this is a low-confidence read")
    detection_score_low: float = Field(
        default=0.45, ge=0.0, le=1.0, title="A pallet or label detection scored below this is a weak detection")
    damage_uncertain_low: float = Field(default=0.35, ge=0.0, le=1.0, title="Uncertain damage band, lower end")
    damage_uncertain_high: float = Field(default=0.65, ge=0.0, le=1.0, title="Uncertain damage band, upper end")
    random_rate: float = Field(default=0.0005, ge=0.0, le=0.05, title="Share of frames kept at random (baseline)")
    frames_per_pass: int = Field(default=1, ge=1, le=8, title="Frames kept from one flagged pass")
    frame_cooldown_s: float = Field(
        default=30.0, ge=0.0, le=3600.0, title="Seconds before the same frame-level reason fires again per camera")
    budget_share: float = Field(default=0.0045, gt=0.0, le=0.1, title="Share of a camera's frames that may be kept")
    budget_burst: int = Field(default=8, ge=1, le=1000, title="Samples a camera may take at once from its budget")
    frame_reserve: int = Field(
        default=4, ge=0, le=1000, title="Budget tokens frame-level samples must leave for pass-level ones")
    frame_per_minute: float = Field(default=2.0, gt=0.0, le=6000.0, title="Cap of frame-level samples per minute")
    frame_burst: int = Field(default=2, ge=1, le=1000, title="Frame-level samples a camera may take at once")
    pass_per_minute: float = Field(default=12.0, gt=0.0, le=6000.0, title="Cap of pass-level samples per minute")
    pass_burst: int = Field(default=8, ge=1, le=1000, title="Pass-level samples a camera may take at once")
    history_frames: int = Field(default=1024, ge=16, le=100_000, title="Frames remembered per camera for on_pass")
    weights: dict[SampleReason, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS), title="Priority of each reason (higher = kept longer)")

    def weight(self, reason: SampleReason) -> float:
        return max(0.0, self.weights.get(reason, DEFAULT_WEIGHTS[reason]))

    def priority(self, reasons: Collection[SampleReason]) -> float:
        if not reasons:
            return 0.0
        return max(self.weight(r) for r in reasons) + EXTRA_REASON_BONUS * (len(set(reasons)) - 1)


class Verdict(StrEnum):
    CAPTURE = "capture"
    NOTHING = "nothing"  # nothing informative about this frame or pass
    COOLDOWN = "cooldown"  # informative, but the same reason fired on this camera a moment ago
    RATE_LIMITED = "rate_limited"  # informative, but this camera spent its budget
    ALREADY_CAPTURED = "already_captured"  # every frame of the pass was already kept at frame level


class FrameSampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    reasons: list[SampleReason] = Field(default_factory=list)  # why it is informative (also when not captured)
    priority: float = 0.0

    @property
    def capture(self) -> bool:
        return self.verdict is Verdict.CAPTURE


class PassSampling(FrameSampling):
    frame_ids: list[int] = Field(default_factory=list)  # which of the pass's frames to keep (when captured)


class SamplerCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frames_seen: int = 0
    passes_seen: int = 0
    frames_captured: int = 0  # frames asked for, by on_frame and on_pass together
    by_reason: dict[str, int] = Field(default_factory=dict)  # captures per reason
    by_verdict: dict[str, int] = Field(default_factory=dict)  # calls per verdict


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled continuously at `per_second`; time is passed in."""

    capacity: float
    per_second: float
    tokens: float = -1.0
    last: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def refill(self, now: float) -> float:
        if self.last is not None and now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.per_second)
        self.last = now if self.last is None else max(self.last, now)
        return self.tokens

    def take(self, now: float, n: int = 1) -> bool:
        if self.refill(now) >= n:
            self.tokens -= n
            return True
        return False


@dataclass
class _FrameMemo:
    interest: float
    reasons: frozenset[SampleReason]
    captured: bool = False


@dataclass
class _CameraState:
    budget: TokenBucket  # refilled per frame seen (its clock is the frame count)
    frame_flood: TokenBucket  # refilled per second
    pass_flood: TokenBucket
    frames: int = 0
    last_fired: dict[SampleReason, float] = field(default_factory=dict)
    history: OrderedDict[int, _FrameMemo] = field(default_factory=OrderedDict)


def frame_reasons(prediction: FramePrediction, config: SamplerConfig) -> list[SampleReason]:
    """What is informative about one frame on its own (no randomness, no budget)."""
    reasons: list[SampleReason] = []
    labels = prediction.labels
    if any(label.raw_text and not label.check_digit_ok for label in labels):
        reasons.append(SampleReason.CHECK_DIGIT_FAILURE)
    if any(label.read_confidence < config.read_confidence_threshold for label in labels):
        reasons.append(SampleReason.LOW_CONFIDENCE_READ)
    scores = [d.score for d in (*prediction.pallets, *labels)]
    if any(score < config.detection_score_low for score in scores):
        reasons.append(SampleReason.LOW_CONFIDENCE_DETECTION)
    return reasons


def pass_reasons(decision: PalletPassDecision, config: SamplerConfig,
                 disagreements: Collection[SampleReason] = ()) -> list[SampleReason]:
    """What is informative about a finished pass (no budget). `disagreements` come from reconciliation."""
    reasons = list(dict.fromkeys(disagreements))
    if not decision.reads_agree:
        reasons.append(SampleReason.TRACK_OCR_DISAGREEMENT)
    if not decision.damage_agree:
        reasons.append(SampleReason.TRACK_DAMAGE_DISAGREEMENT)
    if decision.pro is None and decision.read_confidence <= 0.0:
        reasons.append(SampleReason.LOW_CONFIDENCE_DETECTION)  # no label read at all: was it even found?
    elif decision.pro is None or decision.read_confidence < config.pass_read_confidence_threshold:
        reasons.append(SampleReason.LOW_CONFIDENCE_READ)
    if decision.detection_score < config.detection_score_low:
        reasons.append(SampleReason.LOW_CONFIDENCE_DETECTION)
    if config.damage_uncertain_low <= decision.damage_score <= config.damage_uncertain_high:
        reasons.append(SampleReason.UNCERTAIN_DAMAGE)
    return list(dict.fromkeys(reasons))


class HardNegativeSampler:
    """The per-site sampling policy. Not thread-safe: one ingest thread calls it."""

    def __init__(self, config: SamplerConfig | None = None, rng: random.Random | None = None) -> None:
        self.config = config or SamplerConfig()
        self._rng = rng if rng is not None else random.Random()
        self._cameras: dict[str, _CameraState] = {}
        self.counters = SamplerCounters()

    def _camera(self, camera_id: str) -> _CameraState:
        state = self._cameras.get(camera_id)
        if state is None:
            c = self.config
            state = _CameraState(
                budget=TokenBucket(c.budget_burst, c.budget_share),
                frame_flood=TokenBucket(c.frame_burst, c.frame_per_minute / 60.0),
                pass_flood=TokenBucket(c.pass_burst, c.pass_per_minute / 60.0),
            )
            self._cameras[camera_id] = state
        return state

    @staticmethod
    def _spend(state: _CameraState, flood: TokenBucket, now: float, n: int, reserve: int) -> bool:
        """Take n tokens from both the frame-share budget (keeping `reserve`) and a flood cap, or none."""
        if state.budget.refill(state.frames) >= n + reserve and flood.refill(now) >= n:
            state.budget.tokens -= n
            flood.tokens -= n
            return True
        return False

    def _count(self, verdict: Verdict, reasons: Sequence[SampleReason], frames: int) -> None:
        c = self.counters
        c.by_verdict[verdict.value] = c.by_verdict.get(verdict.value, 0) + 1
        if verdict is Verdict.CAPTURE:
            c.frames_captured += frames
            for reason in reasons:
                c.by_reason[reason.value] = c.by_reason.get(reason.value, 0) + 1

    def on_frame(self, camera_id: str, frame_id: int, prediction: FramePrediction, now: float) -> FrameSampling:
        """Decide about one frame as it comes out of the pipeline; remembered for `on_pass`."""
        config = self.config
        state = self._camera(camera_id)
        self.counters.frames_seen += 1
        state.frames += 1
        reasons = frame_reasons(prediction, config)
        memo = _FrameMemo(interest=config.priority(reasons), reasons=frozenset(reasons))
        state.history[frame_id] = memo
        state.history.move_to_end(frame_id)
        while len(state.history) > config.history_frames:
            state.history.popitem(last=False)

        fresh = [r for r in reasons if now - state.last_fired.get(r, float("-inf")) >= config.frame_cooldown_s]
        if config.random_rate > 0 and self._rng.random() < config.random_rate:
            fresh.append(SampleReason.RANDOM_BASELINE)
            reasons = [*reasons, SampleReason.RANDOM_BASELINE]
        if not reasons:
            verdict = Verdict.NOTHING
        elif not fresh:
            verdict = Verdict.COOLDOWN
        elif not self._spend(state, state.frame_flood, now, 1, config.frame_reserve):
            verdict = Verdict.RATE_LIMITED
        else:
            verdict = Verdict.CAPTURE
            for reason in fresh:
                state.last_fired[reason] = now
            memo.captured = True
        self._count(verdict, reasons, 1)
        return FrameSampling(verdict=verdict, reasons=reasons, priority=config.priority(reasons))

    def on_pass(self, decision: PalletPassDecision, now: float, disagreements: Collection[SampleReason] = (),
                frame_ids: Sequence[int] | None = None) -> PassSampling:
        """Decide about a finished pass and choose which of its frames to keep.

        `disagreements`: reasons only the caller knows, e.g. `MANIFEST_DISAGREEMENT` from reconciliation.
        `frame_ids`: the frames the ingest still holds for this pass (default: the decision's frame ids).
        The frames kept are the most informative ones `on_frame` saw, ties broken towards the middle of
        the pass; frames already kept at frame level are not asked for twice.
        """
        config = self.config
        state = self._camera(decision.camera_id)
        self.counters.passes_seen += 1
        candidates = list(dict.fromkeys(decision.frame_ids if frame_ids is None else frame_ids))
        reasons = pass_reasons(decision, config, disagreements)
        seen = [state.history[f] for f in candidates if f in state.history]
        # a frame's check-digit failure strengthens a flagged pass; alone it is the frame level's business
        # (a pass whose vote still gave a confident valid read is rarely a wrong decision)
        if reasons and SampleReason.CHECK_DIGIT_FAILURE in frozenset().union(*(m.reasons for m in seen)):
            reasons.append(SampleReason.CHECK_DIGIT_FAILURE)
        priority = config.priority(reasons)
        open_frames = [f for f in candidates if not (f in state.history and state.history[f].captured)]
        chosen: list[int] = []
        if not reasons:
            verdict = Verdict.NOTHING
        elif candidates and not open_frames:
            verdict = Verdict.ALREADY_CAPTURED
        elif not open_frames:
            verdict = Verdict.NOTHING  # nothing the ingest could still save
        else:
            middle = (len(candidates) - 1) / 2
            position = {f: i for i, f in enumerate(candidates)}
            ranked = sorted(open_frames, key=lambda f: (
                -(state.history[f].interest if f in state.history else 0.0), abs(position[f] - middle), position[f]))
            picked = ranked[:config.frames_per_pass]
            while picked and not self._spend(state, state.pass_flood, now, len(picked), 0):
                picked.pop()  # short of budget: drop the least informative frame and try again
            chosen = sorted(picked, key=position.__getitem__)
            if chosen:
                verdict = Verdict.CAPTURE
                for f in chosen:
                    if f in state.history:
                        state.history[f].captured = True
            else:
                verdict, chosen = Verdict.RATE_LIMITED, []
        self._count(verdict, reasons, len(chosen))
        return PassSampling(verdict=verdict, reasons=reasons, priority=priority, frame_ids=chosen)
