"""What a site does with each decided frame: track pallets into passes, log each pass as evidence, reconcile the
door's truck against its manifest, and offer hard negatives to the sampler (frames handed to the capture writer).

This is the ingest's sink (`FrameSink`); every I/O piece is injected and optional, so tests and benchmarks wire
only what they need.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from contracts.annotations import TruckManifest
from contracts.decisions import PalletPassDecision, ReconciliationReport
from contracts.predictions import FramePrediction
from contracts.samples import SampleReason
from edge_appliance.decision_log import DecisionLog
from edge_appliance.hard_negatives import HardNegativeRecorder
from edge_appliance.ingest import DecidedFrame
from edge_appliance.reconciliation import reconcile
from edge_appliance.sources import SourceFrame
from edge_appliance.tracking import FinishedPass, PalletTracker, TrackerConfig

log = logging.getLogger(__name__)


# Weak pallet detections (often a second, partial box behind a carried pallet) do not feed tracks: on the v1 detector
# they made one-off false passes. They still reach the sampler, which sees every detection.
DEFAULT_TRACKER = TrackerConfig(min_detection_score=0.4)


class SiteCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frames: int = 0
    passes: int = 0
    frames_offered: int = 0  # handed to the capture writer
    reads: int = 0
    valid_reads: int = 0
    read_confidence_sum: float = 0.0
    manifest_disagreements: int = 0
    decisions_logged: int = 0
    decision_log_errors: int = 0
    by_camera: dict[str, int] = Field(default_factory=dict)

    @property
    def mean_read_confidence(self) -> float:
        return self.read_confidence_sum / self.reads if self.reads else 0.0


# An unlisted PRO read this close to a listed one (digits that differ) is most likely a misread of it. Two random
# valid PROs are this close with a probability of about 1e-4, so a truck's other pallets are never mistaken for it.
NEAR_MISS_DIGITS = 3


def digits_apart(a: str, b: str) -> int:
    """How many positions two PROs differ in (PROs of different lengths are as far apart as can be)."""
    if len(a) != len(b):
        return max(len(a), len(b))
    return sum(x != y for x, y in zip(a, b, strict=True))


def manifest_evidence(decision: PalletPassDecision, manifest: TruckManifest,
                      seen_before: int = 0) -> SampleReason | None:
    """What the truck's manifest says about a pass, as sampling evidence. `seen_before`: how many earlier passes
    of the same camera decided the same PRO.

    - `MANIFEST_DISAGREEMENT`, the model most likely got it wrong: no valid read; a listed PRO read with another
      DEST; an unlisted PRO within `NEAR_MISS_DIGITS` digits of a listed one; a PRO seen more often than the
      manifest lists it (reconciliation's "unexpected" second pass: most often one pallet counted twice);
    - `UNEXPECTED_PALLET`: a first pass of a PRO far from every listed one, most likely a pallet really not on
      the manifest (for a person to look at; weak evidence about the model);
    - None: the manifest explains the pass."""
    if decision.pro is None:
        return SampleReason.MANIFEST_DISAGREEMENT
    listed = [p for p in manifest.pallets if p.pro == decision.pro]
    if seen_before >= max(len(listed), 1):
        return SampleReason.MANIFEST_DISAGREEMENT
    if listed:
        if decision.dest is not None and all(p.dest != decision.dest for p in listed):
            return SampleReason.MANIFEST_DISAGREEMENT
        return None
    if any(digits_apart(decision.pro, p.pro) <= NEAR_MISS_DIGITS for p in manifest.pallets):
        return SampleReason.MANIFEST_DISAGREEMENT
    return SampleReason.UNEXPECTED_PALLET


def times_seen(decision: PalletPassDecision, earlier: Iterable[PalletPassDecision]) -> int:
    """How many of `earlier` are passes of the same camera that decided the same PRO (0 for an unread pass)."""
    if decision.pro is None:
        return 0
    return sum(1 for d in earlier if d.camera_id == decision.camera_id and d.pro == decision.pro)


def double_count_frames(decision: PalletPassDecision, earlier: Sequence[PalletPassDecision]) -> list[int]:
    """Where a pass that repeats an earlier pass's PRO (same camera) meets it: the frames both hold, else the
    pass's first frame (the new track's birth, next to where the last one ended). Empty when nothing repeats.

    A double count is most often one pallet whose track broke; the frame where the tracks meet shows how, and when
    the passes share it, one stored frame is evidence of both decisions."""
    if decision.pro is None or not decision.frame_ids:
        return []
    same = [d for d in earlier if d.camera_id == decision.camera_id and d.pro == decision.pro]
    if not same:
        return []
    shared = sorted(set(decision.frame_ids) & set(same[-1].frame_ids))
    return shared or [decision.frame_ids[0]]


class SiteDecisions:
    def __init__(self, site_id: str, *, decision_log: DecisionLog | None = None,
                 recorder: HardNegativeRecorder | None = None, manifests: dict[str, TruckManifest] | None = None,
                 tracker: TrackerConfig | None = None,
                 frame_history: int = 48, clock: Callable[[], float] = time.time) -> None:
        self.site_id = site_id
        self.decision_log = decision_log
        self.recorder = recorder
        self.manifests = dict(manifests or {})
        self.tracker_config = tracker or DEFAULT_TRACKER
        self.frame_history = frame_history
        self.clock = clock
        self.counters = SiteCounters()
        self.decisions: list[PalletPassDecision] = []
        self.reports: dict[str, ReconciliationReport] = {}
        self._trackers: dict[str, PalletTracker] = {}
        self._history: dict[str, OrderedDict[int, tuple[SourceFrame, FramePrediction]]] = {}
        self._lock = threading.Lock()  # one decider thread per camera; the sampler is shared

    def _tracker(self, camera_id: str) -> PalletTracker:
        if camera_id not in self._trackers:
            # pass ids stay unique across restarts: the log knows the ids used; without one, start at the clock
            first = (self.decision_log.next_track_id(camera_id) if self.decision_log is not None
                     else int(self.clock() * 1000))
            self._trackers[camera_id] = PalletTracker(self.site_id, camera_id, self.tracker_config,
                                                      first_track_id=first)
            self._history[camera_id] = OrderedDict()
        return self._trackers[camera_id]

    # ------------------------------------------------------------------------------------------ FrameSink
    def on_frame(self, decided: DecidedFrame) -> None:
        camera, frame, prediction = decided.camera_id, decided.frame, decided.prediction
        with self._lock:
            tracker = self._tracker(camera)
            history = self._history[camera]
            history[frame.frame_id] = (frame, prediction)
            while len(history) > self.frame_history:
                history.popitem(last=False)
            c = self.counters
            c.frames += 1
            c.by_camera[camera] = c.by_camera.get(camera, 0) + 1
            for label in prediction.labels:
                c.reads += 1
                c.valid_reads += label.pro is not None
                c.read_confidence_sum += label.read_confidence
            if self.recorder is not None:
                before = self.recorder.handed_over
                self.recorder.observe_frame(camera, frame.frame_id, frame.image, prediction, frame.timestamp)
                c.frames_offered += self.recorder.handed_over - before
            step = tracker.update(frame.frame_id, frame.timestamp, prediction)
            for finished in step.finished:
                self._on_pass(camera, finished)

    def on_end(self, camera_id: str) -> None:
        with self._lock:
            if camera_id not in self._trackers:
                return
            for finished in self._trackers[camera_id].flush():
                self._on_pass(camera_id, finished)
            manifest = self.manifests.get(camera_id)
            if manifest is not None:
                mine = [d for d in self.decisions if d.camera_id == camera_id]
                report = reconcile(manifest, mine)
                self.reports[camera_id] = report
                if self.decision_log is not None:
                    self._log(self.decision_log.append_report, report)

    # ------------------------------------------------------------------------------------------ passes
    def _on_pass(self, camera_id: str, finished: FinishedPass) -> None:
        decision = finished.decision
        seen_before = times_seen(decision, self.decisions)
        prefer = double_count_frames(decision, self.decisions)  # where a double count's tracks meet
        self.decisions.append(decision)
        self.counters.passes += 1
        if self.decision_log is not None:
            self._log(self.decision_log.append_decision, decision)
        disagreements: list[SampleReason] = []
        manifest = self.manifests.get(camera_id)
        evidence = manifest_evidence(decision, manifest, seen_before) if manifest is not None else None
        if evidence is not None:
            disagreements.append(evidence)
            self.counters.manifest_disagreements += 1
        if self.recorder is None:
            return
        history = self._history[camera_id]
        held = {f: (history[f][0].image, history[f][1]) for f in decision.frame_ids if f in history}
        before = self.recorder.handed_over
        self.recorder.observe_pass(decision, self.clock(), held, disagreements, prefer=prefer)
        self.counters.frames_offered += self.recorder.handed_over - before

    def close(self) -> None:
        """Shutdown: the sampler's open admission windows close now, so their best candidates are kept."""
        with self._lock:
            if self.recorder is None:
                return
            before = self.recorder.handed_over
            self.recorder.flush(self.clock())
            self.counters.frames_offered += self.recorder.handed_over - before

    def _log(self, append, record) -> None:
        try:
            append(record)
            self.counters.decisions_logged += 1
        except Exception as exc:  # evidence that cannot be written is an alarm, but inference goes on
            self.counters.decision_log_errors += 1
            log.error("decision log: could not append %s: %s", type(record).__name__, exc)
