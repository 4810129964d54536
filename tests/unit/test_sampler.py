from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.decisions import PalletPassDecision
from contracts.predictions import DetectedLabel, DetectedPallet, FramePrediction
from contracts.samples import SampleReason
from edge_appliance.pass_decision import DecisionPolicy
from edge_appliance.sampler import (
    Candidate,
    HardNegativeSampler,
    SamplerConfig,
    TokenBucket,
    Verdict,
    admit,
    damage_band,
    frame_reasons,
    pass_reasons,
    rank_candidates,
)
from model_repository.processing import DAMAGE_THRESHOLD

R = SampleReason
QUIET = SamplerConfig(random_rate=0.0, decisive_reserve=0)  # the budget mechanics alone; the reserve has its tests


def _label(conf: float = 0.95, ok: bool = True, raw: str = "12345678903ABC", score: float = 0.9) -> DetectedLabel:
    return DetectedLabel(bbox=[0, 0, 10, 10], score=score, read_confidence=conf, check_digit_ok=ok, raw_text=raw,
                         pro="1234567890" if ok and conf >= 0.5 else None)


def _pallet(score: float = 0.9) -> DetectedPallet:
    return DetectedPallet(bbox=[0, 0, 50, 50], score=score, damaged=False, damage_score=0.05)


def _clean() -> FramePrediction:
    return FramePrediction(pallets=[_pallet()], labels=[_label()])


def _decision(frames: list[int], **kw: object) -> PalletPassDecision:
    base: dict[str, object] = dict(site_id="s1", camera_id="cam1", pass_id="cam1-1-0", pro="1234567890", dest="ABC",
                                   read_confidence=0.95, detection_score=0.9, damage_score=0.05, frame_ids=frames)
    base.update(kw)
    return PalletPassDecision(**base)


def test_frame_reasons_each_trigger() -> None:
    assert frame_reasons(_clean(), QUIET) == []
    assert frame_reasons(FramePrediction(labels=[_label(conf=0.3)]), QUIET) == [R.LOW_CONFIDENCE_READ]
    assert frame_reasons(FramePrediction(labels=[_label(ok=False)]), QUIET) == [R.CHECK_DIGIT_FAILURE]
    assert frame_reasons(FramePrediction(labels=[_label(ok=False, raw="")]), QUIET) == []
    assert frame_reasons(FramePrediction(pallets=[_pallet(0.3)]), QUIET) == [R.LOW_CONFIDENCE_DETECTION]
    both = frame_reasons(FramePrediction(labels=[_label(conf=0.2, ok=False, score=0.4)]), QUIET)
    assert set(both) == {R.CHECK_DIGIT_FAILURE, R.LOW_CONFIDENCE_READ, R.LOW_CONFIDENCE_DETECTION}


def test_pass_reasons_each_trigger() -> None:
    assert pass_reasons(_decision([1]), QUIET) == []
    assert pass_reasons(_decision([1], reads_agree=False), QUIET) == [R.TRACK_OCR_DISAGREEMENT]
    assert pass_reasons(_decision([1], damage_agree=False), QUIET) == [R.TRACK_DAMAGE_DISAGREEMENT]
    assert pass_reasons(_decision([1], pro=None, dest=None, read_confidence=0.4), QUIET) == [R.LOW_CONFIDENCE_READ]
    assert pass_reasons(_decision([1], read_confidence=0.6), QUIET) == [R.LOW_CONFIDENCE_READ]
    # no label read at all: the decision lacks its PRO, and was the label even found?
    assert pass_reasons(_decision([1], pro=None, dest=None, read_confidence=0.0), QUIET) == [
        R.LOW_CONFIDENCE_READ, R.LOW_CONFIDENCE_DETECTION]
    assert pass_reasons(_decision([1], damage_score=DAMAGE_THRESHOLD), QUIET) == [R.UNCERTAIN_DAMAGE]
    assert pass_reasons(_decision([1]), QUIET, [R.MANIFEST_DISAGREEMENT]) == [R.MANIFEST_DISAGREEMENT]


