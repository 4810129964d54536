"""What the ingest calls: the sampling policy wired to the non-blocking capture, in two calls.

    recorder = HardNegativeRecorder(HardNegativeSampler(config), SampleCapture(store, capture_config))
    recorder.observe_frame(camera_id, frame_id, frame, prediction, now)         # every frame
    recorder.observe_pass(decision, now, held_frames, disagreements=[...])      # every finished pass

`held_frames` maps the frame ids of the pass that the ingest still holds to (frame, prediction); the sampler
picks among those. Nothing here blocks on the disk or the network.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from contracts.decisions import PalletPassDecision
from contracts.predictions import FramePrediction
from contracts.samples import SampleReason
from edge_appliance.capture import Handover, SampleCapture
from edge_appliance.sampler import FrameSampling, HardNegativeSampler, PassSampling


class HardNegativeRecorder:
    def __init__(self, sampler: HardNegativeSampler, capture: SampleCapture) -> None:
        self.sampler = sampler
        self.capture = capture

    def observe_frame(self, camera_id: str, frame_id: int, frame: np.ndarray, prediction: FramePrediction,
                      now: float) -> FrameSampling:
        verdict = self.sampler.on_frame(camera_id, frame_id, prediction, now)
        if verdict.capture:
            self.capture.put_nowait(frame, prediction, camera_id=camera_id, frame_id=frame_id,
                                    reasons=verdict.reasons, priority=verdict.priority, captured_at=now)
        return verdict

    def observe_pass(self, decision: PalletPassDecision, now: float,
                     held_frames: Mapping[int, tuple[np.ndarray, FramePrediction]],
                     disagreements: Collection[SampleReason] = ()) -> tuple[PassSampling, list[Handover]]:
        held = [f for f in decision.frame_ids if f in held_frames] or list(held_frames)
        verdict = self.sampler.on_pass(decision, now, disagreements, frame_ids=held)
        handovers = []
        for frame_id in verdict.frame_ids:
            frame, prediction = held_frames[frame_id]
            handovers.append(self.capture.put_nowait(
                frame, prediction, camera_id=decision.camera_id, frame_id=frame_id, reasons=verdict.reasons,
                priority=verdict.priority, pass_id=decision.pass_id, captured_at=now))
        return verdict, handovers
