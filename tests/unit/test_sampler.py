from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.decisions import PalletPassDecision
from contracts.predictions import DetectedLabel, DetectedPallet, FramePrediction
from contracts.samples import SampleReason
from edge_appliance.sampler import (
    HardNegativeSampler,
    SamplerConfig,
    TokenBucket,
    Verdict,
    frame_reasons,
    pass_reasons,
)

R = SampleReason
QUIET = SamplerConfig(random_rate=0.0)


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
    assert pass_reasons(_decision([1], pro=None, dest=None, read_confidence=0.0), QUIET) == [
        R.LOW_CONFIDENCE_DETECTION]
    assert pass_reasons(_decision([1], damage_score=0.5), QUIET) == [R.UNCERTAIN_DAMAGE]
    assert pass_reasons(_decision([1]), QUIET, [R.MANIFEST_DISAGREEMENT]) == [R.MANIFEST_DISAGREEMENT]


def test_priority_orders_reasons_and_rewards_more_evidence() -> None:
    c = SamplerConfig()
    assert c.priority([R.MANIFEST_DISAGREEMENT]) > c.priority([R.CHECK_DIGIT_FAILURE]) > c.priority(
        [R.LOW_CONFIDENCE_DETECTION]) > c.priority([R.RANDOM_BASELINE]) > c.priority([])
    assert c.priority([R.LOW_CONFIDENCE_READ, R.CHECK_DIGIT_FAILURE]) > c.priority([R.CHECK_DIGIT_FAILURE])


def test_clean_frames_are_not_captured() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    out = [s.on_frame("cam1", i, _clean(), now=i / 15) for i in range(300)]
    assert all(o.verdict is Verdict.NOTHING and not o.capture for o in out)
    assert s.counters.frames_captured == 0 and s.counters.frames_seen == 300


def test_low_confidence_read_captured_then_cooldown() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    bad = FramePrediction(labels=[_label(conf=0.2)])
    first = s.on_frame("cam1", 0, bad, now=0.0)
    assert first.capture and first.reasons == [R.LOW_CONFIDENCE_READ]
    assert first.priority == QUIET.priority([R.LOW_CONFIDENCE_READ])
    assert s.on_frame("cam1", 1, bad, now=1.0).verdict is Verdict.COOLDOWN
    # another camera has its own cooldown and budget
    assert s.on_frame("cam2", 1, bad, now=1.0).capture
    # a different reason on the same camera is not cooled down
    assert s.on_frame("cam1", 2, FramePrediction(labels=[_label(ok=False)]), now=2.0).capture
    assert s.on_frame("cam1", 3, bad, now=QUIET.frame_cooldown_s + 0.1).verdict in (Verdict.CAPTURE,
                                                                                    Verdict.RATE_LIMITED)


def test_stuck_camera_is_rate_limited() -> None:
    """A camera stuck on one bad frame for an hour at 15 fps stays within its budget."""
    config = SamplerConfig(random_rate=0.0, frame_cooldown_s=0.0)
    s = HardNegativeSampler(config, random.Random(0))
    bad = FramePrediction(labels=[_label(conf=0.1, ok=False)])
    fps, seconds = 15, 3600
    captured = sum(s.on_frame("cam1", i, bad, now=i / fps).capture for i in range(fps * seconds))
    frames = fps * seconds
    by_budget = config.budget_burst - config.frame_reserve + config.budget_share * frames
    by_time = config.frame_burst + config.frame_per_minute * seconds / 60
    assert min(by_budget, by_time) - 1 <= captured <= min(by_budget, by_time)
    assert s.counters.by_verdict["rate_limited"] == fps * seconds - captured


def test_random_baseline_rate_follows_the_injected_rng() -> None:
    config = SamplerConfig(random_rate=0.01, budget_share=0.1, budget_burst=1000, frame_reserve=0,
                           frame_per_minute=6000, frame_burst=1000)
    s = HardNegativeSampler(config, random.Random(42))
    n = 20_000
    got = [s.on_frame("cam1", i, _clean(), now=float(i)) for i in range(n)]
    captured = [g for g in got if g.capture]
    assert all(g.reasons == [R.RANDOM_BASELINE] for g in captured)
    assert 0.5 * config.random_rate * n < len(captured) < 1.5 * config.random_rate * n
    # same seed, same choices
    again = HardNegativeSampler(config, random.Random(42))
    assert [again.on_frame("cam1", i, _clean(), now=float(i)).capture for i in range(n)] == [g.capture for g in got]


