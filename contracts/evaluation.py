"""Scoring of predictions against an `edgecv-annotations/1` set, producing `edgecv-eval/1`.

Pure functions: no inference here (the caller runs the pipeline, in-process or through Triton).
Matching: a prediction matches a ground-truth box of the same class at IoU >= 0.5, greedy by
descending score. OCR and damage are scored on matched labels and matched pallets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from contracts.annotations import AnnotatedFrame
from contracts.predictions import FramePrediction

EVAL_FORMAT = "edgecv-eval/1"
IOU_THRESHOLD = 0.5


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    """Area of the overlap of two `[x1, y1, x2, y2]` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = intersection(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def share_inside(a: Sequence[float], b: Sequence[float]) -> float:
    """The share of box `a`'s area that lies inside box `b`."""
    area = (a[2] - a[0]) * (a[3] - a[1])
    return intersection(a, b) / area if area > 0 else 0.0


def greedy_match(truth: Sequence[Sequence[float]], preds: Sequence[Sequence[float]],
                 scores: Sequence[float], threshold: float = IOU_THRESHOLD) -> dict[int, int]:
    """{prediction index: truth index}; predictions in descending score take the best free truth."""
    matches: dict[int, int] = {}
    taken: set[int] = set()
    for p in sorted(range(len(preds)), key=lambda i: -scores[i]):
        best, best_iou = -1, threshold
        for t in range(len(truth)):
            if t in taken:
                continue
            v = iou(preds[p], truth[t])
            if v >= best_iou:
                best, best_iou = t, v
        if best >= 0:
            matches[p] = best
            taken.add(best)
    return matches


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _prf(tp: int, n_pred: int, n_true: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else (1.0 if n_true == 0 else 0.0)
    r = tp / n_true if n_true else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    s = sorted(values)

    def q(f: float) -> float:
        k = (len(s) - 1) * f
        lo, hi = int(k), min(int(k) + 1, len(s) - 1)
        return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 3)

    return {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99)}


@dataclass
class _Tally:
    tp: int = 0
    n_pred: int = 0
    n_true: int = 0

    def add(self, tp: int, n_pred: int, n_true: int) -> None:
        self.tp += tp
        self.n_pred += n_pred
        self.n_true += n_true


@dataclass
class EvalAccumulator:
    """Feed frames one at a time (so a long set streams), then `report()`."""

    pallet: _Tally = field(default_factory=_Tally)
    label: _Tally = field(default_factory=_Tally)
    person: _Tally = field(default_factory=_Tally)
    people_scored: bool = False
    ocr_n: int = 0
    ocr_right: int = 0
    ocr_edits: int = 0
    ocr_chars: int = 0
    damage: _Tally = field(default_factory=_Tally)
    damage_n: int = 0
    count_right: int = 0
    frames: int = 0
    latencies: list[float] = field(default_factory=list)
    model_versions: dict[str, str] = field(default_factory=dict)

    def add(self, truth: AnnotatedFrame, pred: FramePrediction) -> None:
        self.frames += 1
        self.latencies.append(pred.latency_ms)
        self.model_versions = pred.model_versions or self.model_versions
        gt_pallets = [p.bbox.as_list() for p in truth.pallets]
        pm = greedy_match(gt_pallets, [p.bbox for p in pred.pallets], [p.score for p in pred.pallets])
        self.pallet.add(len(pm), len(pred.pallets), len(gt_pallets))
        for pi, ti in pm.items():
            self.damage_n += 1
            self.damage.add(
                int(pred.pallets[pi].damaged and truth.pallets[ti].damaged),
                int(pred.pallets[pi].damaged), int(truth.pallets[ti].damaged),
            )
        gt_labels = [p.label for p in truth.pallets if p.label is not None]
        lm = greedy_match([lb.bbox.as_list() for lb in gt_labels], [lb.bbox for lb in pred.labels],
                          [lb.score for lb in pred.labels])
        self.label.add(len(lm), len(pred.labels), len(gt_labels))
        for li, ti in lm.items():
            got, want = pred.labels[li], gt_labels[ti]
            self.ocr_n += 1
            self.ocr_right += int(got.pro == want.pro and got.dest == want.dest)
            self.ocr_edits += edit_distance(got.raw_text, want.pro + want.dest)
            self.ocr_chars += len(want.pro) + len(want.dest)
        if truth.people is not None:
            self.people_scored = True
            gt_people = [q.bbox.as_list() for q in truth.people]
            qm = greedy_match(gt_people, [q.bbox for q in pred.people], [q.score for q in pred.people])
            self.person.add(len(qm), len(pred.people), len(gt_people))
        self.count_right += int(len(pred.pallets) == len(truth.pallets))

    def report(self, dataset: str) -> dict:
        detection = {
            "pallet": _prf(self.pallet.tp, self.pallet.n_pred, self.pallet.n_true),
            "label": _prf(self.label.tp, self.label.n_pred, self.label.n_true),
        }
        if self.people_scored:
            detection["person"] = _prf(self.person.tp, self.person.n_pred, self.person.n_true)
        return {
            "format": EVAL_FORMAT,
            "dataset": dataset,
            "frames": self.frames,
            "model_versions": self.model_versions,
            "detection": detection,
            "ocr": {
                "n": self.ocr_n,
                "exact_match": round(self.ocr_right / self.ocr_n, 4) if self.ocr_n else 0.0,
                "cer": round(self.ocr_edits / self.ocr_chars, 4) if self.ocr_chars else 0.0,
            },
            "damage": {"n": self.damage_n, **_prf(self.damage.tp, self.damage.n_pred, self.damage.n_true)},
            "pallet_count_accuracy": round(self.count_right / self.frames, 4) if self.frames else 0.0,
            "latency_ms": _percentiles(self.latencies),
        }


# Seed acceptance criteria of the models issue.
GATES = {
    ("detection", "pallet", "precision"): 0.95, ("detection", "pallet", "recall"): 0.90,
    ("detection", "pallet", "f1"): 0.92, ("detection", "label", "precision"): 0.95,
    ("detection", "label", "recall"): 0.90, ("detection", "label", "f1"): 0.92,
    ("ocr", "exact_match"): 0.95, ("damage", "precision"): 0.95, ("damage", "recall"): 0.90,
    ("damage", "f1"): 0.92, ("pallet_count_accuracy",): 0.95,
}


def gate_failures(report: dict, gates: dict[tuple[str, ...], float] = GATES) -> list[str]:
    """The gates a report misses, as 'path value < threshold' strings (empty: all passed)."""
    failures = []
    for path, threshold in gates.items():
        value = report
        for key in path:
            value = value[key]
        if value < threshold:
            failures.append(f"{'.'.join(path)} {value:.4f} < {threshold}")
    return failures