def test_the_uncertain_damage_band_sits_around_the_threshold_the_pass_is_judged_by() -> None:
    assert damage_band(0.5) == (0.35, 0.65)  # 0.62 logits either side
    low, high = damage_band(0.2)
    assert low < 0.2 < high and (0.2 - low) < (high - 0.2)  # symmetric in logits, not in probability
    # the defaults follow the served model's operating point, which is also the pass decision's
    config = SamplerConfig()
    assert config.damage_uncertain_low < DecisionPolicy().damage_threshold == DAMAGE_THRESHOLD
    assert config.damage_uncertain_high > DAMAGE_THRESHOLD
    assert pass_reasons(_decision([1], damage_score=config.damage_uncertain_low - 0.01), QUIET) == []
    assert pass_reasons(_decision([1], damage_score=config.damage_uncertain_high + 0.01), QUIET) == []


def test_priority_orders_reasons_and_adds_up_evidence() -> None:
    c = SamplerConfig()
    assert c.priority([R.MANIFEST_DISAGREEMENT]) > c.priority([R.CHECK_DIGIT_FAILURE]) > c.priority(
        [R.LOW_CONFIDENCE_DETECTION]) > c.priority([R.RANDOM_BASELINE]) > c.priority([])
    assert c.priority([R.LOW_CONFIDENCE_READ, R.CHECK_DIGIT_FAILURE]) > c.priority([R.CHECK_DIGIT_FAILURE])
    # evidence adds up: an unread pass off the manifest outranks one off the manifest whose damage flag flickered
    assert c.priority([R.MANIFEST_DISAGREEMENT, R.LOW_CONFIDENCE_READ, R.LOW_CONFIDENCE_DETECTION]) > c.priority(
        [R.MANIFEST_DISAGREEMENT, R.TRACK_DAMAGE_DISAGREEMENT]) > c.priority([R.MANIFEST_DISAGREEMENT])
    # frame-level evidence seen in a pass's frames adds a little, never twice
    one = c.priority([R.LOW_CONFIDENCE_READ])
    assert c.priority([R.LOW_CONFIDENCE_READ], [R.CHECK_DIGIT_FAILURE]) > one
    assert c.priority([R.LOW_CONFIDENCE_READ], [R.LOW_CONFIDENCE_READ]) == one
    assert c.priority([], [R.CHECK_DIGIT_FAILURE]) == 0.0


def test_clean_frames_are_not_captured() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    out = [s.on_frame("cam1", i, _clean(), now=i / 15) for i in range(3000)]
    assert all(o.verdict is Verdict.NOTHING and not o.capture and not o.admitted for o in out)
    assert s.counters.frames_captured == 0 and s.counters.frames_seen == 3000
    assert s.flush(now=200.0) == [] and s.pending_frames("cam1") == set()


def test_frame_level_candidate_then_cooldown() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    bad = FramePrediction(labels=[_label(conf=0.2)])
    first = s.on_frame("cam1", 0, bad, now=0.0)
    assert first.verdict is Verdict.PENDING and not first.capture and first.reasons == [R.LOW_CONFIDENCE_READ]
    assert s.pending_frames("cam1") == {0}
    assert s.on_frame("cam1", 1, bad, now=1.0).verdict is Verdict.COOLDOWN
    # another camera has its own cooldown and window
    assert s.on_frame("cam2", 1, bad, now=1.0).verdict is Verdict.PENDING
    # a different reason on the same camera is not cooled down
    assert s.on_frame("cam1", 2, FramePrediction(labels=[_label(ok=False)]), now=2.0).verdict is Verdict.PENDING
    assert s.on_frame("cam1", 3, bad, now=QUIET.frame_cooldown_s + 0.1).verdict is Verdict.PENDING
    assert s.pending_frames("cam1") == {0, 2, 3}


def _run_pass(s: HardNegativeSampler, frames: list[int], bad: dict[int, FramePrediction], t0: float = 0.0,
              camera: str = "cam1", **decision: object) -> list:
    """Frames through on_frame (the bad ones where given), then the pass; returns every admission made."""
    admitted = []
    for f in frames:
        admitted += s.on_frame(camera, f, bad.get(f, _clean()), now=t0 + f / 15).admitted
    out = s.on_pass(_decision(frames, camera_id=camera, pass_id=f"{camera}-{frames[0]}", **decision),
                    now=t0 + frames[-1] / 15)
    return admitted + out.admitted


