"""Hard-negative sampling policy: which frames a camera keeps, chosen by how informative they are, not by arrival.

A pure policy: no I/O, the time is passed in, the randomness is an injected `random.Random`. The ingest calls
`on_frame` for every frame and `on_pass` once per finished pallet pass; the caller holds the frames the policy
names (`pending_frames`) until the policy admits them (`admitted`, handed back by `on_frame` or `flush`) or lets
them go.

How the upload budget is spent (the product target: >= 95% of wrong decisions captured at <= 0.5% of frames):
- Evidence is gathered per pass. Frame-level evidence (a low-confidence read, a check-digit failure, a weak
  detection) is remembered per frame; when a pass ends, its own evidence (manifest disagreement, reads or damage
  flags that disagree between its frames, an unread or barely read label, an uncertain damage score) and its
  frames' evidence make ONE candidate: the pass's most informative frame. However many of its frames were
  flagged, a pass costs at most `frames_per_pass` uploads (1).
- Frames with frame-level evidence become candidates of their own too (with a cooldown per reason), so a
  pallet the tracker never counted can still be kept; a pass that ends takes over its frames' candidates.
- Candidates wait for the end of their admission window (`window_frames` frames of the camera). Then the
  candidates are admitted in priority order while the camera's budget lasts; the rest are let go. The budget is
  a token bucket refilled per frame seen (`budget_share`), starting at `budget_start` and holding at most
  `budget_burst` tokens, so over any stretch a camera keeps at most `budget_start + budget_share * frames`
  hard cases, at any frame rate. Only the best `budget_burst` candidates can ever be admitted at once, so no
  more are held. A per-minute cap (`admit_per_minute`) bounds a racing camera on the wall clock as well.
- The random baseline is separate and small: `random_rate` of frames, kept at once (an unbiased sample needs
  no ranking), paid from a bucket of its own, so it never takes a hard case's place.

Priority (`SamplerConfig.priority`): the evidence adds up. The strongest reason's weight plus half the weight of
each further pass-level reason plus a small bonus per frame-level one, so a pass that is unread AND contradicts
the manifest AND changed its mind between frames outranks a pass with one doubt.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.decisions import PalletPassDecision
from contracts.predictions import FramePrediction
from contracts.samples import SampleReason
from model_repository.processing import DAMAGE_THRESHOLD

DEFAULT_WEIGHTS: dict[SampleReason, float] = {
    SampleReason.MANIFEST_DISAGREEMENT: 6.0,
    SampleReason.TRACK_OCR_DISAGREEMENT: 5.0,
    SampleReason.CHECK_DIGIT_FAILURE: 4.0,
    SampleReason.LOW_CONFIDENCE_READ: 3.0,
    SampleReason.UNCERTAIN_DAMAGE: 3.0,
    SampleReason.LOW_CONFIDENCE_DETECTION: 2.0,
    # a per-frame damage flag that flickers while the pass's mean score sits well away from the threshold is weak
    # evidence (UNCERTAIN_DAMAGE is the strong one): on the v1 models most flickering passes are decided right
    SampleReason.TRACK_DAMAGE_DISAGREEMENT: 2.0,
    # a confident read far from every listed PRO: most likely a pallet really not on the manifest, which the model
    # read right; a person's business, little for the model to learn
    SampleReason.UNEXPECTED_PALLET: 1.0,
    SampleReason.RANDOM_BASELINE: 1.0,
}
FRAME_LEVEL = frozenset({SampleReason.CHECK_DIGIT_FAILURE, SampleReason.LOW_CONFIDENCE_READ,
                         SampleReason.LOW_CONFIDENCE_DETECTION})
# Evidence from outside the model that its decision is wrong (at a door with a truck manifest: the manifest
# contradicts the decision, or nothing was read; `site_decisions.manifest_evidence`): on the bench it flags wrong
# passes only (`edgecv bench sampler`: 14 wrong, 0 correct), where doubts
# (a read that flickers between frames, a weak read) flag four correct passes for each wrong one.
DECISIVE_REASONS = frozenset({SampleReason.MANIFEST_DISAGREEMENT})
# A pass's mean damage score this close to the decision threshold (in logits: the band 0.35-0.65 around 0.5) is
# uncertain. The band follows the served threshold (`processing.DAMAGE_THRESHOLD`, the pass decision's too).
UNCERTAIN_DAMAGE_LOGITS = 0.62


def damage_band(threshold: float = DAMAGE_THRESHOLD, half_width: float = UNCERTAIN_DAMAGE_LOGITS
                ) -> tuple[float, float]:
    """The damage scores within `half_width` logits of `threshold`: (low, high)."""
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    centre = math.log(t / (1 - t))
    return (round(1 / (1 + math.exp(-(centre - half_width))), 3), round(1 / (1 + math.exp(-(centre + half_width))), 3))


UNCERTAIN_DAMAGE_BAND = damage_band()
EXTRA_REASON_SHARE = 0.5  # each further pass-level reason adds this share of its weight
FRAME_EVIDENCE_BONUS = 0.25  # each frame-level reason seen in a pass's frames (and not the pass's own) adds this
FRAME_ONLY_SHARE = 0.5  # a frame's doubts alone (no pass vouches for them) rank at this share of their priority


class SamplerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read_confidence_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, title="A frame's read below this confidence is a low-confidence read")
    pass_read_confidence_threshold: float = Field(
        default=0.7, ge=0.0, le=1.0, title="A pass whose best valid read is below this is a low-confidence read")
    detection_score_low: float = Field(
        default=0.45, ge=0.0, le=1.0, title="A pallet or label detection scored below this is a weak detection")
    damage_uncertain_low: float = Field(default=UNCERTAIN_DAMAGE_BAND[0], ge=0.0, le=1.0,
                                        title="Uncertain damage band, lower end")
    damage_uncertain_high: float = Field(default=UNCERTAIN_DAMAGE_BAND[1], ge=0.0, le=1.0,
                                         title="Uncertain damage band, upper end")
    random_rate: float = Field(default=0.0005, ge=0.0, le=0.05,
                               title="Share of frames kept at random (baseline), on a budget of its own")
    random_burst: int = Field(default=4, ge=1, le=100, title="Random-baseline frames a camera may save up")
    frames_per_pass: int = Field(default=1, ge=1, le=8, title="Frames kept from one admitted pass")
    frame_cooldown_s: float = Field(
        default=30.0, ge=0.0, le=3600.0,
        title="Seconds before the same frame-level reason makes another candidate per camera")
    budget_share: float = Field(default=0.0045, gt=0.0, le=0.1,
                                title="Share of a camera's frames that may be kept as hard cases")
    budget_start: int = Field(default=1, ge=0, le=1000, title="Hard-case tokens a camera starts with")
    budget_burst: int = Field(default=8, ge=1, le=1000,
                              title="Most hard-case tokens a camera saves up; also the most candidates held")
    window_frames: int = Field(default=900, ge=1, le=1_000_000,
                               title="Frames of a camera per admission window (candidates compete within one)")
    admit_per_minute: float = Field(default=12.0, gt=0.0, le=6000.0,
                                    title="Cap of hard-case frames admitted per minute (wall clock)")
    admit_burst: int = Field(default=8, ge=1, le=1000, title="Hard-case frames a camera may admit at once")
    history_frames: int = Field(default=1024, ge=16, le=100_000, title="Frames remembered per camera for on_pass")
    weights: dict[SampleReason, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS), title="Weight of each reason's evidence")
    decisive_reasons: frozenset[SampleReason] = Field(
        default=DECISIVE_REASONS,
        title="Evidence that the decision itself is wrong, not only doubtful: such candidates are admitted first")
    decisive_reserve: int = Field(
        default=4, ge=0, le=1000,
        title="Hard-case tokens only decisive evidence may spend: other candidates spend what a camera saved above"
              " (at most budget_burst)")

    def weight(self, reason: SampleReason) -> float:
        return max(0.0, self.weights.get(reason, DEFAULT_WEIGHTS[reason]))

    def priority(self, reasons: Collection[SampleReason], frame_evidence: Collection[SampleReason] = ()) -> float:
        """How informative a capture is: the strongest reason, plus a share of each further one, plus a small
        bonus per frame-level reason seen in the pass's frames that is not already among `reasons`."""
        weights = sorted((self.weight(r) for r in set(reasons)), reverse=True)
        if not weights:
            return 0.0
        bonus = FRAME_EVIDENCE_BONUS * len(set(frame_evidence) - set(reasons))
        return weights[0] + EXTRA_REASON_SHARE * sum(weights[1:]) + bonus


