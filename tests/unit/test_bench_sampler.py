"""Matching and scoring of `edgecv bench sampler` (pure functions, no Triton)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.annotations import AnnotatedFrame, AnnotationSet, Pallet, ShippingLabel
from contracts.decisions import PalletPassDecision
from edge_appliance.sources import CorruptFrame, SourceFrame
from edgecv.bench_sampler import (
    BenchError,
    CameraClock,
    ClockedSink,
    ContinuedSource,
    DecidedPass,
    PassMatch,
    StoredFrames,
    TruePass,
    WrongKind,
    decision_faults,
    is_captured,
    match_passes,
    pass_flags,
    plan_sequences,
    score,
    summary_line,
    true_passes,
)

K = WrongKind
PRO_A, PRO_B = "1234567890", "0000000000"


def _truth(key: str, frames: range, pro: str | None = PRO_A, dest: str | None = "ABC", damaged: bool = False
           ) -> TruePass:
    return TruePass(key, frozenset(frames), pro, dest, damaged)


def _decided(pass_id: str, frames: range, pro: str | None = PRO_A, dest: str | None = "ABC", damaged: bool = False
             ) -> DecidedPass:
    return DecidedPass(pass_id, frozenset(frames), pro, dest, damaged)


def _stored(*frames: int, pass_ids: tuple[str, ...] = ()) -> StoredFrames:
    return StoredFrames(frozenset(frames), frozenset(pass_ids), len(frames))


NOTHING = _stored()


# ------------------------------------------------------------------------------------------ faults of one decision
@pytest.mark.parametrize(("decided", "kinds"), [
    (dict(), set()),
    (dict(pro=None, dest=None), {K.UNREAD}),
    (dict(pro=PRO_B), {K.MISREAD}),
    (dict(dest=None), {K.DEST}),
    (dict(dest="XYZ"), {K.DEST}),
    (dict(damaged=True), {K.DAMAGE}),
    (dict(pro=None, damaged=True), {K.UNREAD, K.DAMAGE}),
    (dict(pro=PRO_B, dest="XYZ"), {K.MISREAD}),  # a wrong PRO is the fault; its DEST is not judged apart
])
def test_decision_faults(decided, kinds):
    assert decision_faults(_decided("d", range(5), **decided), _truth("t", range(5))) == kinds


def test_an_unreadable_truth_is_not_held_against_an_unread_decision():
    assert decision_faults(_decided("d", range(3), pro=None, dest=None), _truth("t", range(3), None, None)) == set()


# ------------------------------------------------------------------------------------------ matching
def test_each_decision_goes_to_the_truth_it_overlaps_most():
    truths = [_truth("a", range(0, 30)), _truth("b", range(34, 64), pro=PRO_B)]
    decided = [_decided("d1", range(2, 40), pro=PRO_A), _decided("d2", range(41, 60), pro=PRO_B)]
    matches = {m.decision.pass_id: m for m in match_passes(decided, truths) if m.decision}
    assert matches["d1"].truth.key == "a" and not matches["d1"].wrong
    assert matches["d2"].truth.key == "b" and not matches["d2"].wrong


def test_false_duplicate_and_missed_passes():
    truths = [_truth("a", range(0, 30)), _truth("b", range(40, 70))]
    decided = [_decided("main", range(0, 20)), _decided("split", range(22, 30)), _decided("ghost", range(31, 38))]
    matches = match_passes(decided, truths)
    kinds = {(m.decision.pass_id if m.decision else None, m.truth.key if m.truth else None): m.kinds for m in matches}
    assert kinds == {("main", "a"): set(), ("split", "a"): {K.DUPLICATE_PASS}, ("ghost", None): {K.FALSE_PASS},
                     (None, "b"): {K.MISSED_PALLET}}


def test_the_decision_with_more_overlap_is_the_pallets_decision_whatever_the_order():
    truths = [_truth("a", range(0, 30))]
    short_right = _decided("short", range(0, 5))
    long_wrong = _decided("long", range(5, 30), pro=None)
    for order in ([short_right, long_wrong], [long_wrong, short_right]):
        by_id = {m.decision.pass_id: m.kinds for m in match_passes(order, truths)}
        assert by_id == {"long": {K.UNREAD}, "short": {K.DUPLICATE_PASS}}


# ------------------------------------------------------------------------------------------ capture
def test_a_decision_is_captured_by_one_of_its_frames_or_its_pass_id():
    match = PassMatch(_decided("d", range(10, 20)), _truth("t", range(8, 22)), frozenset({K.UNREAD}))
    assert is_captured(match, _stored(15))
    assert is_captured(match, _stored(99, pass_ids=("d",)))
    assert not is_captured(match, _stored(9, 20, 21))  # the truth's frames, not the decision's


def test_a_missed_pallet_is_captured_by_a_frame_within_its_true_range():
    match = PassMatch(None, _truth("t", range(10, 20)), frozenset({K.MISSED_PALLET}))
    assert is_captured(match, _stored(10)) and is_captured(match, _stored(19))
    assert not is_captured(match, _stored(9, 20))


# ------------------------------------------------------------------------------------------ score
def test_score_counts_recall_waste_and_upload_rate():
    truths = [_truth("a", range(0, 10)), _truth("b", range(10, 20)), _truth("c", range(20, 30)),
              _truth("d", range(30, 40))]
    decided = [_decided("ok", range(0, 10)), _decided("unread", range(10, 20), pro=None),
               _decided("damage", range(20, 30), damaged=True)]
    result = score(match_passes(decided, truths), _stored(5, 15), frames=1000)
    assert result["true_passes"] == 4 and result["decided_passes"] == 3
    assert result["wrong_decisions"] == 3  # unread, damage, missed d
    assert result["captured_wrong_decisions"] == 1 and result["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert result["correct_decisions"] == 1 and result["captured_correct_decisions"] == 1
    assert result["wrong_by_kind"]["unread"] == {"wrong": 1, "captured": 1}
    assert result["wrong_by_kind"]["damage"] == {"wrong": 1, "captured": 0}
    assert result["wrong_by_kind"]["missed_pallet"] == {"wrong": 1, "captured": 0}
    assert result["frames_stored"] == 2 and result["upload_rate"] == pytest.approx(0.002)
    assert result["target"]["met"] is False


def test_target_met_only_with_both_recall_and_upload_rate():
    truths = [_truth("a", range(0, 10))]
    wrong = [_decided("x", range(0, 10), pro=None)]
    assert score(match_passes(wrong, truths), _stored(3), frames=1000)["target"]["met"] is True
    assert score(match_passes(wrong, truths), _stored(3), frames=100)["target"]["met"] is False  # 1% uploaded
    assert score(match_passes(wrong, truths), NOTHING, frames=1000)["target"]["met"] is False  # recall 0


def test_no_wrong_decision_gives_no_recall_and_no_target():
    result = score(match_passes([_decided("ok", range(5))], [_truth("a", range(5))]), NOTHING, frames=100)
    assert result["recall"] is None and result["target"]["met"] is False
    assert "n/a" in summary_line({**result, "preset": "default"})


# ------------------------------------------------------------------------------------------ properties
@st.composite
def _scenes(draw):
    """Back-to-back true passes and decisions that cover some of them (maybe split, shifted or spurious)."""
    lengths = draw(st.lists(st.integers(3, 40), min_size=0, max_size=8))
    truths, start = [], 0
    for i, n in enumerate(lengths):
        start += draw(st.integers(0, 5))
        truths.append(_truth(f"t{i}", range(start, start + n), pro=draw(st.sampled_from([PRO_A, PRO_B]))))
        start += n
    decided = []
    for j, _ in enumerate(range(draw(st.integers(0, 12)))):
        lo = draw(st.integers(0, start + 10))
        hi = lo + draw(st.integers(1, 40))
        decided.append(_decided(f"d{j}", range(lo, hi), pro=draw(st.sampled_from([PRO_A, PRO_B, None])),
                                damaged=draw(st.booleans())))
    frames = start + 20
    stored = draw(st.frozensets(st.integers(0, frames), max_size=10))
    return truths, decided, StoredFrames(stored, frozenset(), len(stored)), frames


@settings(max_examples=200, deadline=None)
@given(_scenes())
def test_every_decision_and_every_truth_is_accounted_for_once(scene):
    truths, decided, _, _ = scene
    matches = match_passes(decided, truths)
    assert sorted(m.decision.pass_id for m in matches if m.decision) == sorted(d.pass_id for d in decided)
    primary = [m.truth.key for m in matches if m.truth and K.DUPLICATE_PASS not in m.kinds]
    assert sorted(primary) == sorted(t.key for t in truths)
    for m in matches:
        assert (m.truth is None) == (K.FALSE_PASS in m.kinds)
        assert (m.decision is None) == (K.MISSED_PALLET in m.kinds)
        if m.decision is not None and m.truth is not None:
            assert m.decision.frames & m.truth.frames


@settings(max_examples=200, deadline=None)
@given(_scenes())
def test_scores_are_consistent(scene):
    truths, decided, stored, frames = scene
    matches = match_passes(decided, truths)
    result = score(matches, stored, frames)
    missed = result["wrong_by_kind"]["missed_pallet"]["wrong"]
    assert result["wrong_decisions"] + result["correct_decisions"] == len(matches) == len(decided) + missed
    assert missed >= sum(1 for t in truths if not any(d.frames & t.frames for d in decided))
    assert 0 <= result["captured_wrong_decisions"] <= result["wrong_decisions"]
    assert 0 <= result["captured_correct_decisions"] <= result["correct_decisions"]
    for kind in result["wrong_by_kind"].values():
        assert 0 <= kind["captured"] <= kind["wrong"] <= result["wrong_decisions"]
    if result["wrong_decisions"]:
        assert result["recall"] == pytest.approx(result["captured_wrong_decisions"] / result["wrong_decisions"],
                                                 abs=1e-4)
    assert result["upload_rate"] == pytest.approx(stored.samples / frames, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(_scenes())
def test_storing_more_never_captures_less_and_storing_everything_captures_all(scene):
    truths, decided, stored, frames = scene
    matches = match_passes(decided, truths)
    everything = StoredFrames(frozenset(range(frames + 50)), frozenset(), frames + 50)
    less, more = score(matches, NOTHING, frames), score(matches, stored, frames)
    assert less["captured_wrong_decisions"] == 0
    assert more["captured_wrong_decisions"] >= less["captured_wrong_decisions"]
    assert score(matches, everything, frames)["captured_wrong_decisions"] == more["wrong_decisions"]


@settings(max_examples=100, deadline=None)
@given(_scenes())
def test_decisions_equal_to_the_truth_are_all_correct(scene):
    truths, _, stored, frames = scene
    perfect = [DecidedPass(f"d-{t.key}", t.frames, t.pro, t.dest, t.damaged) for t in truths]
    result = score(match_passes(perfect, truths), stored, frames)
    assert result["wrong_decisions"] == 0 and result["correct_decisions"] == len(truths)


# ------------------------------------------------------------------------------------------ ground truth from files
def _label(pro: str) -> ShippingLabel:
    return ShippingLabel(bbox=[10, 10, 20, 20], pro=pro, dest="ABC")


def test_true_passes_from_annotations_and_tracks():
    pro = "1000000002"
    frames = [
        AnnotatedFrame(image="f1.jpg", width=64, height=48),
        AnnotatedFrame(image="f2.jpg", width=64, height=48, pallets=[Pallet(bbox=[0, 0, 30, 30], damaged=True)]),
        AnnotatedFrame(image="f3.jpg", width=64, height=48,
                       pallets=[Pallet(bbox=[0, 0, 30, 30], damaged=True, label=_label(pro))]),
        AnnotatedFrame(image="f4.jpg", width=64, height=48, pallets=[Pallet(bbox=[0, 0, 30, 30], damaged=False)]),
    ]
    truths = true_passes(AnnotationSet(frames=frames), [[], [0], [0], [1]], first_frame_id=101, prefix="s")
    assert truths == [TruePass("s/p0", frozenset({102, 103}), pro, "ABC", True),
                      TruePass("s/p1", frozenset({104}), None, None, False)]


def test_true_passes_refuse_tracks_that_do_not_fit():
    frames = [AnnotatedFrame(image="f1.jpg", width=64, height=48, pallets=[Pallet(bbox=[0, 0, 30, 30], damaged=False)])]
    with pytest.raises(BenchError):
        true_passes(AnnotationSet(frames=frames), [[]], 1, "s")
    with pytest.raises(BenchError):
        true_passes(AnnotationSet(frames=frames), [[0], [0]], 1, "s")


# ------------------------------------------------------------------------------------------ plans and the stream
def test_plan_sequences_splits_trucks_and_cycles_presets():
    plans = plan_sequences(10, "mixed", seed=5)
    assert [p.passes for p in plans] == [4, 4, 2]
    assert [p.preset for p in plans] == ["shifted", "default", "drift"]
    assert len({p.name for p in plans}) == 3 and [p.seed for p in plans] == [5, 6, 7]
    assert {p.preset for p in plan_sequences(9, "drift")} == {"drift"}


@pytest.mark.parametrize(("passes", "preset"), [(0, "mixed"), (4, "sunny")])
def test_plan_sequences_refuses_bad_arguments(passes, preset):
    with pytest.raises(BenchError):
        plan_sequences(passes, preset)


@dataclass
class _FakeCamera:
    items: list

    def frames(self):
        yield from self.items


def test_a_sequence_continues_the_cameras_frame_ids_and_clock():
    image = np.zeros((2, 2, 3), np.uint8)
    inner = _FakeCamera([SourceFrame(1, 0.0, 9e9, image), CorruptFrame(2, "bad"), SourceFrame(3, 0.0, 9e9, image)])
    out = list(ContinuedSource(inner, first_frame_id=41, start_time=100.0, fps=10.0).frames())
    assert [f.frame_id for f in out] == [41, 42, 43]
    assert isinstance(out[1], CorruptFrame)
    assert out[0].timestamp == 100.0 and out[2].timestamp == pytest.approx(100.2)


def test_the_clocked_sink_sets_the_camera_clock_before_deciding():
    seen = []

    class Sink:
        def on_frame(self, decided):
            seen.append(clock())

        def on_end(self, camera_id):
            seen.append(camera_id)

    @dataclass
    class Decided:
        frame: SourceFrame

    clock = CameraClock(0.0)
    sink = ClockedSink(Sink(), clock)
    sink.on_frame(Decided(SourceFrame(1, 0.0, 123.5, np.zeros((1, 1, 3), np.uint8))))
    sink.on_end("cam")
    assert seen == [123.5, "cam"]


def test_decided_pass_from_a_decision():
    decision = PalletPassDecision(site_id="s", camera_id="c", pass_id="c-1-3", pro=PRO_A, dest="ABC", damaged=True,
                                  frame_ids=[3, 4, 4, 5])
    assert DecidedPass.from_decision(decision) == DecidedPass("c-1-3", frozenset({3, 4, 5}), PRO_A, "ABC", True)
    assert DecidedPass.from_decision(decision, ["uncertain_damage"]).flagged


def test_flagged_counts_what_the_pass_policy_would_keep_budget_aside():
    truths = [_truth("a", range(0, 10)), _truth("b", range(10, 20)), _truth("c", range(20, 30))]
    decided = [DecidedPass("seen", frozenset(range(0, 10)), None, None, False, frozenset({"low_confidence_read"})),
               DecidedPass("unseen", frozenset(range(10, 20)), PRO_B, "ABC", False),
               DecidedPass("fine", frozenset(range(20, 30)), PRO_A, "ABC", False,
                           frozenset({"low_confidence_read", "uncertain_damage"}))]
    result = score(match_passes(decided, truths), NOTHING, frames=300)
    assert result["flagged_wrong_decisions"] == 1 and result["flagged_recall"] == 0.5
    assert result["flagged_correct_decisions"] == 1 and result["recall"] == 0.0
    assert result["pass_reasons"] == {"low_confidence_read": {"wrong": 1, "correct": 1},
                                      "uncertain_damage": {"wrong": 0, "correct": 1}}


def test_pass_flags_follow_the_sampler_and_the_manifest():
    from contracts.annotations import ManifestPallet, TruckManifest
    from edge_appliance.sampler import SamplerConfig

    config = SamplerConfig()
    confident = PalletPassDecision(site_id="s", camera_id="c", pass_id="c-1-1", pro=PRO_A, dest="ABC",
                                   read_confidence=0.95, detection_score=0.9, damage_score=0.05, frame_ids=[1, 2])
    listed = TruckManifest(truck_id="T", door="D", pallets=[ManifestPallet(pro=PRO_A, dest="ABC")])
    other = TruckManifest(truck_id="T", door="D", pallets=[ManifestPallet(pro=PRO_B, dest="ABC")])
    assert pass_flags(confident, config, listed) == []
    assert pass_flags(confident, config, None) == []
    assert pass_flags(confident, config, other) == ["unexpected_pallet"]  # far from every listed PRO
    near = TruckManifest(truck_id="T", door="D", pallets=[ManifestPallet(pro="1234567000", dest="ABC")])
    assert pass_flags(confident, config, near) == ["manifest_disagreement"]  # 2 digits off a listed PRO: a misread
    unread = confident.model_copy(update={"pro": None, "read_confidence": 0.0})
    assert pass_flags(unread, config, None) == ["low_confidence_read", "low_confidence_detection"]
    assert pass_flags(unread, config, listed) == ["manifest_disagreement", "low_confidence_read",
                                                  "low_confidence_detection"]