def test_many_flagged_frames_of_one_pass_cost_one_upload() -> None:
    """Every frame of the pass has a weak read and a check-digit failure: one frame is kept, the weakest."""
    s = HardNegativeSampler(SamplerConfig(decisive_reserve=0, random_rate=0.0, frame_cooldown_s=0.0), random.Random(0))
    frames = list(range(1, 31))
    bad = {f: FramePrediction(labels=[_label(conf=0.4 - f / 100, ok=False)]) for f in frames}
    assert _run_pass(s, frames, bad, reads_agree=False) == []
    assert s.pending_frames("cam1") == {30}  # the pass took over its frames' candidates: one is held
    (kept,) = s.flush(now=10.0)
    assert kept.frame_id == 30 and kept.pass_id == "cam1-1"
    assert set(kept.reasons) == {R.TRACK_OCR_DISAGREEMENT, R.CHECK_DIGIT_FAILURE}
    assert s.counters.frames_captured == 1 and s.pending_frames("cam1") == set()


def test_the_window_admits_by_priority_not_by_arrival() -> None:
    """Four flagged passes in one window, weakest first; the budget pays for two: the two strongest are kept."""
    config = SamplerConfig(decisive_reserve=0, random_rate=0.0, budget_start=2, window_frames=1000)
    s = HardNegativeSampler(config, random.Random(0))
    flags = [dict(damage_score=DAMAGE_THRESHOLD), dict(read_confidence=0.6), dict(reads_agree=False),
             dict(pro=None, dest=None, read_confidence=0.0, reads_agree=False)]
    for i, kw in enumerate(flags):
        assert _run_pass(s, list(range(10 * i, 10 * i + 10)), {}, **kw) == []
    kept = s.flush(now=100.0)
    assert [k.pass_id for k in kept] == ["cam1-30", "cam1-20"]
    assert s.counters.admitted == 2 and s.counters.let_go == 2


def test_a_window_closes_after_window_frames_and_admits_on_that_frame() -> None:
    config = SamplerConfig(decisive_reserve=0, random_rate=0.0, budget_start=1, window_frames=100)
    s = HardNegativeSampler(config, random.Random(0))
    _run_pass(s, list(range(1, 11)), {}, reads_agree=False)
    closing = [s.on_frame("cam1", f, _clean(), now=f / 15) for f in range(11, 101)]
    assert [len(c.admitted) for c in closing[:-1]] == [0] * 89
    assert [a.pass_id for a in closing[-1].admitted] == ["cam1-1"]
    assert s.pending_frames("cam1") == set()


def test_a_window_never_holds_more_candidates_than_it_could_admit() -> None:
    config = SamplerConfig(decisive_reserve=0, random_rate=0.0, budget_burst=3, window_frames=10_000)
    s = HardNegativeSampler(config, random.Random(0))
    verdicts = []
    for i in range(6):  # stronger and stronger passes
        frames = list(range(10 * i, 10 * i + 10))
        for f in frames:
            s.on_frame("cam1", f, _clean(), now=f / 15)
        kw = [dict(damage_score=DAMAGE_THRESHOLD), dict(read_confidence=0.6), dict(damage_agree=False),
              dict(reads_agree=False),
              dict(reads_agree=False, damage_agree=False), dict(pro=None, dest=None, reads_agree=False)][i]
        verdicts.append(s.on_pass(_decision(frames, pass_id=f"p{i}", **kw), now=i).verdict)
    assert verdicts == [Verdict.PENDING] * 6  # each one outranked an earlier one
    assert len(s.pending_frames("cam1")) == 3 and s.counters.outranked == 3
    weak = s.on_pass(_decision([99], pass_id="weak", damage_score=DAMAGE_THRESHOLD), now=7.0)
    assert weak.verdict is Verdict.OUTRANKED and weak.frame_ids == []


def test_a_clean_pass_settles_its_frames_doubts() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    _run_pass(s, list(range(1, 11)), {5: FramePrediction(labels=[_label(conf=0.3)])})
    assert s.pending_frames("cam1") == set()
    # a frame no pass claims stays a candidate of its own (a pallet the tracker may have missed)
    s.on_frame("cam1", 20, FramePrediction(pallets=[_pallet(0.3)]), now=20.0)
    (kept,) = s.flush(now=30.0)
    assert kept.frame_id == 20 and kept.pass_id is None and kept.reasons == [R.LOW_CONFIDENCE_DETECTION]


