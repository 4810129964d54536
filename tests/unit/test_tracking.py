"""The pallet tracker: one pass per pallet carried across the view, against ground-truth forklift sequences."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.annotations import load_annotation_set, load_manifest
from contracts.predictions import DetectedLabel, DetectedPallet, FramePrediction
from contracts.pro import make_pro
from edge_appliance.pass_decision import ObservedRead, PassFlag, TrackObservation, decide_pass
from edge_appliance.reconciliation import reconcile
from edge_appliance.tracking import FinishedPass, PalletTracker, TrackerConfig
from model_repository.processing import DAMAGE_THRESHOLD
from training.synth.sequences import write_sequence

FPS = 15.0
FRAME_W, FRAME_H = 1280.0, 720.0
VERSIONS = {"detector": "1", "ocr": "1", "damage_classifier": "1"}


# ---------------------------------------------------------------- ground truth: one rendered sequence per session
@dataclass(frozen=True)
class Sequence:
    directory: Path
    frames: list  # AnnotatedFrame
    frame_tracks: list[list[int]]
    passes: int


@pytest.fixture(scope="session")
def sequence(tmp_path_factory) -> Sequence:
    out = write_sequence(tmp_path_factory.mktemp("seq") / "seq", seed=5, passes=3, fps=FPS)
    tracks = json.loads((out / "tracks.json").read_text())
    return Sequence(out, list(load_annotation_set(out).frames), tracks["frame_tracks"], tracks["passes"])


def _simulated_detector(seq: Sequence, seed: int) -> list[FramePrediction]:
    """Ground truth as a noisy detector would report it: blinks of up to two frames, jittered boxes,
    one-frame false positives, per-frame damage flips, and reads that fail, decline, or misread."""
    rng = np.random.default_rng(seed)
    dropped_in_a_row: dict[int, int] = {}
    out = []
    for frame, passes in zip(seq.frames, seq.frame_tracks, strict=True):
        pallets: list[DetectedPallet] = []
        labels: list[DetectedLabel] = []
        for truth, pass_index in zip(frame.pallets, passes, strict=True):
            if rng.random() < 0.2 and dropped_in_a_row.get(pass_index, 0) < 2:
                dropped_in_a_row[pass_index] = dropped_in_a_row.get(pass_index, 0) + 1
                continue
            dropped_in_a_row[pass_index] = 0
            x1, y1, x2, y2 = (v + rng.uniform(-4, 4) for v in truth.bbox.as_list())
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(FRAME_W, max(x2, x1 + 2)), min(FRAME_H, max(y2, y1 + 2))
            damaged = truth.damaged if rng.random() > 0.1 else not truth.damaged
            # scores on either side of the served operating point, which the pass decision judges the mean by
            damage_score = float(np.clip(DAMAGE_THRESHOLD + (0.4 if damaged else -0.2) + rng.uniform(-0.1, 0.1), 0, 1))
            label_index = None
            if truth.label is not None and rng.random() > 0.05:
                label_index = len(labels)
                labels.append(_simulated_read(rng, truth.label.bbox.as_list(), truth.label.pro, truth.label.dest))
            pallets.append(DetectedPallet(bbox=[x1, y1, x2, y2], score=float(rng.uniform(0.5, 1.0)),
                                          damaged=damaged, damage_score=damage_score, label_index=label_index))
        if rng.random() < 0.05:  # a one-frame false positive somewhere
            fx, fy = rng.uniform(0, FRAME_W - 200), rng.uniform(0, FRAME_H - 200)
            pallets.append(DetectedPallet(bbox=[fx, fy, fx + 150, fy + 150], score=0.4, damaged=False,
                                          damage_score=0.1))
        out.append(FramePrediction(pallets=pallets, labels=labels, model_versions=VERSIONS))
    return out


def _simulated_read(rng: np.random.Generator, bbox: list[float], pro: str, dest: str) -> DetectedLabel:
    kind = rng.random()
    if kind < 0.7:  # a good read
        return DetectedLabel(bbox=bbox, score=0.9, pro=pro, dest=dest, read_confidence=float(rng.uniform(0.6, 1.0)),
                             raw_text=pro + dest, check_digit_ok=True)
    if kind < 0.85:  # check digit fails: never an answer
        bad = pro[:-1] + str((int(pro[-1]) + 1) % 10)
        return DetectedLabel(bbox=bbox, score=0.9, read_confidence=0.4, raw_text=bad + dest, check_digit_ok=False)
    if kind < 0.95:  # check digit fine, confidence too low: declined
        return DetectedLabel(bbox=bbox, score=0.9, read_confidence=0.3, raw_text=pro + dest, check_digit_ok=True)
    other = make_pro(f"{(int(pro[:9]) + 7) % 10**9:09d}")  # a valid-looking misread, weakly confident
    return DetectedLabel(bbox=bbox, score=0.9, pro=other, dest=dest, read_confidence=float(rng.uniform(0.2, 0.4)),
                         raw_text=other + dest, check_digit_ok=True)


def _run(tracker: PalletTracker, predictions: list[FramePrediction], fps: float = FPS) -> list[FinishedPass]:
    finished: list[FinishedPass] = []
    for frame_id, prediction in enumerate(predictions):
        finished += tracker.update(frame_id, 1_700_000_000 + frame_id / fps, prediction).finished
    return finished + tracker.flush()


@pytest.mark.parametrize("detector_seed", [0, 1, 2])
def test_counts_each_true_pass_once_with_its_label_and_damage(sequence, detector_seed):
    tracker = PalletTracker("site-1", "cam-1")
    passes = _run(tracker, _simulated_detector(sequence, detector_seed))
    assert len(passes) == sequence.passes
    truth_of_frame = {}
    for frame_id, (frame, tracks) in enumerate(zip(sequence.frames, sequence.frame_tracks, strict=True)):
        for pallet, pass_index in zip(frame.pallets, tracks, strict=True):
            truth_of_frame[frame_id] = (pass_index, pallet)
    seen_truth = set()
    for p in passes:
        truths = {truth_of_frame[f][0] for f in p.decision.frame_ids}
        assert len(truths) == 1, f"pass {p.decision.pass_id} mixes true passes {truths}"
        (truth,) = truths
        seen_truth.add(truth)
        labelled = [truth_of_frame[f][1] for f in p.decision.frame_ids if truth_of_frame[f][1].label is not None]
        assert p.decision.pro == labelled[0].label.pro
        assert p.decision.dest == labelled[0].label.dest
        assert p.decision.damaged == truth_of_frame[p.decision.frame_ids[0]][1].damaged
        assert p.decision.pass_id == f"cam-1-{p.track_id}-{p.decision.frame_ids[0]}"
        assert p.decision.model_versions == VERSIONS
        assert p.decision.first_seen < p.decision.last_seen
    assert seen_truth == set(range(sequence.passes))
    assert len({p.decision.pass_id for p in passes}) == len(passes)
    assert tracker.passes_counted == len(passes)


def test_reconciliation_finds_the_planted_missing_and_unexpected_pallets(sequence):
    passes = _run(PalletTracker("site-1", "cam-1"), _simulated_detector(sequence, 7))
    manifest = load_manifest(sequence.directory / "manifest.json")
    carried = {p.label.pro for f in sequence.frames for p in f.pallets if p.label is not None}
    listed = {p.pro for p in manifest.pallets}
    report = reconcile(manifest, [p.decision for p in passes])
    assert [m.pro for m in report.missing] == sorted(listed - carried)
    assert [u.pro for u in report.unexpected] == sorted(carried - listed)
    assert {m.pro for m in report.matched} == carried & listed
    assert len(report.matched) == sequence.passes - 1
    assert report.unread == []


def test_a_perfect_detector_gives_the_same_count_and_frames(sequence):
    predictions = [
        FramePrediction(pallets=[DetectedPallet(bbox=p.bbox.as_list(), score=0.9, damaged=p.damaged,
                                                damage_score=0.9 if p.damaged else 0.1) for p in f.pallets])
        for f in sequence.frames
    ]
    passes = _run(PalletTracker("s", "c"), predictions)
    assert len(passes) == sequence.passes
    annotated = [i for i, f in enumerate(sequence.frames) if f.pallets]
    assert sorted(f for p in passes for f in p.decision.frame_ids) == annotated
    assert all(p.decision.damage_agree and p.decision.pro is None for p in passes)


# ---------------------------------------------------------------- synthetic boxes: properties
@dataclass(frozen=True)
class _Pass:
    start: int
    width: float
    y: float
    speed: float

    def box(self, frame_id: int) -> list[float] | None:
        x1 = -self.width + (frame_id - self.start + 1) * self.speed
        x2 = x1 + self.width
        if frame_id < self.start or x2 <= 0 or x1 >= FRAME_W:
            return None
        return [max(0.0, x1), self.y, min(FRAME_W, x2), self.y + 0.8 * self.width]

    def frames(self) -> int:
        return int((FRAME_W + self.width) / self.speed) + 1


@st.composite
def _scenes(draw, max_passes: int = 4):
    """k pallets carried left to right, one after another; the next may enter once the last is past the middle."""
    k = draw(st.integers(1, max_passes))
    passes, start = [], 0
    for _ in range(k):
        p = _Pass(start=start, width=draw(st.floats(250, 450)), y=draw(st.floats(150, 250)),
                  speed=draw(st.floats(40, 80)))
        passes.append(p)
        to_middle = int((FRAME_W / 2 + p.width) / p.speed) + 1
        start = p.start + draw(st.integers(to_middle, p.frames() + 10))
    blinks = draw(st.lists(st.integers(0, 400), max_size=30))
    return passes, blinks


def _render_boxes(passes: list[_Pass], blinks: list[int], jitter_seed: int, max_blink: int) -> tuple[
        list[FramePrediction], dict[tuple[int, int], int]]:
    """Per frame predictions; a blink removes a detection for 1..max_blink frames. Also the truth of each box."""
    rng = np.random.default_rng(jitter_seed)
    last = max(p.start + p.frames() for p in passes) + 1
    hidden: set[tuple[int, int]] = set()
    for b in blinks:
        which = b % len(passes)
        frame = passes[which].start + (b // len(passes)) % passes[which].frames()
        hidden.update((which, frame + d) for d in range(1 + b % max_blink))
    predictions, truth = [], {}
    run = [0] * len(passes)  # overlapping blinks must not make a gap longer than max_blink
    for frame_id in range(last):
        pallets = []
        for i, p in enumerate(passes):
            box = p.box(frame_id)
            if box is None:
                continue
            if (i, frame_id) in hidden and run[i] < max_blink:
                run[i] += 1
                continue
            run[i] = 0
            box = [box[0], box[1], box[2], box[3]]
            box[0] = max(0.0, box[0] + rng.uniform(-3, 3))
            box[2] = min(FRAME_W, max(box[0] + 2, box[2] + rng.uniform(-3, 3)))
            truth[(frame_id, len(pallets))] = i
            pallets.append(DetectedPallet(bbox=box, score=0.9, damaged=False, damage_score=0.1))
        predictions.append(FramePrediction(pallets=pallets))
    return predictions, truth


def _passes_by_truth(passes: list[_Pass], blinks: list[int], max_blink: int) -> tuple[list[FinishedPass], dict]:
    predictions, truth = _render_boxes(passes, blinks, jitter_seed=len(blinks), max_blink=max_blink)
    tracker = PalletTracker("s", "c")
    finished: list[FinishedPass] = []
    owner: dict[int, set[int]] = {}
    for frame_id, prediction in enumerate(predictions):
        step = tracker.update(frame_id, frame_id / FPS, prediction)
        for index, track_id in step.assignments.items():
            owner.setdefault(track_id, set()).add(truth[(frame_id, index)])
        finished += step.finished
    return finished + tracker.flush(), owner


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenes())
def test_k_pallets_with_blinks_of_up_to_two_frames_are_k_passes(scene):
    passes, blinks = scene
    finished, owner = _passes_by_truth(passes, blinks, max_blink=2)
    assert len(finished) == len(passes)
    truths = [owner[p.track_id] for p in finished]
    assert all(len(t) == 1 for t in truths), "a track took boxes of two pallets"
    assert sorted(next(iter(t)) for t in truths) == list(range(len(passes))), "one pallet, two passes"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenes(max_passes=1), st.integers(3, 20))
def test_a_continuous_track_is_one_pass_whatever_its_speed_changes(scene, seed):
    passes, _ = scene
    rng = np.random.default_rng(seed)
    p = passes[0]
    x, tracker, finished, frame_id = -p.width + p.speed, PalletTracker("s", "c"), [], 0
    while x < FRAME_W:
        box = [max(0.0, x), p.y, min(FRAME_W, x + p.width), p.y + 200]
        if box[2] > box[0] + 1:
            pred = FramePrediction(pallets=[DetectedPallet(bbox=box, score=0.9, damaged=False, damage_score=0.0)])
            finished += tracker.update(frame_id, frame_id / FPS, pred).finished
        frame_id += 1
        x += p.speed * rng.uniform(0.5, 1.5)  # the forklift speeds up and slows down
    assert len(finished + tracker.flush()) == 1


def test_a_gap_longer_than_max_missed_frames_splits_the_pass():
    """The counterpart of the blink property: the tracker really does end tracks (this test can fail)."""
    p = _Pass(start=0, width=300, y=200, speed=60)
    middle = p.frames() // 2
    gap = TrackerConfig().max_missed_frames + 1
    predictions, _ = _render_boxes([p], [], 0, 1)
    for f in range(middle, middle + gap):
        predictions[f] = FramePrediction()
    finished = _run(PalletTracker("s", "c"), predictions)
    assert len(finished) == 2


def test_one_and_two_frame_false_positives_are_not_passes():
    fp = DetectedPallet(bbox=[100, 100, 300, 300], score=0.6, damaged=False, damage_score=0.0)
    frames = [FramePrediction(pallets=[fp]), FramePrediction(), FramePrediction(), FramePrediction(),
              FramePrediction(pallets=[fp]), FramePrediction(pallets=[fp])]
    tracker = PalletTracker("s", "c")
    assert _run(tracker, frames) == []
    assert tracker.false_positives_discarded == 2


def test_frame_ids_must_increase():
    tracker = PalletTracker("s", "c")
    tracker.update(5, 0.0, FramePrediction())
    with pytest.raises(ValueError, match="must increase"):
        tracker.update(5, 0.1, FramePrediction())


def test_track_ids_start_where_told_so_pass_ids_survive_a_restart():
    p = _Pass(start=0, width=300, y=200, speed=60)
    predictions, _ = _render_boxes([p], [], 0, 1)
    first = _run(PalletTracker("s", "cam", first_track_id=1), predictions)
    again = _run(PalletTracker("s", "cam", first_track_id=1000), predictions)
    assert first[0].decision.pass_id != again[0].decision.pass_id
    assert again[0].decision.pass_id.startswith("cam-1000-")


def test_step_assignments_map_detections_to_tracks():
    p = _Pass(start=0, width=300, y=200, speed=60)
    predictions, _ = _render_boxes([p], [], 0, 1)
    tracker = PalletTracker("s", "c")
    steps = [tracker.update(i, i / FPS, pred) for i, pred in enumerate(predictions)]
    ids = {step.assignments[0] for step in steps if step.assignments}
    assert len(ids) == 1
    assert steps[0].confirmed_track_ids == [] and steps[5].confirmed_track_ids == list(ids)


# ---------------------------------------------------------------- the pass decision
PRO_A, PRO_B = make_pro("482711930"), make_pro("123456789")


def _obs(frame_id: int, read: ObservedRead | None = None, damaged: bool = False, damage_score: float = 0.1,
         versions: dict[str, str] | None = None) -> TrackObservation:
    return TrackObservation(frame_id=frame_id, timestamp=float(frame_id), bbox=(0, 0, 10, 10), score=0.8,
                            damaged=damaged, damage_score=damage_score, read=read, model_versions=versions or {})


def _read(pro: str | None, conf: float, ok: bool = True, dest: str | None = "MEM") -> ObservedRead:
    return ObservedRead(pro=pro, dest=dest if pro else None, read_confidence=conf, check_digit_ok=ok,
                        raw_text=(pro or "") + (dest or ""))


def test_vote_is_weighted_by_confidence_not_by_count():
    obs = [_obs(0, _read(PRO_A, 0.95)), _obs(1, _read(PRO_B, 0.3)), _obs(2, _read(PRO_B, 0.3)), _obs(3)]
    d = decide_pass("s", "c", "c-1-0", obs)
    assert d.pro == PRO_A and d.dest == "MEM"
    assert d.reads_agree is False
    assert d.read_confidence == pytest.approx(0.95 * 0.95 / 1.55)


def test_dest_comes_from_the_reads_that_gave_the_winning_pro():
    obs = [_obs(0, _read(PRO_A, 0.9, dest="MEM")), _obs(1, _read(PRO_B, 0.5, dest="ATL")),
           _obs(2, _read(PRO_B, 0.5, dest="ATL")), _obs(3, _read(PRO_A, 0.2, dest="DFW"))]
    d = decide_pass("s", "c", "p", obs)
    assert (d.pro, d.dest, d.reads_agree) == (PRO_A, "MEM", False)


def test_only_check_digit_valid_reads_vote():
    bad = ObservedRead(pro=PRO_A[:-1] + str((int(PRO_A[-1]) + 1) % 10), dest="XXX", read_confidence=0.99,
                       check_digit_ok=True)  # claims ok, but the digit is wrong: does not vote
    obs = [_obs(0, bad), _obs(1, _read(None, 0.2, ok=False)), _obs(2, _read(PRO_B, 0.6, dest="ATL"))]
    d = decide_pass("s", "c", "p", obs)
    assert (d.pro, d.dest, d.reads_agree) == (PRO_B, "ATL", True)
    none = decide_pass("s", "c", "p", obs[:2])
    assert (none.pro, none.dest, none.read_confidence) == (None, None, 0.0)


def test_unanimous_reads_agree_and_keep_their_mean_confidence():
    d = decide_pass("s", "c", "p", [_obs(0, _read(PRO_A, 0.8)), _obs(1, _read(PRO_A, 0.6))])
    assert d.reads_agree and d.read_confidence == pytest.approx(0.7)


def test_damage_is_the_mean_score_and_flags_that_differ_disagree():
    t = DAMAGE_THRESHOLD  # scores around the served operating point
    obs = [_obs(0, damaged=True, damage_score=t + 0.2), _obs(1, damaged=False, damage_score=t - 0.2),
           _obs(2, damaged=True, damage_score=t + 0.15)]
    d = decide_pass("s", "c", "p", obs)
    assert d.damaged and d.damage_score == pytest.approx(t + 0.05) and d.damage_agree is False
    calm = decide_pass("s", "c", "p", [_obs(0, damage_score=t - 0.4), _obs(1, damage_score=t - 0.3)])
    assert not calm.damaged and calm.damage_agree


def test_a_pass_is_judged_at_the_served_models_operating_point():
    # frames flagged damaged at the model's threshold make a damaged pass: their mean is judged by the same one
    # (a fixed 0.5 once decided passes at 0.3-0.5 undamaged while every frame of them was flagged)
    score = DAMAGE_THRESHOLD + 0.05
    d = decide_pass("s", "c", "p", [_obs(i, damaged=True, damage_score=score) for i in range(3)])
    assert d.damaged and d.damage_agree
    below = decide_pass("s", "c", "p", [_obs(i, damage_score=DAMAGE_THRESHOLD - 0.05) for i in range(3)])
    assert not below.damaged


def test_a_model_version_that_changes_mid_track_is_recorded_as_both():
    obs = [_obs(0, versions={"ocr": "1", "detector": "3"}), _obs(1, versions={"ocr": "2", "detector": "3"})]
    assert decide_pass("s", "c", "p", obs).model_versions == {"ocr": "1+2", "detector": "3"}


def test_finished_pass_tells_the_sampler_which_frames_read_what_and_disagree():
    obs = [_obs(10, _read(PRO_A, 0.9)), _obs(11, _read(PRO_B, 0.2)), _obs(12, _read(None, 0.1, ok=False)),
           _obs(13, _read(None, 0.3), damaged=True, damage_score=0.6), _obs(14)]
    tracker = PalletTracker("s", "c", TrackerConfig(min_hits=1))
    for o in obs:
        tracker.update(o.frame_id, o.timestamp, FramePrediction(
            pallets=[DetectedPallet(bbox=[0, 0, 10, 10], score=0.8, damaged=o.damaged, damage_score=o.damage_score,
                                    label_index=0 if o.read else None)],
            labels=[DetectedLabel(bbox=[0, 0, 5, 5], score=0.9, pro=o.read.pro, dest=o.read.dest,
                                  read_confidence=o.read.read_confidence, check_digit_ok=o.read.check_digit_ok,
                                  raw_text=o.read.raw_text)] if o.read else []))
    (finished,) = tracker.flush()
    assert finished.frames_by_pro() == {PRO_A: [10], PRO_B: [11], None: [12, 13]}
    assert finished.disagreeing_frames() == [11, 13]
    assert finished.flags == {PassFlag.READS_DISAGREE, PassFlag.DAMAGE_DISAGREE, PassFlag.CHECK_DIGIT_FAILURE,
                              PassFlag.LOW_CONFIDENCE_READ}


# ---------------------------------------------------------------- one pallet, one pass: broken tracks fold back
def _read_frame(boxes: list[tuple[list[float], str | None]]) -> FramePrediction:
    """Pallet boxes, each with a label read validly as the given PRO (None: no label)."""
    pallets, labels = [], []
    for box, pro in boxes:
        index = None
        if pro is not None:
            index = len(labels)
            labels.append(DetectedLabel(bbox=[box[0] + 10, box[1] + 10, box[0] + 60, box[1] + 50], score=0.9, pro=pro,
                                        dest="MEM", read_confidence=0.9, raw_text=pro + "MEM", check_digit_ok=True))
        pallets.append(DetectedPallet(bbox=box, score=0.9, damaged=False, damage_score=0.05, label_index=index))
    return FramePrediction(pallets=pallets, labels=labels)


def _moving(frame: int, x0: float = 0.0, y: float = 200.0) -> list[float]:
    return [x0 + 30 * frame, y, x0 + 30 * frame + 250, y + 220]


def _passes(frames: list[FramePrediction], config: TrackerConfig | None = None) -> tuple[list[FinishedPass], int]:
    tracker = PalletTracker("s", "c", config)
    return _run(tracker, frames), tracker.fragments_merged


def test_a_track_broken_by_a_longer_blink_is_one_pass_when_it_reads_the_same_pro():
    gap = TrackerConfig().max_missed_frames + 2  # the tracker ends the track: too long for a blink
    frames = [FramePrediction() if 10 <= f < 10 + gap else _read_frame([(_moving(f), PRO_A)]) for f in range(30)]
    passes, merged = _passes(frames)
    assert len(passes) == 1 and merged == 1
    (p,) = passes
    assert p.decision.pro == PRO_A and p.decision.frame_ids == [f for f in range(30) if not 10 <= f < 10 + gap]
    assert p.decision.pass_id.endswith("-0")  # named after its first frame
    # what the merge changes: without it the same frames are two passes of one pallet
    assert len(_passes(frames, TrackerConfig(merge_fragments=False))[0]) == 2


def test_tracks_that_read_different_pros_or_meet_too_late_stay_two_passes():
    gap = TrackerConfig().max_missed_frames + 2
    frames = [FramePrediction() if 10 <= f < 10 + gap else
              _read_frame([(_moving(f), PRO_A if f < 10 else PRO_B)]) for f in range(30)]
    assert len(_passes(frames)[0]) == 2  # another PRO: another pallet
    late = TrackerConfig().merge_gap_frames + 1
    frames = [FramePrediction() if 10 <= f < 10 + late else _read_frame([(_moving(f), PRO_A)]) for f in range(40)]
    assert len(_passes(frames)[0]) == 2  # the same PRO, but not where and when the first track ended


def test_a_second_box_on_the_same_pallet_is_not_a_second_pass():
    # frames 8-13: the detector also boxes the load on top of the pallet (low IoU with the pallet's box)
    frames = []
    for f in range(30):
        box = _moving(f)
        boxes = [(box, PRO_A)]
        if 8 <= f < 14:
            boxes.append(([box[0] + 120, box[1], box[2] + 40, box[3] - 150], PRO_A))
        frames.append(_read_frame(boxes))
    passes, merged = _passes(frames)
    assert len(passes) == 1 and merged == 1
    assert len(passes[0].decision.frame_ids) == 30  # one observation a frame, the better-scored box


def test_two_pallets_of_one_shipment_side_by_side_are_two_passes():
    # the same PRO on two pallets carried together (one shipment): they never touch, so they are not folded
    frames = [_read_frame([(_moving(f, y=50.0), PRO_A), (_moving(f, y=400.0), PRO_A)]) for f in range(25)]
    passes, merged = _passes(frames)
    assert len(passes) == 2 and merged == 0
