"""Count each pallet once per pass across a camera's view: an IoU tracker with a constant-velocity motion model.

Per frame, every live track predicts its box (each edge moves at its own smoothed velocity, so a box clipped
at the frame's edge, whose one side stands still while the other moves, is predicted right), and detections
are matched to predictions greedily by IoU. A track counts once it has `min_hits` detections (one-frame false
positives never do) and ends after more than `max_missed_frames` consecutive frames without a detection
(so a detection blinking out for a frame or two does not split a pass). An ended, counted track becomes a
`FinishedPass`: its `PalletPassDecision` plus the per-frame observations the hard-negative sampler needs.

A pallet's track still breaks now and then: a second box on the same pallet for a few frames, a box clipped at the
frame's edge that moves unlike the prediction. An ended track therefore waits `merge_gap_frames` before it is a
pass; if meanwhile another track (live or waiting) read the same PRO and touches it in space and time, the two are
one pallet and the ended one is folded into the other (`same_pallet`), so the pallet is counted once.

No Triton or AWS here: the ingest calls `update()` once per frame with the pipeline's `FramePrediction`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.decisions import PalletPassDecision
from contracts.evaluation import iou
from contracts.predictions import FramePrediction
from edge_appliance.pass_decision import DecisionPolicy, PassFlag, TrackObservation, decide_pass, pass_flags

Box = tuple[float, float, float, float]


class TrackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_hits: int = Field(default=3, ge=1, le=100, title="detections before a track counts as a pallet pass")
    max_missed_frames: int = Field(default=2, ge=0, le=100,
                                   title="consecutive frames without a detection a track survives")
    min_iou: float = Field(default=0.1, gt=0.0, le=1.0, title="least IoU between a prediction and a detection")
    velocity_smoothing: float = Field(default=0.5, gt=0.0, le=1.0,
                                      title="weight of the newest per-frame displacement in the velocity estimate")
    min_detection_score: float = Field(default=0.0, ge=0.0, le=1.0, title="detections below this are ignored")
    merge_fragments: bool = Field(default=True, title="fold an ended track into a track of the same pallet")
    merge_gap_frames: int = Field(
        default=6, ge=0, le=100,
        title="frames an ended track waits for a track of the same pallet (same PRO, touching) to fold into")
    merge_min_overlap: float = Field(
        default=0.3, gt=0.0, le=1.0,
        title="least overlap (intersection over the smaller box) for two tracks to touch")
    decision: DecisionPolicy = Field(default_factory=DecisionPolicy)


class TrackState(StrEnum):
    TENTATIVE = "tentative"  # fewer than min_hits detections so far
    CONFIRMED = "confirmed"  # counts as a pallet pass
    ENDED = "ended"  # out of view for too long (or flushed); a confirmed one became a FinishedPass
    DISCARDED = "discarded"  # ended before it was confirmed: a false positive


class FinishedPass(BaseModel):
    """One pallet pass: the decision and the evidence behind it, frame by frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track_id: int
    decision: PalletPassDecision
    observations: tuple[TrackObservation, ...]
    flags: frozenset[PassFlag]

    def frames_by_pro(self) -> dict[str | None, list[int]]:
        """Frame ids per PRO read validly in them; key None: frames with a label but no valid read."""
        out: dict[str | None, list[int]] = {}
        for obs in self.observations:
            if obs.read is not None:
                out.setdefault(obs.read.pro if obs.read.valid else None, []).append(obs.frame_id)
        return out

    def disagreeing_frames(self) -> list[int]:
        """Frames whose valid read or damage flag differs from the pass's decision (for the sampler)."""
        d = self.decision
        out = []
        for obs in self.observations:
            read_off = obs.read is not None and obs.read.valid and (
                obs.read.pro != d.pro or (obs.read.valid_dest is not None and obs.read.valid_dest != d.dest))
            if read_off or obs.damaged != d.damaged:
                out.append(obs.frame_id)
        return out