def test_on_pass_keeps_the_most_informative_frames() -> None:
    config = SamplerConfig(random_rate=0.0, frames_per_pass=2, frame_reserve=8)  # no frame-level captures
    s = HardNegativeSampler(config, random.Random(0))
    frames = list(range(10, 20))
    for f in frames:
        pred = _clean()
        if f == 13:
            pred = FramePrediction(labels=[_label(ok=False)])
        if f == 17:
            pred = FramePrediction(labels=[_label(conf=0.3)])
        s.on_frame("cam1", f, pred, now=f / 15)
    out = s.on_pass(_decision(frames, reads_agree=False), now=2.0)
    assert out.capture
    assert out.frame_ids == [13, 17]
    assert set(out.reasons) == {R.TRACK_OCR_DISAGREEMENT, R.CHECK_DIGIT_FAILURE}
    assert out.priority == config.priority(out.reasons)


def test_on_pass_without_history_picks_the_middle_and_respects_frame_ids() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    out = s.on_pass(_decision([1, 2, 3, 4, 5], damage_agree=False), now=0.0)
    assert out.capture and out.frame_ids == [3]
    held = s.on_pass(_decision([1, 2, 3, 4, 5], damage_agree=False), now=0.0, frame_ids=[4, 5])
    assert held.frame_ids and set(held.frame_ids) <= {4, 5}


def test_clean_pass_is_not_captured_and_manifest_disagreement_is() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    assert s.on_pass(_decision([1, 2, 3]), now=0.0).verdict is Verdict.NOTHING
    out = s.on_pass(_decision([1, 2, 3]), now=0.0, disagreements=[R.MANIFEST_DISAGREEMENT])
    assert out.capture and out.reasons == [R.MANIFEST_DISAGREEMENT]
    assert out.priority == QUIET.weight(R.MANIFEST_DISAGREEMENT)


def test_on_pass_does_not_ask_twice_for_a_frame_kept_at_frame_level() -> None:
    s = HardNegativeSampler(QUIET, random.Random(0))
    assert s.on_frame("cam1", 7, FramePrediction(labels=[_label(conf=0.2)]), now=0.0).capture
    out = s.on_pass(_decision([7], reads_agree=False), now=1.0)
    assert out.verdict is Verdict.ALREADY_CAPTURED and out.frame_ids == []


def test_budget_is_a_share_of_the_camera_s_frames() -> None:
    config = SamplerConfig(random_rate=0.0, budget_burst=2, budget_share=0.01)
    s = HardNegativeSampler(config, random.Random(0))
    verdicts = [s.on_pass(_decision([i], reads_agree=False), now=0.0).verdict for i in range(4)]
    assert verdicts == [Verdict.CAPTURE, Verdict.CAPTURE, Verdict.RATE_LIMITED, Verdict.RATE_LIMITED]
    assert not s.on_pass(_decision([9], reads_agree=False), now=3600.0).capture  # time alone refills nothing
    for f in range(100, 199):
        s.on_frame("cam1", f, _clean(), now=3600.0)
    assert not s.on_pass(_decision([9], reads_agree=False), now=3600.0).capture
    s.on_frame("cam1", 199, _clean(), now=3600.0)  # 100 frames seen: 1 token
    assert s.on_pass(_decision([9], reads_agree=False), now=3600.0).capture
    # another camera has a budget of its own
    assert s.on_pass(_decision([1], camera_id="cam2", reads_agree=False), now=0.0).capture


def test_pass_takes_fewer_frames_when_short_of_budget() -> None:
    config = SamplerConfig(random_rate=0.0, budget_burst=3, frames_per_pass=2)
    s = HardNegativeSampler(config, random.Random(0))
    assert len(s.on_pass(_decision([1, 2, 3], reads_agree=False), now=0.0).frame_ids) == 2
    assert len(s.on_pass(_decision([4, 5, 6], reads_agree=False), now=0.0).frame_ids) == 1


