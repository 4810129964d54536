from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from contracts.predictions import DetectedPerson, FramePrediction
from edge_appliance.privacy import BlurConfig, blur_boxes, blur_people


def _noise(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _face(h: int = 120, w: int = 160) -> np.ndarray:
    """A high-contrast 'face': eyes, nose and mouth as black/white blocks on grey."""
    img = np.full((h, w, 3), 128, np.uint8)
    img[40:50, 60:70] = 0
    img[40:50, 90:100] = 0
    img[55:70, 77:83] = 255
    img[78:84, 65:95] = 0
    return img


def _detail(a: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: what makes a face recognisable."""
    g = a.astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_blur_removes_fine_detail_inside_the_box_only() -> None:
    frame = _noise()
    original = frame.copy()
    n = blur_boxes(frame, [[40, 30, 100, 90]], BlurConfig(margin=0.0, min_margin_px=0))
    assert n == 1
    inside, before = frame[30:90, 40:100], original[30:90, 40:100]
    assert _detail(inside) < 0.1 * _detail(before)
    outside = np.ones(frame.shape[:2], bool)
    outside[30:90, 40:100] = False
    assert np.array_equal(frame[outside], original[outside])


def test_face_features_do_not_survive() -> None:
    frame = _face()
    blur_boxes(frame, [[50, 20, 110, 100]])
    # the eyes were pure black and the nose pure white: nothing near either extreme is left
    region = frame[20:100, 50:110].astype(int)
    assert region.min() > 40 and region.max() < 215


def test_margin_grows_the_box() -> None:
    frame = _noise()
    original = frame.copy()
    blur_boxes(frame, [[60, 40, 100, 80]], BlurConfig(margin=0.25, min_margin_px=0))
    # 10 px margin on each side: the ring just outside the box is changed too
    assert not np.array_equal(frame[32:40, 60:100], original[32:40, 60:100])
    assert np.array_equal(frame[:25], original[:25])


def test_pil_image_blurred_in_place_and_matches_numpy() -> None:
    arr = _noise()
    img = Image.fromarray(arr.copy())
    assert blur_boxes(img, [[10, 10, 70, 70]]) == 1
    assert blur_boxes(arr, [[10, 10, 70, 70]]) == 1
    assert np.array_equal(np.asarray(img), arr)


def test_boxes_outside_the_frame_are_not_counted_and_partial_ones_are_clipped() -> None:
    frame = _noise()
    original = frame.copy()
    n = blur_boxes(frame, [[500, 500, 600, 600], [-50, -50, 20, 20]], BlurConfig(min_margin_px=0, margin=0.0))
    assert n == 1
    assert not np.array_equal(frame[:20, :20], original[:20, :20])
    assert np.array_equal(frame[30:], original[30:])


def test_non_finite_box_fails_closed_by_blurring_everything() -> None:
    frame = _noise()
    before = _detail(frame)
    assert blur_boxes(frame, [[float("nan"), 0, 10, 10]]) == 1
    assert _detail(frame) < 0.1 * before


def test_blur_people_uses_every_person_box() -> None:
    frame = _noise()
    original = frame.copy()
    pred = FramePrediction(people=[DetectedPerson(bbox=[0, 0, 30, 30], score=0.4),
                                   DetectedPerson(bbox=[120, 80, 150, 110], score=0.9)])
    assert blur_people(frame, pred) == 2
    assert not np.array_equal(frame[:30, :30], original[:30, :30])
    assert not np.array_equal(frame[80:110, 120:150], original[80:110, 120:150])
    assert blur_people(frame, FramePrediction()) == 0


def test_wrong_frame_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        blur_boxes(np.zeros((10, 10), np.uint8), [[0, 0, 5, 5]])
