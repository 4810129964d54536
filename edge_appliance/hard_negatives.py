"""What the ingest calls: the sampling policy wired to the non-blocking capture.

    recorder = HardNegativeRecorder(HardNegativeSampler(config), SampleCapture(store, capture_config))
    recorder.observe_frame(camera_id, frame_id, frame, prediction, now)         # every frame
    recorder.observe_pass(decision, now, held_frames, disagreements=[...])      # every finished pass
    recorder.flush(now)                                                         # at shutdown

`held_frames` maps the frame ids of the pass that the ingest still holds to (frame, prediction); the sampler
picks among those. The policy admits candidates when their window closes, so the recorder holds the frames of
the waiting candidates (at most `budget_burst` per camera) until they are admitted or let go. Nothing here blocks
on the disk or the network.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from contracts.decisions import PalletPassDecision
from contracts.predictions import FramePrediction
from contracts.samples import SampleReason
from edge_appliance.capture import Handover, SampleCapture
from edge_appliance.sampler import Admission, FrameSampling, HardNegativeSampler, PassSampling, Verdict


class HardNegativeRecorder:
    def __init__(self, sampler: HardNegativeSampler, capture: SampleCapture) -> None:
        self.sampler = sampler
        self.capture = capture
        self.handed_over = 0  # frames handed to the capture writer (whatever the writer then made of them)
        self._held: dict[str, dict[int, tuple[np.ndarray, FramePrediction]]] = {}

    def _hand_over(self, frame: np.ndarray, prediction: FramePrediction, *, camera_id: str, frame_id: int,
                   reasons: Sequence[SampleReason], priority: float, pass_id: str | None, now: float) -> Handover:
        self.handed_over += 1
        return self.capture.put_nowait(frame, prediction, camera_id=camera_id, frame_id=frame_id, reasons=reasons,
                                       priority=priority, pass_id=pass_id, captured_at=now)

    def _settle(self, camera_id: str, admitted: list[Admission], now: float) -> list[Handover]:
        """Hand over what was admitted, then drop the frames no candidate waits for any more."""
        held = self._held.setdefault(camera_id, {})
        handovers = []
        for a in admitted:
            kept = held.get(a.frame_id)
            if kept is not None:
                handovers.append(self._hand_over(*kept, camera_id=a.camera_id, frame_id=a.frame_id,
                                                 reasons=a.reasons, priority=a.priority, pass_id=a.pass_id, now=now))
        waiting = self.sampler.pending_frames(camera_id)
        for frame_id in [f for f in held if f not in waiting]:
            del held[frame_id]
        return handovers

    def observe_frame(self, camera_id: str, frame_id: int, frame: np.ndarray, prediction: FramePrediction,
                      now: float) -> FrameSampling:
        verdict = self.sampler.on_frame(camera_id, frame_id, prediction, now)
        if verdict.capture:
            self._hand_over(frame, prediction, camera_id=camera_id, frame_id=frame_id, reasons=verdict.reasons,
                            priority=verdict.priority, pass_id=None, now=now)
        if verdict.verdict is Verdict.PENDING:  # held even when its window closed on this very frame
            self._held.setdefault(camera_id, {})[frame_id] = (frame, prediction)
        self._settle(camera_id, verdict.admitted, now)
        return verdict

    def observe_pass(self, decision: PalletPassDecision, now: float,
                     held_frames: Mapping[int, tuple[np.ndarray, FramePrediction]],
                     disagreements: Collection[SampleReason] = (), prefer: Sequence[int] = ()
                     ) -> tuple[PassSampling, list[Handover]]:
        held = [f for f in decision.frame_ids if f in held_frames] or list(held_frames)
        verdict = self.sampler.on_pass(decision, now, disagreements, frame_ids=held, prefer=prefer)
        mine = self._held.setdefault(decision.camera_id, {})
        for frame_id in verdict.frame_ids:
            mine[frame_id] = held_frames[frame_id]
        return verdict, self._settle(decision.camera_id, verdict.admitted, now)

    def flush(self, now: float, camera_id: str | None = None) -> list[Handover]:
        """Close the open admission windows (end of stream, shutdown): hand over what the budget admits."""
        admitted = self.sampler.flush(now, camera_id)
        handovers = []
        for cid in [camera_id] if camera_id is not None else list(self._held):
            handovers += self._settle(cid, [a for a in admitted if a.camera_id == cid], now)
        return handovers

    def held_frames(self, camera_id: str) -> int:
        """Frames held for waiting candidates (bounded by the policy's `budget_burst` x `frames_per_pass`)."""
        return len(self._held.get(camera_id, {}))