class Verdict(StrEnum):
    CAPTURE = "capture"  # keep now (the random baseline)
    PENDING = "pending"  # a candidate: hold its frame until the window closes
    NOTHING = "nothing"  # nothing informative about this frame or pass
    COOLDOWN = "cooldown"  # informative, but the same frame-level reason made a candidate a moment ago
    RATE_LIMITED = "rate_limited"  # the random baseline drew this frame, but its budget is spent
    OUTRANKED = "outranked"  # informative, but the window already holds enough better candidates
    ALREADY_CAPTURED = "already_captured"  # a frame of the pass was already kept


class Admission(BaseModel):
    """A frame the policy keeps: store it now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str
    frame_id: int
    reasons: list[SampleReason] = Field(min_length=1)
    priority: float = Field(ge=0.0)
    pass_id: str | None = None


class FrameSampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    reasons: list[SampleReason] = Field(default_factory=list)  # why it is informative (also when not captured)
    priority: float = 0.0
    admitted: list[Admission] = Field(default_factory=list)  # a window closed on this call: store these now

    @property
    def capture(self) -> bool:
        return self.verdict is Verdict.CAPTURE


class PassSampling(FrameSampling):
    frame_ids: list[int] = Field(default_factory=list)  # the frames held as this pass's candidate


class SamplerCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frames_seen: int = 0
    passes_seen: int = 0
    frames_captured: int = 0  # frames kept: random baseline + admitted candidates
    candidates: int = 0  # candidates that entered a window
    admitted: int = 0  # candidates admitted (each keeps 1..frames_per_pass frames)
    let_go: int = 0  # candidates not admitted when their window closed (budget spent on better ones)
    outranked: int = 0  # candidates pushed out of a full window by better ones (or never let in)
    by_reason: dict[str, int] = Field(default_factory=dict)  # captures per reason
    by_verdict: dict[str, int] = Field(default_factory=dict)  # calls per verdict


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled continuously at `per_second` (per unit of whatever clock is passed in)."""

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


