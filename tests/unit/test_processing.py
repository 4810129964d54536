import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.pro import is_valid_pro, make_pro
from model_repository import ctc_decoding as C
from model_repository import processing as P


def test_detector_targets_decode_back_to_the_boxes():
    torch = pytest.importorskip("torch")  # noqa: F841 - the trainer module imports torch
    from training.train_detector import build_targets

    frame_boxes = np.array([[100, 200, 500, 620, 0], [250, 300, 330, 420, 1], [900, 100, 1050, 560, 2]], np.float32)
    scale = 0.5
    heat, size, offset, _ = build_targets(np.concatenate([frame_boxes[:, :4] * scale, frame_boxes[:, 4:]], axis=1))
    det = P.decode_detections(heat, size, offset, scale, (720, 1280), threshold=0.99)
    assert len(det.boxes) == 3
    for box, cls in zip(frame_boxes, [0, 1, 2], strict=True):
        i = int(np.where(det.classes == cls)[0][0])
        assert np.allclose(det.boxes[i], box[:4], atol=1.0)


def test_detector_input_shape_and_scale():
    x, scale = P.detector_input(np.zeros((720, 1280, 3), np.uint8))
    assert x.shape == (3, P.DETECTOR_H, P.DETECTOR_W) and x.dtype == np.float32
    assert scale == 0.5


def _log_probs(path: list[int], classes: int) -> np.ndarray:
    lp = np.full((len(path), classes), -20.0, np.float32)
    lp[np.arange(len(path)), path] = 0.0
    return lp


def test_ctc_greedy_collapses_repeats_and_blanks():
    # "1 1 _ 1 2" -> "112"
    text, conf = P.ctc_greedy(_log_probs([2, 2, 0, 2, 3, 0], 11), P.PRO_ALPHABET)
    assert text == "112" and conf == pytest.approx(1.0)


def _spelled(text: str, alphabet: str) -> list[int]:
    """A CTC path that spells `text`: each character followed by a blank."""
    return [k for c in text for k in (1 + alphabet.index(c), 0)]


def test_read_label_refuses_a_failed_check_digit():
    pro = make_pro("482711930")
    bad = pro[:9] + str((int(pro[9]) + 1) % 7)
    dest = _log_probs(_spelled("DESTMEM", P.DEST_ALPHABET), 27)
    good_read = P.read_label(_log_probs(_spelled(pro, P.PRO_ALPHABET), 11), dest)
    bad_read = P.read_label(_log_probs(_spelled(bad, P.PRO_ALPHABET), 11), dest)
    assert (good_read.pro, good_read.dest) == (pro, "MEM")
    assert bad_read.pro is None and bad_read.dest is None and not bad_read.check_digit_ok
    assert bad_read.raw_pro == bad


def test_crop_outside_the_frame_is_padded_not_an_error():
    frame = np.full((720, 1280, 3), 200, np.uint8)
    crop = P.crop_resize(frame, [1200, 650, 1400, 800], 64, 64)
    assert crop.shape == (64, 64, 3)
    assert crop[0, 0].tolist() == [200, 200, 200] and crop[-1, -1].tolist() == [0, 0, 0]
    assert P.ocr_input(frame, [10, 10, 60, 90]).shape == (1, P.OCR_H, P.OCR_W)
    assert P.damage_input(frame, [-50, -50, 300, 300]).shape == (3, P.DAMAGE_SIZE, P.DAMAGE_SIZE)


def test_nms_drops_overlaps_and_inner_boxes_of_the_same_class_only():
    boxes = np.array([[0, 0, 100, 100], [5, 5, 100, 100], [30, 30, 60, 60], [30, 30, 60, 60], [200, 0, 300, 100]],
                     np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5], np.float32)
    classes = np.array([0, 0, 0, 1, 0], np.int32)
    kept = P.box_nms(boxes, scores, classes, iou_threshold=0.55, containment=0.7)
    # 1 overlaps 0; 2 lies inside 0; 3 is another class; 4 is elsewhere
    assert kept.tolist() == [0, 3, 4]