def test_on_pass_without_history_picks_the_middle_and_respects_frame_ids() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    out = s.on_pass(_decision([1, 2, 3, 4, 5], damage_agree=False), now=0.0)
    assert out.verdict is Verdict.PENDING and out.frame_ids == [3]
    held = s.on_pass(_decision([1, 2, 3, 4, 5], pass_id="cam1-2-0", damage_agree=False), now=0.0, frame_ids=[4, 5])
    assert held.frame_ids and set(held.frame_ids) <= {4, 5}


def test_clean_pass_is_not_a_candidate_and_manifest_disagreement_is() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    assert s.on_pass(_decision([1, 2, 3]), now=0.0).verdict is Verdict.NOTHING
    out = s.on_pass(_decision([1, 2, 3]), now=0.0, disagreements=[R.MANIFEST_DISAGREEMENT])
    assert out.verdict is Verdict.PENDING and out.reasons == [R.MANIFEST_DISAGREEMENT]
    assert out.priority == QUIET.weight(R.MANIFEST_DISAGREEMENT)


def test_a_pass_with_a_frame_already_kept_asks_for_nothing_more() -> None:
    config = SamplerConfig(random_rate=0.05, random_burst=1)
    s = HardNegativeSampler(config, random.Random(3))
    got = [s.on_frame("cam1", f, _clean(), now=f / 15) for f in range(1, 2001)]
    kept = [f for f, g in zip(range(1, 2001), got, strict=True) if g.capture]
    assert kept and all(g.reasons == [R.RANDOM_BASELINE] for g in got if g.capture)
    out = s.on_pass(_decision([kept[-1] - 1, kept[-1], kept[-1] + 1], reads_agree=False), now=200.0)
    assert out.verdict is Verdict.ALREADY_CAPTURED and out.frame_ids == []


def test_budget_is_earned_per_frame_from_the_start_tokens() -> None:
    config = SamplerConfig(decisive_reserve=0, random_rate=0.0, budget_start=1, budget_share=0.01, window_frames=1)
    s = HardNegativeSampler(config, random.Random(0))
    s.on_pass(_decision([1], pass_id="a", reads_agree=False), now=0.0)
    s.on_pass(_decision([2], pass_id="b", reads_agree=False), now=0.0)
    first = s.on_frame("cam1", 3, _clean(), now=0.0).admitted  # the window closes: one token, two candidates
    assert [a.pass_id for a in first] == ["a"]
    s.on_pass(_decision([9], pass_id="c", reads_agree=False), now=3600.0)
    assert s.flush(now=3600.0) == []  # time alone refills nothing
    for f in range(100, 198):
        assert s.on_frame("cam1", f, _clean(), now=3600.0).admitted == []
    s.on_pass(_decision([9], pass_id="d", reads_agree=False), now=3600.0)
    assert [a.pass_id for a in s.on_frame("cam1", 198, _clean(), now=3600.0).admitted] == ["d"]  # 100 frames
    # another camera has a budget of its own
    s.on_pass(_decision([1], camera_id="cam2", pass_id="e", reads_agree=False), now=0.0)
    assert [a.pass_id for a in s.flush(now=0.0, camera_id="cam2")] == ["e"]


def test_the_random_baseline_has_a_budget_of_its_own() -> None:
    """Random captures never take a hard case's token, and stay within their own share."""
    config = SamplerConfig(random_rate=0.01, random_burst=4, budget_start=1, window_frames=10**6)
    s = HardNegativeSampler(config, random.Random(42))
    n = 20_000
    got = [s.on_frame("cam1", i, _clean(), now=float(i)) for i in range(n)]
    captured = [g for g in got if g.capture]
    assert all(g.reasons == [R.RANDOM_BASELINE] for g in captured)
    assert 0.5 * config.random_rate * n < len(captured) <= config.random_rate * n + 1e-9
    s.on_pass(_decision([n + 1], reads_agree=False), now=float(n))
    assert len(s.flush(now=float(n))) == 1
    # same seed, same choices
    again = HardNegativeSampler(config, random.Random(42))
    assert [again.on_frame("cam1", i, _clean(), now=float(i)).capture for i in range(n)] == [g.capture for g in got]