@dataclass(frozen=True)
class Candidate:
    """Something worth keeping, waiting for its window to close."""

    key: str  # the pass id, or "frame-<id>" for a frame-level candidate
    frame_ids: tuple[int, ...]  # most informative first
    reasons: tuple[SampleReason, ...]
    priority: float
    order: int  # arrival within the camera (ties go to the earlier one)
    pass_id: str | None = None
    decisive: bool = False  # carries decisive evidence (SamplerConfig.decisive_reasons)

    def rank(self) -> tuple[bool, float, int]:
        return (not self.decisive, -self.priority, self.order)


def rank_candidates(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Best first: decisive evidence, then the highest priority, then the earliest."""
    return sorted(candidates, key=Candidate.rank)


def admit(candidates: Iterable[Candidate], tokens: int, taken: Collection[int] = (), reserve: int = 0
          ) -> tuple[list[tuple[Candidate, tuple[int, ...]]], list[Candidate]]:
    """Spend `tokens` frames on the best candidates: (candidate, the frames it keeps) in rank order, and those
    let go. The last `reserve` tokens are for decisive candidates only (a burst of wrong decisions finds them).

    A candidate keeps up to all its frames; one short of tokens keeps what is left (at least one frame). A frame
    is kept once: frames in `taken` or kept for a better candidate are not paid for again, and a candidate with
    none left is covered already (neither admitted nor let go)."""
    kept = set(taken)
    admitted: list[tuple[Candidate, tuple[int, ...]]] = []
    let_go: list[Candidate] = []
    for candidate in rank_candidates(candidates):
        fresh = tuple(f for f in candidate.frame_ids if f not in kept)
        if not fresh:
            continue
        frames = fresh[:tokens if candidate.decisive else max(0, tokens - reserve)]
        if frames:
            admitted.append((candidate, frames))
            kept.update(frames)
            tokens -= len(frames)
        else:
            let_go.append(candidate)
    return admitted, let_go


@dataclass
class _FrameMemo:
    interest: float
    reasons: frozenset[SampleReason]
    read_confidence: float  # the weakest read in the frame (1.0 without one)
    captured: bool = False


@dataclass
class _CameraState:
    budget: TokenBucket  # hard cases; its clock is the camera's frame count
    random_budget: TokenBucket  # the random baseline; frame count too
    admit_flood: TokenBucket  # wall clock
    frames: int = 0
    window_start: int = 0  # frame count at which the current window opened
    arrivals: int = 0
    last_fired: dict[SampleReason, float] = field(default_factory=dict)
    history: OrderedDict[int, _FrameMemo] = field(default_factory=OrderedDict)
    pending: dict[str, Candidate] = field(default_factory=dict)


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
    if decision.pro is None or decision.read_confidence < config.pass_read_confidence_threshold:
        reasons.append(SampleReason.LOW_CONFIDENCE_READ)  # no valid read (the decision lacks its PRO), or a weak one
    if decision.pro is None and decision.read_confidence <= 0.0:
        reasons.append(SampleReason.LOW_CONFIDENCE_DETECTION)  # no label read at all: was it even found?
    if decision.detection_score < config.detection_score_low:
        reasons.append(SampleReason.LOW_CONFIDENCE_DETECTION)
    if config.damage_uncertain_low <= decision.damage_score <= config.damage_uncertain_high:
        reasons.append(SampleReason.UNCERTAIN_DAMAGE)
    return list(dict.fromkeys(reasons))


def best_frames(candidates: Sequence[int], memos: dict[int, _FrameMemo], n: int) -> list[int]:
    """The `n` most informative frames of a pass: most evidence, then the weakest read, then nearest the middle."""
    middle = (len(candidates) - 1) / 2
    position = {f: i for i, f in enumerate(candidates)}

    def key(f: int) -> tuple[float, float, float, int]:
        memo = memos.get(f)
        interest, confidence = (memo.interest, memo.read_confidence) if memo else (0.0, 1.0)
        return (-interest, confidence, abs(position[f] - middle), position[f])

    return sorted(candidates, key=key)[:n]


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
                budget=TokenBucket(c.budget_burst, c.budget_share, tokens=min(c.budget_start, c.budget_burst),
                                   last=0),
                random_budget=TokenBucket(c.random_burst, c.random_rate, tokens=0.0, last=0),
                admit_flood=TokenBucket(c.admit_burst, c.admit_per_minute / 60.0),
            )
            self._cameras[camera_id] = state
        return state

    def pending_frames(self, camera_id: str) -> set[int]:
        """The frames the caller must still hold for this camera (its candidates' frames)."""
        state = self._cameras.get(camera_id)
        if state is None:
            return set()
        return {f for c in state.pending.values() for f in c.frame_ids}

    def _count(self, verdict: Verdict) -> None:
        self.counters.by_verdict[verdict.value] = self.counters.by_verdict.get(verdict.value, 0) + 1

    def _count_capture(self, reasons: Iterable[SampleReason], frames: int) -> None:
        c = self.counters
        c.frames_captured += frames
        for reason in reasons:
            c.by_reason[reason.value] = c.by_reason.get(reason.value, 0) + 1

    def _offer(self, state: _CameraState, candidate: Candidate) -> bool:
        """Put a candidate into the window; when it is full the worst one goes (perhaps the newcomer)."""
        state.pending[candidate.key] = candidate
        self.counters.candidates += 1
        if len(state.pending) <= self.config.budget_burst:
            return True
        worst = rank_candidates(state.pending.values())[-1]
        del state.pending[worst.key]
        self.counters.outranked += 1
        return worst.key != candidate.key

    def _close_window(self, camera_id: str, state: _CameraState, now: float) -> list[Admission]:
        tokens = int(min(state.budget.refill(state.frames), state.admit_flood.refill(now)) + 1e-9)
        taken = {f for c in state.pending.values() for f in c.frame_ids
                 if f in state.history and state.history[f].captured}
        reserve = min(self.config.decisive_reserve, self.config.budget_burst)
        chosen, let_go = admit(state.pending.values(), tokens, taken, reserve)
        out: list[Admission] = []
        for candidate, frames in chosen:
            state.budget.tokens -= len(frames)
            state.admit_flood.tokens -= len(frames)
            for frame_id in frames:
                if frame_id in state.history:
                    state.history[frame_id].captured = True
                out.append(Admission(camera_id=camera_id, frame_id=frame_id, reasons=list(candidate.reasons),
                                     priority=candidate.priority, pass_id=candidate.pass_id))
            self._count_capture(candidate.reasons, len(frames))
        self.counters.admitted += len(chosen)
        self.counters.let_go += len(let_go)
        state.pending.clear()
        state.window_start = state.frames
        return out

    def flush(self, now: float, camera_id: str | None = None) -> list[Admission]:
        """Close the open window of one camera (or of all): admit what the budget allows now (end of stream)."""
        ids = [camera_id] if camera_id is not None else list(self._cameras)
        out: list[Admission] = []
        for cid in ids:
            state = self._cameras.get(cid)
            if state is not None and state.pending:
                out += self._close_window(cid, state, now)
        return out

    def on_frame(self, camera_id: str, frame_id: int, prediction: FramePrediction, now: float) -> FrameSampling:
        """Decide about one frame as it comes out of the pipeline; remembered for `on_pass`."""
        config = self.config
        state = self._camera(camera_id)
        self.counters.frames_seen += 1
        state.frames += 1
        reasons = frame_reasons(prediction, config)
        weakest = min((label.read_confidence for label in prediction.labels), default=1.0)
        memo = _FrameMemo(interest=config.priority(reasons), reasons=frozenset(reasons), read_confidence=weakest)
        state.history[frame_id] = memo
        state.history.move_to_end(frame_id)
        while len(state.history) > config.history_frames:
            state.history.popitem(last=False)

        if config.random_rate > 0 and self._rng.random() < config.random_rate:
            reasons = [*reasons, SampleReason.RANDOM_BASELINE]
            if state.random_budget.take(state.frames):
                verdict = Verdict.CAPTURE
                memo.captured = True
                self._count_capture(reasons, 1)
            else:
                verdict = Verdict.RATE_LIMITED
        elif not reasons:
            verdict = Verdict.NOTHING
        elif not [r for r in reasons if now - state.last_fired.get(r, float("-inf")) >= config.frame_cooldown_s]:
            verdict = Verdict.COOLDOWN
        else:
            for reason in reasons:
                state.last_fired[reason] = now
            state.arrivals += 1
            candidate = Candidate(f"frame-{frame_id}", (frame_id,), tuple(reasons),
                                  FRAME_ONLY_SHARE * memo.interest, state.arrivals)
            verdict = Verdict.PENDING if self._offer(state, candidate) else Verdict.OUTRANKED
        self._count(verdict)
        admitted = (self._close_window(camera_id, state, now)
                    if state.frames - state.window_start >= config.window_frames else [])
        return FrameSampling(verdict=verdict, reasons=reasons, priority=config.priority(reasons), admitted=admitted)

    def on_pass(self, decision: PalletPassDecision, now: float, disagreements: Collection[SampleReason] = (),
                frame_ids: Sequence[int] | None = None, prefer: Sequence[int] = ()) -> PassSampling:
        """Make a finished pass one candidate: its most informative frame(s), ranked by all its evidence.

        `disagreements`: reasons only the caller knows, e.g. `MANIFEST_DISAGREEMENT` from reconciliation.
        `frame_ids`: the frames the ingest still holds for this pass (default: the decision's frame ids).
        `prefer`: frames that show the evidence best (a double count: where the pallet's tracks meet); kept first
        when held, before the most informative of the rest.
        The pass takes over the candidates of its own frames, so a pass costs at most `frames_per_pass` frames.
        """
        config = self.config
        state = self._camera(decision.camera_id)
        self.counters.passes_seen += 1
        held = list(dict.fromkeys(decision.frame_ids if frame_ids is None else frame_ids))
        mine = set(decision.frame_ids) | set(held)
        seen = [state.history[f] for f in mine if f in state.history]
        frame_evidence: set[SampleReason] = set().union(*(m.reasons for m in seen)) if seen else set()
        reasons = pass_reasons(decision, config, disagreements)
        # a frame's check-digit failure strengthens a flagged pass; alone it is frame-level evidence
        if reasons and SampleReason.CHECK_DIGIT_FAILURE in frame_evidence:
            reasons.append(SampleReason.CHECK_DIGIT_FAILURE)
        # the pass takes over its frames' candidates: a flagged pass becomes one candidate of its own, and a
        # clean one settled their doubts (its vote gave a confident, agreed read)
        for key in [k for k, c in state.pending.items() if c.pass_id is None and set(c.frame_ids) & mine]:
            del state.pending[key]
        if not reasons:
            self._count(Verdict.NOTHING)
            return PassSampling(verdict=Verdict.NOTHING)
        priority = config.priority(reasons, frame_evidence & FRAME_LEVEL)
        open_frames = [f for f in held if not (f in state.history and state.history[f].captured)]
        if any(state.history[f].captured for f in mine if f in state.history):
            verdict, chosen = Verdict.ALREADY_CAPTURED, []
        elif not open_frames:
            verdict, chosen = Verdict.NOTHING, []  # nothing the ingest could still save
        else:
            first = [f for f in dict.fromkeys(prefer) if f in open_frames][:config.frames_per_pass]
            chosen = first + best_frames([f for f in open_frames if f not in first], state.history,
                                         config.frames_per_pass - len(first))
            state.arrivals += 1
            candidate = Candidate(decision.pass_id, tuple(chosen), tuple(reasons), priority, state.arrivals,
                                  pass_id=decision.pass_id,
                                  decisive=not config.decisive_reasons.isdisjoint(reasons))
            verdict = Verdict.PENDING if self._offer(state, candidate) else Verdict.OUTRANKED
            if verdict is Verdict.OUTRANKED:
                chosen = []
        self._count(verdict)
        return PassSampling(verdict=verdict, reasons=reasons, priority=priority, frame_ids=chosen)
