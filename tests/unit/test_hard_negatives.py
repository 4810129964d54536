from __future__ import annotations

import random

from contracts.decisions import PalletPassDecision
from contracts.predictions import DetectedLabel, DetectedPerson, FramePrediction
from contracts.samples import SampleReason
from edge_appliance.capture import CaptureConfig, Handover, SampleCapture
from edge_appliance.hard_negatives import HardNegativeRecorder
from edge_appliance.sample_buffer import MemorySampleStore
from edge_appliance.sampler import HardNegativeSampler, SamplerConfig
from tests.sample_factory import frame


def _recorder() -> tuple[HardNegativeRecorder, MemorySampleStore]:
    store = MemorySampleStore()
    store.open()
    ids = iter(range(10**6))
    capture = SampleCapture(store, CaptureConfig(site_id="site1"), new_id=lambda: f"id-{next(ids):08d}")
    capture.start()
    return HardNegativeRecorder(HardNegativeSampler(SamplerConfig(random_rate=0.0), random.Random(0)), capture), store


def test_frames_and_passes_reach_the_buffer_with_their_reasons() -> None:
    rec, store = _recorder()
    clean = FramePrediction(people=[DetectedPerson(bbox=[0, 0, 8, 8], score=0.9)])
    weak = FramePrediction(labels=[DetectedLabel(bbox=[0, 0, 5, 5], score=0.9, read_confidence=0.2, raw_text="1")])
    held = {}
    for f in range(10):
        pred = weak if f == 4 else clean
        held[f] = (frame(f), pred)
        out = rec.observe_frame("cam1", f, frame(f), pred, now=f / 15)
        assert out.capture == (f == 4)
    decision = PalletPassDecision(site_id="site1", camera_id="cam1", pass_id="cam1-3-0", frame_ids=list(range(10)),
                                  pro="1234567890", dest="ABC", read_confidence=0.95, detection_score=0.9)
    verdict, handovers = rec.observe_pass(decision, 1.0, held, disagreements=[SampleReason.MANIFEST_DISAGREEMENT])
    assert verdict.capture and handovers == [Handover.QUEUED]
    assert 4 not in verdict.frame_ids  # already kept at frame level
    rec.capture.stop()
    loaded = [store.load(e.sample_id) for e in store.pending()]
    samples = {s.sample.frame_id: s.sample for s in loaded if s is not None}
    assert set(samples) == {4, *verdict.frame_ids}
    # "1" fails its check digit and was read with low confidence
    assert set(samples[4].reasons) == {SampleReason.CHECK_DIGIT_FAILURE, SampleReason.LOW_CONFIDENCE_READ}
    assert samples[4].pass_id is None
    (kept,) = verdict.frame_ids
    # the pass's own reason, strengthened by the check-digit failure seen in one of its frames
    assert samples[kept].reasons == [SampleReason.MANIFEST_DISAGREEMENT, SampleReason.CHECK_DIGIT_FAILURE]
    assert samples[kept].pass_id == "cam1-3-0" and samples[kept].people_blurred == 1
    assert samples[kept].priority > samples[4].priority


def test_pass_with_no_frames_held_asks_for_nothing() -> None:
    rec, store = _recorder()
    decision = PalletPassDecision(site_id="site1", camera_id="cam1", pass_id="cam1-3-0", frame_ids=[1, 2],
                                  reads_agree=False)
    verdict, handovers = rec.observe_pass(decision, 1.0, {})
    assert verdict.frame_ids == [] and handovers == []
    rec.capture.stop()
    assert len(store) == 0
