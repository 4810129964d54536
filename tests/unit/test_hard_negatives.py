from __future__ import annotations

import random

from contracts.decisions import PalletPassDecision
from contracts.predictions import DetectedLabel, DetectedPerson, FramePrediction
from contracts.samples import SampleReason
from edge_appliance.capture import CaptureConfig, Handover, SampleCapture
from edge_appliance.hard_negatives import HardNegativeRecorder
from edge_appliance.sample_buffer import MemorySampleStore
from edge_appliance.sampler import HardNegativeSampler, SamplerConfig, Verdict
from tests.sample_factory import frame


def _recorder() -> tuple[HardNegativeRecorder, MemorySampleStore]:
    store = MemorySampleStore()
    store.open()
    ids = iter(range(10**6))
    capture = SampleCapture(store, CaptureConfig(site_id="site1"), new_id=lambda: f"id-{next(ids):08d}")
    capture.start()
    sampler = HardNegativeSampler(SamplerConfig(decisive_reserve=0, random_rate=0.0), random.Random(0))
    return HardNegativeRecorder(sampler, capture), store


def test_a_flagged_pass_reaches_the_buffer_once_with_its_most_informative_frame() -> None:
    rec, store = _recorder()
    clean = FramePrediction(people=[DetectedPerson(bbox=[0, 0, 8, 8], score=0.9)])
    weak = FramePrediction(labels=[DetectedLabel(bbox=[0, 0, 5, 5], score=0.9, read_confidence=0.2, raw_text="1")],
                           people=clean.people)
    held = {}
    for f in range(10):
        pred = weak if f == 4 else clean
        held[f] = (frame(f), pred)
        out = rec.observe_frame("cam1", f, frame(f), pred, now=f / 15)
        assert not out.capture and out.verdict is (Verdict.PENDING if f == 4 else Verdict.NOTHING)
    assert rec.held_frames("cam1") == 1  # the weak frame waits for its window
    decision = PalletPassDecision(site_id="site1", camera_id="cam1", pass_id="cam1-3-0", frame_ids=list(range(10)),
                                  pro="1234567890", dest="ABC", read_confidence=0.95, detection_score=0.9)
    verdict, handovers = rec.observe_pass(decision, 1.0, held, disagreements=[SampleReason.MANIFEST_DISAGREEMENT])
    assert verdict.verdict is Verdict.PENDING and verdict.frame_ids == [4] and handovers == []
    assert rec.held_frames("cam1") == 1  # the pass took the frame's place: still one frame held
    assert rec.flush(now=2.0) == [Handover.QUEUED]
    assert rec.held_frames("cam1") == 0 and rec.handed_over == 1
    rec.capture.stop()
    loaded = [store.load(e.sample_id) for e in store.pending()]
    (sample,) = [s.sample for s in loaded if s is not None]
    # the pass's own reason, strengthened by the check-digit failure seen in one of its frames ("1" fails it)
    assert sample.frame_id == 4 and sample.pass_id == "cam1-3-0" and sample.people_blurred == 1
    assert sample.reasons == [SampleReason.MANIFEST_DISAGREEMENT, SampleReason.CHECK_DIGIT_FAILURE]
    assert sample.priority > SamplerConfig().priority([SampleReason.MANIFEST_DISAGREEMENT])


def test_a_window_closing_on_a_frame_hands_over_its_admissions_and_lets_the_rest_go() -> None:
    store = MemorySampleStore()
    store.open()
    capture = SampleCapture(store, CaptureConfig(site_id="site1"))
    capture.start()
    config = SamplerConfig(decisive_reserve=0, random_rate=0.0, budget_start=1, window_frames=20, frame_cooldown_s=0.0)
    rec = HardNegativeRecorder(HardNegativeSampler(config, random.Random(0)), capture)
    weak = FramePrediction(labels=[DetectedLabel(bbox=[0, 0, 5, 5], score=0.9, read_confidence=0.2, raw_text="1")])
    weaker = FramePrediction(labels=[DetectedLabel(bbox=[0, 0, 5, 5], score=0.3, read_confidence=0.1, raw_text="1")])
    outs = [rec.observe_frame("cam1", f, frame(f), weaker if f == 7 else weak if f in (3, 12) else
                              FramePrediction(), now=f / 15) for f in range(20)]
    assert [a.frame_id for a in outs[-1].admitted] == [7]  # the best of the window, not the first
    assert rec.held_frames("cam1") == 0 and rec.handed_over == 1
    capture.stop()
    assert [s.sample.frame_id for e in store.pending() if (s := store.load(e.sample_id))] == [7]


def test_pass_with_no_frames_held_asks_for_nothing() -> None:
    rec, store = _recorder()
    decision = PalletPassDecision(site_id="site1", camera_id="cam1", pass_id="cam1-3-0", frame_ids=[1, 2],
                                  reads_agree=False)
    verdict, handovers = rec.observe_pass(decision, 1.0, {})
    assert verdict.frame_ids == [] and handovers == []
    rec.capture.stop()
    assert len(store) == 0


def test_site_close_hands_over_what_the_open_window_admits() -> None:
    from edge_appliance.ingest import DecidedFrame
    from edge_appliance.site_decisions import SiteDecisions
    from edge_appliance.sources import SourceFrame

    rec, store = _recorder()
    site = SiteDecisions("site1", recorder=rec, clock=lambda: 100.0)
    weak = FramePrediction(labels=[DetectedLabel(bbox=[0, 0, 5, 5], score=0.3, read_confidence=0.9, raw_text="")])
    for f in range(5):  # a weak label detection no pallet track claims: a frame-level candidate of its own
        site.on_frame(DecidedFrame("cam1", SourceFrame(f, 0.0, f / 15, frame(f)), weak if f == 2 else
                                   FramePrediction(), 0.0))
    assert site.counters.frames_offered == 0 and rec.held_frames("cam1") == 1
    site.close()
    assert site.counters.frames_offered == 1 and rec.held_frames("cam1") == 0
    rec.capture.stop()
    assert [s.sample.frame_id for e in store.pending() if (s := store.load(e.sample_id))] == [2]


def test_a_preferred_frame_is_the_one_held_and_stored() -> None:
    rec, store = _recorder()
    held = {f: (frame(f), FramePrediction()) for f in range(10)}
    for f in range(10):
        rec.observe_frame("cam1", f, frame(f), FramePrediction(), now=f / 15)
    decision = PalletPassDecision(site_id="site1", camera_id="cam1", pass_id="cam1-4-0", frame_ids=list(range(10)),
                                  pro="1234567890", dest="ABC", read_confidence=0.95, detection_score=0.9)
    # a repeat of an earlier pass's PRO: keep the frame where the two tracks met (site_decisions.double_count_frames)
    verdict, _ = rec.observe_pass(decision, 1.0, held, disagreements=[SampleReason.MANIFEST_DISAGREEMENT], prefer=[0])
    assert verdict.frame_ids == [0] and rec.held_frames("cam1") == 1
    assert rec.flush(now=2.0) == [Handover.QUEUED]
    rec.capture.stop()
    assert [s.sample.frame_id for e in store.pending() if (s := store.load(e.sample_id))] == [0]