def test_a_dest_line_without_its_prefix_is_not_an_answer():
    pro = make_pro("482711930")
    read = P.read_label(_log_probs(_spelled(pro, P.PRO_ALPHABET), 11), _log_probs(_spelled("MEM", P.DEST_ALPHABET), 27))
    assert read.pro is None and read.raw_dest == "MEM"


# ---------------------------------------------------------------- constrained CTC decoding
def _lattice(rows: list[dict[int, float]], classes: int) -> np.ndarray:
    """Log-probabilities from per-step {class: probability}; the rest of each step's mass is blank."""
    probs = np.full((len(rows), classes), 1e-9)
    for t, row in enumerate(rows):
        for k, p in row.items():
            probs[t, k] = p
        probs[t, 0] = max(1.0 - sum(row.values()), 1e-9)
    return np.log(probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def _spelled_rows(text: str, alphabet: str) -> list[dict[int, float]]:
    return [row for c in text for row in ({1 + alphabet.index(c): 1.0}, {})]


def _brute_force_string_probs(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """Every path of a tiny lattice, collapsed: the exact probability of every string."""
    t, k = log_probs.shape
    probs = np.exp(log_probs.astype(np.float64))
    out: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(k), repeat=t):
        collapsed = tuple(c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1]))
        out[collapsed] = out.get(collapsed, 0.0) + float(np.prod(probs[np.arange(t), path]))
    return out


tiny_lattices = st.integers(2, 5).flatmap(lambda t: st.integers(2, 3).flatmap(lambda k: st.lists(
    st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k), min_size=t, max_size=t)))


def _normalised(rows: list[list[float]]) -> np.ndarray:
    p = np.array(rows, np.float64)
    return np.log(p / p.sum(axis=1, keepdims=True))


