"""Damage recall by kind, size and frame edge (training.damage_analysis): the grouping arithmetic."""

import pytest

from training.damage_analysis import DamagedPallet, recall_by, summarise


def test_recall_counts_only_found_pallets_and_a_pallet_counts_for_each_of_its_kinds():
    rows = [DamagedPallet(("leaning",), 100.0, False, 0.2), DamagedPallet(("leaning", "stain"), 200.0, True, 0.9),
            DamagedPallet(("stain",), 300.0, False, None), DamagedPallet(("stain",), 400.0, False, 0.8)]
    by_kind = recall_by(rows, lambda r: r.kinds, threshold=0.5)
    assert by_kind["leaning"] == {"damaged": 2, "not_detected": 0, "recall": 0.5, "median_score_of_misses": 0.2}
    assert by_kind["stain"] == {"damaged": 3, "not_detected": 1, "recall": 1.0, "median_score_of_misses": None}


def test_summary_groups_by_edge_and_size():
    rows = [DamagedPallet(("torn_wrap",), float(a), a > 300, s) for a, s in ((100, 0.9), (200, 0.1), (300, 0.95),
                                                                             (400, 0.3))]
    summary = summarise(rows, threshold=0.5)
    assert summary["damaged_pallets"] == 4
    assert summary["by_frame_edge"]["cut by the edge"]["recall"] == 0.0
    assert summary["by_frame_edge"]["whole"]["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert sum(g["damaged"] for g in summary["by_area_quartile"].values()) == 4