def test_stuck_camera_stays_within_its_budget() -> None:
    """A camera stuck on one bad frame for an hour at 15 fps keeps at most its share."""
    config = SamplerConfig(decisive_reserve=0, random_rate=0.0, frame_cooldown_s=0.0)
    s = HardNegativeSampler(config, random.Random(0))
    bad = FramePrediction(labels=[_label(conf=0.1, ok=False)])
    fps, seconds = 15, 3600
    kept = sum(len(s.on_frame("cam1", i, bad, now=i / fps).admitted) for i in range(fps * seconds))
    kept += len(s.flush(now=seconds))
    frames = fps * seconds
    bound = config.budget_start + config.budget_share * frames
    assert bound - config.budget_burst - 1 <= kept <= bound + 1e-9
    assert len(s.pending_frames("cam1")) == 0


def test_admission_per_minute_caps_a_racing_camera() -> None:
    config = SamplerConfig(decisive_reserve=0, random_rate=0.0, budget_share=0.1, budget_start=100, budget_burst=100,
                           window_frames=10, admit_per_minute=2, admit_burst=2)
    s = HardNegativeSampler(config, random.Random(0))
    for i in range(5):
        s.on_pass(_decision([i], pass_id=f"p{i}", reads_agree=False), now=0.0)
    assert len(s.flush(now=0.0)) == 2
    s.on_pass(_decision([7], pass_id="p7", reads_agree=False), now=30.0)
    assert len(s.flush(now=30.0)) == 1


def test_admit_spends_tokens_best_first() -> None:
    a = Candidate("a", (1, 2), (R.LOW_CONFIDENCE_READ,), 3.0, order=1)
    b = Candidate("b", (3,), (R.MANIFEST_DISAGREEMENT,), 6.0, order=2)
    c = Candidate("c", (4,), (R.LOW_CONFIDENCE_READ,), 3.0, order=0)
    assert rank_candidates([a, b, c]) == [b, c, a]
    assert admit([a, b, c], 0) == ([], [b, c, a])
    assert admit([a, b, c], 2) == ([(b, (3,)), (c, (4,))], [a])
    assert admit([a, b, c], 3) == ([(b, (3,)), (c, (4,)), (a, (1,))], [])  # short of tokens: fewer frames
    assert admit([a, b, c], 9) == ([(b, (3,)), (c, (4,)), (a, (1, 2))], [])
    # a frame is paid for once: two pallets' passes that picked the same frame, or a frame already kept
    d = Candidate("d", (3,), (R.LOW_CONFIDENCE_READ,), 3.0, order=3)
    assert admit([b, d], 9) == ([(b, (3,))], [])
    assert admit([a, c], 9, taken={1, 4}) == ([(a, (2,))], [])


def test_two_passes_that_share_their_best_frame_cost_one_upload() -> None:
    s = HardNegativeSampler(SamplerConfig(decisive_reserve=0, random_rate=0.0, budget_start=5), random.Random(0))
    for f in range(1, 6):
        s.on_frame("cam1", f, _clean(), now=f / 15)
    s.on_pass(_decision([1, 2, 3, 4, 5], pass_id="a", reads_agree=False), now=1.0)
    s.on_pass(_decision([2, 3, 4], pass_id="b", damage_agree=False), now=1.0)
    kept = s.flush(now=2.0)
    assert [(k.frame_id, k.pass_id) for k in kept] == [(3, "a")]
    assert s.counters.frames_captured == 1