class TrackerStep(BaseModel):
    """What one `update()` did: which detection went to which track, and which passes ended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frame_id: int
    assignments: dict[int, int] = Field(default_factory=dict)  # pallet index in the frame -> track id
    confirmed_track_ids: list[int] = Field(default_factory=list)  # tracks counting as passes, live after this frame
    finished: list[FinishedPass] = Field(default_factory=list)


class _Track:
    def __init__(self, track_id: int, observation: TrackObservation) -> None:
        self.track_id = track_id
        self.state = TrackState.TENTATIVE
        self.observations: list[TrackObservation] = [observation]
        self.velocity: Box = (0.0, 0.0, 0.0, 0.0)  # per edge, pixels per frame id
        self.missed = 0

    @property
    def last(self) -> TrackObservation:
        return self.observations[-1]

    def predict(self, frame_id: int) -> Box:
        steps = frame_id - self.last.frame_id
        return tuple(edge + v * steps for edge, v in zip(self.last.bbox, self.velocity, strict=True))  # type: ignore[return-value]

    def add(self, observation: TrackObservation, smoothing: float, min_hits: int) -> None:
        steps = max(1, observation.frame_id - self.last.frame_id)
        moved = [(new - old) / steps for new, old in zip(observation.bbox, self.last.bbox, strict=True)]
        if len(self.observations) == 1:
            self.velocity = tuple(moved)  # type: ignore[assignment]
        else:
            self.velocity = tuple(  # type: ignore[assignment]
                smoothing * m + (1 - smoothing) * v for m, v in zip(moved, self.velocity, strict=True))
        self.observations.append(observation)
        self.missed = 0
        if self.state is TrackState.TENTATIVE and len(self.observations) >= min_hits:
            self.state = TrackState.CONFIRMED


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (1.0 when one box holds the other)."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


def voted_pro(observations: list[TrackObservation]) -> str | None:
    """The PRO the track's valid reads vote for (the pass decision's rule), None without a valid read."""
    valid = [o for o in observations if o.read is not None and o.read.valid and o.read.pro]
    if not valid:
        return None
    return decide_pass("-", "-", "-", valid).pro


def same_pallet(a: list[TrackObservation], b: list[TrackObservation], max_gap: int, min_overlap: float) -> bool:
    """Two tracks of one pallet: both read the same PRO, and they touch: in a frame both saw, their boxes overlap;
    or one began within `max_gap` frames after the other's last detection, where that one's last box was."""
    pro = voted_pro(a)
    if pro is None or pro != voted_pro(b):
        return False
    boxes_b = {o.frame_id: o.bbox for o in b}
    if any(o.frame_id in boxes_b and overlap(o.bbox, boxes_b[o.frame_id]) >= min_overlap for o in a):
        return True
    first, second = (a, b) if a[0].frame_id <= b[0].frame_id else (b, a)
    gap = second[0].frame_id - first[-1].frame_id
    if not 0 < gap <= max_gap:
        return False
    return max(overlap(first[-1].bbox, second[0].bbox),
               overlap(extrapolate(first, second[0].frame_id), second[0].bbox)) >= min_overlap


def extrapolate(observations: list[TrackObservation], frame_id: int, history: int = 5) -> Box:
    """The track's last box moved on to `frame_id` at its mean per-frame motion over its last `history` boxes."""
    recent = observations[-history:]
    last = recent[-1]
    span = last.frame_id - recent[0].frame_id
    if span <= 0:
        return last.bbox
    steps = frame_id - last.frame_id
    return tuple(e + (e - e0) / span * steps for e, e0 in zip(last.bbox, recent[0].bbox, strict=True))  # type: ignore[return-value]


def merge_observations(a: list[TrackObservation], b: list[TrackObservation]) -> list[TrackObservation]:
    """One track's observations from two: in frame order, one per frame (the better-scored detection)."""
    best: dict[int, TrackObservation] = {}
    for o in [*a, *b]:
        if o.frame_id not in best or o.score > best[o.frame_id].score:
            best[o.frame_id] = o
    return [best[f] for f in sorted(best)]


def _greedy_match(predicted: list[Box], detected: list[Box], min_iou: float) -> list[tuple[int, int]]:
    """Pairs (track index, detection index), best IoU first, each side used at most once."""
    pairs = sorted(((iou(p, d), ti, di) for ti, p in enumerate(predicted) for di, d in enumerate(detected)),
                   key=lambda x: (-x[0], x[1], x[2]))
    used_t: set[int] = set()
    used_d: set[int] = set()
    out = []
    for score, ti, di in pairs:
        if score < min_iou:
            break
        if ti in used_t or di in used_d:
            continue
        used_t.add(ti)
        used_d.add(di)
        out.append((ti, di))
    return out