@settings(max_examples=60, deadline=None)
@given(tiny_lattices)
def test_string_log_prob_is_the_sum_over_all_paths(rows):
    lp = _normalised(rows)
    for labels, p in _brute_force_string_probs(lp).items():
        assert np.exp(C.string_log_prob(lp, labels)) == pytest.approx(p, rel=1e-9, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(tiny_lattices)
def test_wide_prefix_search_finds_the_most_probable_string(rows):
    lp = _normalised(rows)
    exact = _brute_force_string_probs(lp)
    found = C.prefix_search(lp, C.AnyString(), beam=10_000, prune=0.0)
    best, log_p = found[0]
    assert exact[best] == pytest.approx(max(exact.values()), rel=1e-9)
    assert np.exp(log_p) == pytest.approx(exact[best], rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_every_pro_the_search_spells_passes_the_check_digit(seed):
    rng = np.random.default_rng(seed)
    lp = np.log(rng.dirichlet(np.full(11, 0.3), size=48))
    for labels, log_p in C.prefix_search(lp, P.PRO_GRAMMAR):
        assert is_valid_pro("".join(P.PRO_ALPHABET[k - 1] for k in labels))
        assert log_p <= C.string_log_prob(lp, labels) + 1e-9  # the beam's mass is a lower bound


def test_the_check_digit_picks_the_valid_one_of_two_doubtful_digits():
    pro = make_pro("482711930")
    wrong = pro[:3] + str((int(pro[3]) + 1) % 10) + pro[4:]  # one digit off: fails the check digit
    rows = _spelled_rows(pro, P.PRO_ALPHABET)
    rows[6] = {1 + P.PRO_ALPHABET.index(wrong[3]): 0.55, 1 + P.PRO_ALPHABET.index(pro[3]): 0.45}
    dest = _lattice(_spelled_rows("DESTMEM", P.DEST_ALPHABET), 27)
    greedy_pro, _ = P.ctc_greedy(_lattice(rows, 11), P.PRO_ALPHABET)
    read = P.read_label(_lattice(rows, 11), dest)
    assert greedy_pro == wrong and not is_valid_pro(wrong)
    assert (read.pro, read.dest, read.check_digit_ok) == (pro, "MEM", True)
    assert read.confidence == pytest.approx(0.45, abs=0.01)  # the margin over the (improbable) runner-up


def test_an_ambiguity_the_check_digit_cannot_resolve_is_not_an_answer():
    pro = make_pro("482711930")
    twin = pro[:4] + "8" + pro[5:]  # pro[4] is "1": digits 7 apart keep int(first nine) % 7
    assert is_valid_pro(twin) and twin != pro
    rows = _spelled_rows(pro, P.PRO_ALPHABET)
    rows[8] = {1 + P.PRO_ALPHABET.index(pro[4]): 0.52, 1 + P.PRO_ALPHABET.index(twin[4]): 0.48}
    read = P.read_label(_lattice(rows, 11), _lattice(_spelled_rows("DESTMEM", P.DEST_ALPHABET), 27))
    assert read.raw_pro == pro and read.check_digit_ok
    assert read.confidence == pytest.approx(0.04, abs=0.01) and read.pro is None and read.dest is None


def test_a_doubtful_dest_letter_lowers_the_read_confidence():
    pro = make_pro("482711930")
    rows = _spelled_rows("DESTMEM", P.DEST_ALPHABET)
    rows[10] = {1 + P.DEST_ALPHABET.index("E"): 0.5, 1 + P.DEST_ALPHABET.index("F"): 0.45}
    read = P.read_label(_lattice(_spelled_rows(pro, P.PRO_ALPHABET), 11), _lattice(rows, 27))
    assert read.raw_dest == "MEM" and read.confidence == pytest.approx(0.05, abs=0.01) and not read.valid
    assert P.read_label(_lattice(_spelled_rows(pro, P.PRO_ALPHABET), 11), _lattice(rows, 27),
                        min_confidence=0.01).dest == "MEM"


def test_a_dest_line_of_the_wrong_length_has_no_answer():
    pro = make_pro("482711930")
    read = P.read_label(_lattice(_spelled_rows(pro, P.PRO_ALPHABET), 11),
                        _lattice(_spelled_rows("DESTMEMO", P.DEST_ALPHABET), 27))
    assert read.dest is None and read.pro is None and read.confidence == 0.0


# ---------------------------------------------------------------- reading against a lexicon (the teacher's manifests)
def _blurred(text: str, alphabet: str, classes: int, sure: float, rng: np.random.Generator) -> np.ndarray:
    """A lattice that spells `text` with only `sure` of each character's mass; the rest is spread at random."""
    rows = []
    for c in text:
        k = 1 + alphabet.index(c)
        rest = rng.dirichlet(np.ones(classes - 1)) * (1 - sure)
        row = {j + 1: float(p) for j, p in enumerate(rest)}
        row[k] = row.get(k, 0.0) + sure
        rows += [row, {}]
    return _lattice(rows, classes)


def test_a_poor_read_of_a_manifest_label_is_resolved_by_the_manifest():
    rng = np.random.default_rng(3)
    lexicon = [(make_pro(f"{n:09d}"), d) for n, d in ((482711930, "MEM"), (100200300, "ATL"), (555123999, "DFW"))]
    pro, dest = lexicon[1]
    pro_lp = _blurred(pro, P.PRO_ALPHABET, 11, 0.4, rng)
    dest_lp = _blurred(P.DEST_PREFIX + dest, P.DEST_ALPHABET, 27, 0.4, rng)
    assert P.read_label(pro_lp, dest_lp).pro is None  # on its own the reader gives no answer
    read = P.read_label_in_lexicon(pro_lp, dest_lp, lexicon)
    assert (read.pro, read.dest) == (pro, dest) and read.posterior > 0.9


def test_a_clear_label_that_is_not_in_the_lexicon_gets_no_entry():
    pro = make_pro("123456789")
    lexicon = [(make_pro("123456780"), "MEM"), (make_pro("923456789"), "ATL")]  # near misses
    read = P.read_label_in_lexicon(_log_probs(_spelled(pro, P.PRO_ALPHABET), 11),
                                   _log_probs(_spelled("DESTMEM", P.DEST_ALPHABET), 27), lexicon)
    assert (read.pro, read.dest, read.posterior) == (None, None, 0.0)


def test_entries_the_reader_cannot_tell_apart_get_no_answer():
    pro = make_pro("482711930")
    rows = _spelled_rows(pro, P.PRO_ALPHABET)
    twin = pro[:4] + "8" + pro[5:]  # a valid PRO too: digits 7 apart keep int(first nine) % 7
    rows[8] = {1 + P.PRO_ALPHABET.index(pro[4]): 0.5, 1 + P.PRO_ALPHABET.index(twin[4]): 0.5}
    lexicon = [(pro, "MEM"), (twin, "MEM")]
    read = P.read_label_in_lexicon(_lattice(rows, 11), _lattice(_spelled_rows("DESTMEM", P.DEST_ALPHABET), 27),
                                   lexicon)
    assert read.pro is None and 0.3 < read.posterior < 0.7


@pytest.mark.parametrize("lexicon", [[], [("12345", "MEM")], [(make_pro("482711930"), "mem")]])
def test_an_empty_or_malformed_lexicon_gives_no_answer(lexicon):
    pro = make_pro("482711930")
    read = P.read_label_in_lexicon(_log_probs(_spelled(pro, P.PRO_ALPHABET), 11),
                                   _log_probs(_spelled("DESTMEM", P.DEST_ALPHABET), 27), lexicon)
    assert read.pro is None and read.dest is None


def test_reader_views_shift_the_crop_vertically_and_keep_its_columns() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, size=(200, 160, 3), dtype=np.uint8)
    views = P.ocr_views(frame, [40.0, 50.0, 100.0, 150.0])
    assert views.shape == (len(P.READ_VIEW_SHIFTS), 1, P.OCR_H, P.OCR_W) and views.dtype == np.float32
    assert np.array_equal(views[0], P.ocr_input(frame, [40.0, 50.0, 100.0, 150.0]))  # the crop itself first
    assert np.array_equal(views[1], P.ocr_input(frame, [40.0, 48.0, 100.0, 148.0]))  # up by 2% of 100 px
    batch = P.reader_batch(frame, np.array([[40.0, 50.0, 100.0, 150.0], [10.0, 20.0, 50.0, 80.0]]))
    assert batch.shape == (2 * len(P.READ_VIEW_SHIFTS), 1, P.OCR_H, P.OCR_W)
    assert np.array_equal(batch[:len(P.READ_VIEW_SHIFTS)], views)  # label by label


def test_merged_reader_views_are_each_labels_mean_probability() -> None:
    views = len(P.READ_VIEW_SHIFTS)
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(2 * views + 1, 48, 11))  # two labels' views and one extra row (ignored)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    merged = P.merge_reader_views(log_probs, 2)
    assert merged.shape == (2, 48, 11)
    assert np.allclose(np.exp(merged[0]), np.exp(log_probs[:views]).mean(axis=0))
    assert np.allclose(np.exp(merged[1]), np.exp(log_probs[views:2 * views]).mean(axis=0))
    assert np.allclose(np.exp(merged).sum(axis=-1), 1.0)  # still a distribution per frame
    same = np.repeat(log_probs[:1], views, axis=0)
    assert np.allclose(P.merge_reader_views(same, 1)[0], log_probs[0])  # identical views change nothing
    assert P.merge_reader_views(log_probs, 0).shape == (0, 48, 11)


def test_damage_views_are_the_crop_and_its_mirror_and_average_their_logits() -> None:
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 255, size=(200, 160, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 10.0, 90.0, 150.0], [60.0, 40.0, 150.0, 190.0]])
    batch = P.damage_batch(frame, boxes)
    assert batch.shape == (2 * P.DAMAGE_VIEWS, 3, P.DAMAGE_SIZE, P.DAMAGE_SIZE) and batch.dtype == np.float32
    crop = P.damage_input(frame, boxes[1])
    assert np.array_equal(batch[2], crop) and np.array_equal(batch[3], crop[:, :, ::-1])
    logits = np.array([[2.0], [0.0], [-1.0], [-3.0], [9.0]], np.float32)  # one extra row (ignored)
    assert np.allclose(P.merge_damage_views(logits, 2), P.sigmoid(np.array([1.0, -2.0])))
