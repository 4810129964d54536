from contracts.annotations import AnnotatedFrame
from contracts.evaluation import EvalAccumulator, edit_distance, gate_failures, greedy_match, iou
from contracts.predictions import DetectedLabel, DetectedPallet, FramePrediction

TRUTH = AnnotatedFrame.model_validate({
    "image": "f.png", "width": 1280, "height": 720,
    "pallets": [
        {"bbox": [100, 100, 400, 500], "damaged": True,
         "label": {"bbox": [200, 200, 260, 290], "pro": "4827119301", "dest": "MEM"}},
        {"bbox": [600, 100, 900, 500], "damaged": False, "label": None},
    ],
})


def perfect() -> FramePrediction:
    return FramePrediction(
        pallets=[DetectedPallet(bbox=[100, 100, 400, 500], score=0.9, damaged=True, damage_score=0.9),
                 DetectedPallet(bbox=[600, 100, 900, 500], score=0.8, damaged=False, damage_score=0.1)],
        labels=[DetectedLabel(bbox=[200, 200, 260, 290], score=0.9, pro="4827119301", dest="MEM",
                              raw_text="4827119301MEM")],
        latency_ms=10.0,
    )


def test_iou_and_greedy_matching_prefers_high_scores():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    truth = [[0, 0, 10, 10]]
    preds = [[0, 0, 10, 9], [0, 0, 10, 10]]
    assert greedy_match(truth, preds, [0.9, 0.5]) == {0: 0}  # the higher score wins, not the better box
    assert greedy_match(truth, [[0, 0, 10, 4]], [0.9]) == {}  # IoU 0.4 < 0.5


def test_perfect_prediction_scores_one():
    acc = EvalAccumulator()
    acc.add(TRUTH, perfect())
    report = acc.report("x")
    assert report["format"] == "edgecv-eval/1"
    assert report["detection"]["pallet"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert report["ocr"] == {"n": 1, "exact_match": 1.0, "cer": 0.0}
    assert report["damage"]["f1"] == 1.0
    assert report["pallet_count_accuracy"] == 1.0
    assert "person" not in report["detection"]  # people not annotated: not scored
    assert gate_failures(report) == []


def test_declined_read_counts_as_wrong_and_extra_pallet_breaks_count():
    pred = perfect()
    pred.labels[0].pro = None
    pred.labels[0].dest = None
    pred.pallets.append(DetectedPallet(bbox=[1000, 100, 1200, 500], score=0.3, damaged=False, damage_score=0.0))
    acc = EvalAccumulator()
    acc.add(TRUTH, pred)
    report = acc.report("x")
    assert report["ocr"]["exact_match"] == 0.0
    assert report["pallet_count_accuracy"] == 0.0
    assert report["detection"]["pallet"]["precision"] == round(2 / 3, 4)
    assert any(f.startswith("ocr.exact_match") for f in gate_failures(report))


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