class PalletTracker:
    """Tracks pallets on one camera; `update()` once per frame in frame order, `flush()` at end of stream.

    `pass_id` is f"{camera_id}-{track_id}-{first_frame_id}". Track ids count up from `first_track_id`: a
    process that restarts and restarts its frame counter too should start past the ids it already used
    (e.g. from a persisted counter) so pass ids stay unique per site.
    """

    def __init__(self, site_id: str, camera_id: str, config: TrackerConfig | None = None,
                 first_track_id: int = 1) -> None:
        self.site_id = site_id
        self.camera_id = camera_id
        self.config = config or TrackerConfig()
        self._next_id = first_track_id
        self._tracks: list[_Track] = []
        self._waiting: list[_Track] = []  # ended and counted, waiting `merge_gap_frames` for a track to fold into
        self._last_frame_id: int | None = None
        self.passes_counted = 0
        self.false_positives_discarded = 0
        self.fragments_merged = 0  # ended tracks folded into a track of the same pallet

    @property
    def next_track_id(self) -> int:
        return self._next_id

    def update(self, frame_id: int, timestamp: float, prediction: FramePrediction) -> TrackerStep:
        if self._last_frame_id is not None and frame_id <= self._last_frame_id:
            raise ValueError(f"frame ids must increase: got {frame_id} after {self._last_frame_id}")
        self._last_frame_id = frame_id
        cfg = self.config
        candidates = [i for i, p in enumerate(prediction.pallets) if p.score >= cfg.min_detection_score]
        observations = {
            i: TrackObservation.from_detection(frame_id, timestamp, prediction.pallets[i], prediction.labels,
                                               prediction.model_versions)
            for i in candidates
        }
        predicted = [t.predict(frame_id) for t in self._tracks]
        matches = _greedy_match(predicted, [observations[i].bbox for i in candidates], cfg.min_iou)
        assignments: dict[int, int] = {}
        matched_tracks: set[int] = set()
        for ti, di in matches:
            track = self._tracks[ti]
            pallet_index = candidates[di]
            track.add(observations[pallet_index], cfg.velocity_smoothing, cfg.min_hits)
            assignments[pallet_index] = track.track_id
            matched_tracks.add(ti)
        finished: list[FinishedPass] = []
        alive: list[_Track] = []
        for ti, track in enumerate(self._tracks):
            if ti not in matched_tracks:
                track.missed += 1
                if track.missed > cfg.max_missed_frames:
                    self._end(track, finished)
                    continue
            alive.append(track)
        for pallet_index in candidates:
            if pallet_index not in assignments:
                track = _Track(self._next_id, observations[pallet_index])
                self._next_id += 1
                if cfg.min_hits <= 1:
                    track.state = TrackState.CONFIRMED
                alive.append(track)
                assignments[pallet_index] = track.track_id
        self._tracks = alive
        self._settle(frame_id, finished)
        confirmed = [t.track_id for t in alive if t.state is TrackState.CONFIRMED]
        return TrackerStep(frame_id=frame_id, assignments=assignments, confirmed_track_ids=confirmed,
                           finished=finished)

    def flush(self) -> list[FinishedPass]:
        """End every live track (end of stream); confirmed ones become passes."""
        finished: list[FinishedPass] = []
        for track in self._tracks:
            self._end(track, finished)
        self._tracks = []
        self._settle(None, finished)
        return finished

    def _end(self, track: _Track, finished: list[FinishedPass]) -> None:
        if track.state is not TrackState.CONFIRMED:
            track.state = TrackState.DISCARDED
            self.false_positives_discarded += 1
            return
        track.state = TrackState.ENDED
        if self.config.merge_fragments:
            self._waiting.append(track)
        else:
            self._finish(track, finished)

    def _settle(self, frame_id: int | None, finished: list[FinishedPass]) -> None:
        """Ended tracks whose wait is over (all of them at `flush`, frame_id None): folded into a track of the same
        pallet, live or waiting, or else finished as a pass."""
        cfg = self.config
        waiting, self._waiting = self._waiting, []
        for i, track in enumerate(waiting):
            if frame_id is not None and frame_id - track.last.frame_id <= cfg.merge_gap_frames:
                self._waiting.append(track)
                continue
            others = [*self._tracks, *self._waiting, *waiting[i + 1:]]
            partner = next((t for t in others if same_pallet(track.observations, t.observations,
                                                             cfg.merge_gap_frames, cfg.merge_min_overlap)), None)
            if partner is None:
                self._finish(track, finished)
                continue
            partner.observations = merge_observations(partner.observations, track.observations)
            if partner.state is TrackState.TENTATIVE:
                partner.state = TrackState.CONFIRMED  # a counted pallet's track: it counts
            self.fragments_merged += 1

    def _finish(self, track: _Track, finished: list[FinishedPass]) -> None:
        observations = list(track.observations)
        pass_id = f"{self.camera_id}-{track.track_id}-{observations[0].frame_id}"
        decision = decide_pass(self.site_id, self.camera_id, pass_id, observations, self.config.decision)
        finished.append(FinishedPass(track_id=track.track_id, decision=decision, observations=tuple(observations),
                                     flags=pass_flags(observations)))
        self.passes_counted += 1
