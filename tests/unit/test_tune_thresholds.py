import numpy as np
import pytest

from training.tune_thresholds import (
    ReadOutcome,
    choose_damage_threshold,
    choose_read_threshold,
    damage_curve,
    read_curve,
)


def test_read_threshold_is_the_lowest_that_keeps_wrong_answers_under_the_bound():
    # confidences 0.9..0.1: the two wrong reads sit at 0.35 and 0.15
    outcomes = [ReadOutcome(c, True, c not in (0.35, 0.15)) for c in (0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.35, 0.15)]
    outcomes.append(ReadOutcome(0.95, False, False))  # not well formed: never an answer
    curve = read_curve(outcomes, grid=(0.1, 0.2, 0.3, 0.4))
    assert curve[0.1] == {"exact_match": round(6 / 9, 4), "answered": round(8 / 9, 4),
                          "wrong_share_of_answers": 0.25, "wrong_per_label": round(2 / 9, 4)}
    assert curve[0.4]["wrong_share_of_answers"] == 0.0
    assert choose_read_threshold(curve, max_wrong=0.2) == 0.2  # one wrong of seven answers
    assert choose_read_threshold(curve, max_wrong=0.0) == 0.4


def test_no_threshold_under_the_bound_is_an_error():
    curve = read_curve([ReadOutcome(0.9, True, False)], grid=(0.1, 0.5))
    with pytest.raises(ValueError, match="no threshold"):
        choose_read_threshold(curve, max_wrong=0.01)


def test_damage_threshold_is_the_best_f1_among_precise_enough_ones():
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3])
    truth = np.array([True, True, True, False, True, False, True])
    curve = damage_curve(scores, truth, grid=(0.25, 0.5, 0.65, 0.75))
    assert curve[0.75] == {"precision": 1.0, "recall": 0.6, "f1": 0.75}
    assert curve[0.5]["precision"] == 0.8
    assert choose_damage_threshold(curve, min_precision=0.95) == 0.75
    assert choose_damage_threshold(curve, min_precision=0.7) == 0.25  # P 5/7, R 1: the best F1