def test_default_policy_keeps_every_contradicted_pass_of_a_mostly_clean_stream() -> None:
    """An hour at 15 fps where 2% of frames carry a weak read, 1 pass in 10 has reads that flicker and 1 in 20 is
    contradicted by the manifest: <= 0.5% kept, every contradicted pass kept (the doubts never starve decisive
    evidence), and the flickering ones kept from what the camera saves above the reserve."""
    rng = random.Random(1)
    s = HardNegativeSampler(SamplerConfig(), random.Random(2))
    fps, frame_id, kept, contradicted, flickering = 15, 0, set(), [], []
    for p in range(3600 * fps // 45):  # 45-frame passes
        frames = list(range(frame_id, frame_id + 45))
        for f in frames:
            pred = FramePrediction(labels=[_label(conf=0.3)]) if rng.random() < 0.02 else _clean()
            out = s.on_frame("cam1", f, pred, now=f / fps)
            kept |= {(a.frame_id, a.pass_id) for a in out.admitted} | ({(f, None)} if out.capture else set())
        evidence = [R.MANIFEST_DISAGREEMENT] if p % 20 == 5 else []
        (contradicted if evidence else flickering if p % 10 == 0 else []).append(frames)
        s.on_pass(_decision(frames, pass_id=f"p{p}", reads_agree=p % 10 != 0), now=frames[-1] / fps,
                  disagreements=evidence)
        frame_id += 45
    kept |= {(a.frame_id, a.pass_id) for a in s.flush(now=frame_id / fps)}
    assert len(kept) / frame_id <= 0.005
    kept_frames = {f for f, _ in kept}
    assert all(kept_frames & set(frames) for frames in contradicted)
    assert sum(bool(kept_frames & set(frames)) for frames in flickering) >= 0.8 * len(flickering)
    assert s.counters.frames_captured == len(kept)


def test_decisive_evidence_is_admitted_first_and_alone_spends_the_reserve() -> None:
    weak = Candidate("weak", (1,), (R.TRACK_OCR_DISAGREEMENT, R.LOW_CONFIDENCE_READ), 9.0, order=0)
    weaker = Candidate("weaker", (2,), (R.LOW_CONFIDENCE_READ,), 3.0, order=1)
    decisive = Candidate("decisive", (3,), (R.MANIFEST_DISAGREEMENT,), 6.0, order=2, decisive=True)
    assert rank_candidates([weak, weaker, decisive]) == [decisive, weak, weaker]  # before a higher priority
    assert admit([weak, weaker, decisive], 5, reserve=4) == ([(decisive, (3,))], [weak, weaker])
    assert admit([weak, weaker, decisive], 6, reserve=4) == ([(decisive, (3,)), (weak, (1,))], [weaker])
    assert admit([weak, weaker], 4, reserve=4) == ([], [weak, weaker])  # the reserve waits for a burst
    assert admit([decisive], 1, reserve=4) == ([(decisive, (3,))], [])


def test_a_pass_with_decisive_evidence_fills_a_saved_reserve_and_doubts_wait_for_more() -> None:
    config = SamplerConfig(random_rate=0.0, budget_start=4, budget_share=0.001, decisive_reserve=4, window_frames=10)
    s = HardNegativeSampler(config, random.Random(0))
    kept = []
    for f in range(1, 11):  # the window closes on frame 10
        kept += s.on_frame("cam1", f, _clean(), now=f / 15).admitted
        if f == 5:
            s.on_pass(_decision([1, 2, 3, 4, 5], pass_id="doubt", reads_agree=False), now=f / 15)
        if f == 9:
            s.on_pass(_decision([6, 7, 8, 9], pass_id="contradicted", pro=None, read_confidence=0.0),
                      now=f / 15, disagreements=[R.MANIFEST_DISAGREEMENT])
    assert [k.pass_id for k in kept] == ["contradicted"]
    assert s.counters.let_go == 1
    assert SamplerConfig(budget_burst=2).decisive_reserve == 4  # a reserve above the burst is capped, not refused


def test_config_is_bounded() -> None:
    with pytest.raises(ValidationError):
        SamplerConfig(random_rate=0.5)
    with pytest.raises(ValidationError):
        SamplerConfig(frames_per_pass=0)
    with pytest.raises(ValidationError):
        SamplerConfig(unknown=1)  # type: ignore[call-arg]


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 20), per_minute=st.floats(0.1, 120),
       gaps=st.lists(st.floats(0, 30), min_size=1, max_size=200))
def test_token_bucket_never_exceeds_capacity_plus_refill(capacity: int, per_minute: float, gaps: list[float]) -> None:
    bucket = TokenBucket(capacity, per_minute / 60)
    now, taken = 0.0, 0
    for gap in gaps:
        now += gap
        taken += bucket.take(now)
    assert taken <= capacity + now * per_minute / 60 + 1e-9