def test_flood_cap_per_minute() -> None:
    config = SamplerConfig(random_rate=0.0, budget_share=0.1, budget_burst=100, pass_per_minute=2, pass_burst=2)
    s = HardNegativeSampler(config, random.Random(0))
    verdicts = [s.on_pass(_decision([i], reads_agree=False), now=0.0).verdict for i in range(3)]
    assert verdicts == [Verdict.CAPTURE, Verdict.CAPTURE, Verdict.RATE_LIMITED]
    assert s.on_pass(_decision([7], reads_agree=False), now=30.0).capture


def test_frame_level_leaves_the_reserve_to_passes() -> None:
    config = SamplerConfig(random_rate=0.0, frame_cooldown_s=0.0, budget_burst=5, frame_reserve=3,
                           frame_burst=100, frame_per_minute=6000)  # only the reserve limits here
    s = HardNegativeSampler(config, random.Random(0))
    bad = FramePrediction(labels=[_label(conf=0.1)])
    assert [s.on_frame("cam1", i, bad, now=0.0).capture for i in range(4)] == [True, True, False, False]
    assert [s.on_pass(_decision([10 + i], reads_agree=False), now=0.0).capture for i in range(4)] == [
        True, True, True, False]


def test_default_policy_is_selective_on_a_mostly_clean_stream() -> None:
    """An hour at 15 fps where 2% of frames carry a weak read and 1 pass in 10 disagrees: <= 0.5% kept."""
    rng = random.Random(1)
    s = HardNegativeSampler(SamplerConfig(), random.Random(2))
    fps, frame_id, kept, flagged, flagged_kept = 15, 0, 0, 0, 0
    for p in range(3600 * fps // 45):  # 45-frame passes
        frames = list(range(frame_id, frame_id + 45))
        for f in frames:
            pred = FramePrediction(labels=[_label(conf=0.3)]) if rng.random() < 0.02 else _clean()
            kept += s.on_frame("cam1", f, pred, now=f / fps).capture
        out = s.on_pass(_decision(frames, reads_agree=p % 10 != 0), now=frames[-1] / fps)
        kept += len(out.frame_ids)
        flagged += p % 10 == 0
        flagged_kept += p % 10 == 0 and out.verdict in (Verdict.CAPTURE, Verdict.ALREADY_CAPTURED)
        frame_id += 45
    assert kept / frame_id <= 0.005
    assert flagged_kept == flagged  # the frame-level captures never starve the passes
    assert s.counters.frames_captured == kept


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
@given(stream=events, seed=st.integers(0, 1000), share=st.sampled_from([0.001, 0.0045, 0.05]))
def test_any_stream_stays_within_every_budget(stream: list[tuple], seed: int, share: float) -> None:
    config = SamplerConfig(budget_share=share, random_rate=0.01)
    s = HardNegativeSampler(config, random.Random(seed))
    now = 0.0
    frames = {"cam1": 0, "cam2": 0}
    kept = {"cam1": 0, "cam2": 0}
    open_pass: dict[str, list[int]] = {"cam1": [], "cam2": []}
    for frame_id, (cam, gap, label, ends, disagrees) in enumerate(stream, start=1):
        now += gap
        frames[cam] += 1
        labels = [] if label is None else [_label(conf=label[0], ok=label[1], score=label[2])]
        out = s.on_frame(cam, frame_id, FramePrediction(labels=labels), now=now)
        assert out.capture <= bool(out.reasons)
        assert out.priority == config.priority(out.reasons)
        kept[cam] += out.capture
        open_pass[cam].append(frame_id)
        if ends:
            p = s.on_pass(_decision(open_pass[cam], camera_id=cam, reads_agree=not disagrees), now=now)
            assert set(p.frame_ids) <= set(open_pass[cam]) and len(p.frame_ids) <= config.frames_per_pass
            assert p.capture == bool(p.frame_ids)
            assert not p.capture or p.reasons
            kept[cam] += len(p.frame_ids)
            open_pass[cam] = []
    for cam in kept:
        assert kept[cam] <= config.budget_burst + share * frames[cam] + 1e-9
        assert kept[cam] <= config.frame_burst + config.pass_burst + (
            config.frame_per_minute + config.pass_per_minute) * now / 60 + 1e-9
    assert s.counters.frames_captured == sum(kept.values())
