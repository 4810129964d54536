import numpy as np
import pytest

from contracts.pro import make_pro
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