events = st.lists(st.tuples(
    st.sampled_from(["cam1", "cam2"]),
    st.floats(0.0, 2.0),  # seconds since the previous event
    st.one_of(st.none(), st.tuples(st.floats(0, 1), st.booleans(), st.floats(0, 1))),  # a frame's label
    st.booleans(),  # the pass ends here
    st.booleans(),  # ... and it disagrees
), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(stream=events, seed=st.integers(0, 1000), share=st.sampled_from([0.001, 0.0045, 0.05]),
       window=st.sampled_from([1, 7, 50, 900]), per_pass=st.integers(1, 3))
def test_any_stream_stays_within_every_budget(stream: list[tuple], seed: int, share: float, window: int,
                                              per_pass: int) -> None:
    config = SamplerConfig(budget_share=share, random_rate=0.01, window_frames=window, frames_per_pass=per_pass,
                           budget_burst=4)
    s = HardNegativeSampler(config, random.Random(seed))
    now = 0.0
    frames = {"cam1": 0, "cam2": 0}
    hard: dict[str, list[int]] = {"cam1": [], "cam2": []}
    randomly = {"cam1": 0, "cam2": 0}
    open_pass: dict[str, list[int]] = {"cam1": [], "cam2": []}
    for frame_id, (cam, gap, label, ends, disagrees) in enumerate(stream, start=1):
        now += gap
        frames[cam] += 1
        labels = [] if label is None else [_label(conf=label[0], ok=label[1], score=label[2])]
        out = s.on_frame(cam, frame_id, FramePrediction(labels=labels), now=now)
        assert out.capture <= (R.RANDOM_BASELINE in out.reasons)
        assert out.priority == config.priority(out.reasons)
        randomly[cam] += out.capture
        hard[cam] += [a.frame_id for a in out.admitted]
        assert all(a.camera_id == cam and a.reasons for a in out.admitted)
        open_pass[cam].append(frame_id)
        if ends:
            p = s.on_pass(_decision(open_pass[cam], camera_id=cam, pass_id=f"{cam}-{frame_id}",
                                    reads_agree=not disagrees), now=now)
            assert set(p.frame_ids) <= set(open_pass[cam]) and len(p.frame_ids) <= config.frames_per_pass
            assert (p.verdict is Verdict.PENDING) == bool(p.frame_ids)
            assert not p.frame_ids or p.reasons
            open_pass[cam] = []
        for c in hard:
            assert len(s.pending_frames(c)) <= config.budget_burst * config.frames_per_pass
    for a in s.flush(now=now):
        hard[a.camera_id].append(a.frame_id)
    for cam in hard:
        assert len(hard[cam]) == len(set(hard[cam]))  # no frame is kept twice
        assert len(hard[cam]) <= config.budget_start + share * frames[cam] + 1e-9
        assert len(hard[cam]) <= config.admit_burst + config.admit_per_minute * now / 60 + 1e-9
        assert randomly[cam] <= config.random_rate * frames[cam] + 1e-9
        assert s.pending_frames(cam) == set()
    assert s.counters.frames_captured == sum(len(v) for v in hard.values()) + sum(randomly.values())


def test_preferred_frames_are_kept_first_and_the_budget_is_the_same() -> None:
    s = HardNegativeSampler(QUIET, rng=random.Random(0))
    frames = list(range(1, 31))
    for f in frames:  # frame 20 is the most informative on its own; frame 3 is where the tracks met
        s.on_frame("cam1", f, FramePrediction(labels=[_label(conf=0.3)]) if f == 20 else _clean(), now=f / 15)
    plain = s.on_pass(_decision(frames, pass_id="plain", read_confidence=0.6), now=3.0)
    assert plain.frame_ids == [20]
    s2 = HardNegativeSampler(QUIET, rng=random.Random(0))
    for f in frames:
        s2.on_frame("cam1", f, FramePrediction(labels=[_label(conf=0.3)]) if f == 20 else _clean(), now=f / 15)
    preferred = s2.on_pass(_decision(frames, pass_id="dup", read_confidence=0.6), now=3.0, prefer=[3, 99])
    assert preferred.frame_ids == [3]  # one frame a pass, as before; a preferred frame not held (99) is skipped
    assert preferred.priority == plain.priority
