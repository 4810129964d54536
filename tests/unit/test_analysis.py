from training.analysis import summarise


def test_threshold_trade_off_and_height_bins():
    rows = [
        {"height": 90, "confidence": 0.9, "well_formed": True, "pro_right": True, "dest_right": True},
        {"height": 95, "confidence": 0.3, "well_formed": True, "pro_right": False, "dest_right": True},
        {"height": 150, "confidence": 0.8, "well_formed": False, "pro_right": False, "dest_right": False},
        {"height": 200, "confidence": 0.7, "well_formed": True, "pro_right": True, "dest_right": False},
    ]
    out = summarise(rows)
    assert out["by_height"]["80-110"] == {"n": 2, "pro_right": 0.5, "dest_right": 1.0}
    assert out["thresholds"]["0.0"] == {"exact_match": 0.25, "accepted": 3, "wrong_among_accepted": round(2 / 3, 4)}
    assert out["thresholds"]["0.5"] == {"exact_match": 0.25, "accepted": 2, "wrong_among_accepted": 0.5}
