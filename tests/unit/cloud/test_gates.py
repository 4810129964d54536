"""Review gate and evaluation gate (pure)."""

from __future__ import annotations

import copy

import pytest

from contracts.evaluation import GATES
from lambdas.common.events import GateVerdict, LabelResult, ReviewDecision
from lambdas.evaluate.gate import flatten, judge
from lambdas.review.core import decide


def labels(n: int, low: float) -> LabelResult:
    return LabelResult(manifest_key="k", labeled=n, min_confidence=low, mean_confidence=max(low, 0.9))


@pytest.mark.parametrize(("n", "low", "expected"), [
    (5, 0.95, ReviewDecision.APPROVED), (5, 0.8, ReviewDecision.APPROVED), (5, 0.79, ReviewDecision.NEEDS_REVIEW),
    (0, 1.0, ReviewDecision.REJECTED), (2, 0.99, ReviewDecision.REJECTED)])
def test_review_gate(n: int, low: float, expected: ReviewDecision) -> None:
    assert decide(labels(n, low), auto_approve_confidence=0.8, min_samples=3 if n == 2 else 1).decision is expected


def passing_report() -> dict:
    report: dict = {}
    for path in GATES:
        node = report
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = 0.99
    return report


def test_eval_gate_passes_a_good_candidate_without_production() -> None:
    verdict, failures, metrics = judge(passing_report(), None)
    assert verdict is GateVerdict.PASS and failures == []
    assert metrics["ocr.exact_match"] == 0.99 and len(metrics) == len(GATES)


def test_eval_gate_fails_a_per_class_gate() -> None:
    report = passing_report()
    report["detection"]["label"]["recall"] = 0.5
    verdict, failures, _ = judge(report, None)
    assert verdict is GateVerdict.FAIL and failures == ["detection.label.recall 0.5000 < 0.9"]


def test_eval_gate_fails_a_regression_against_production() -> None:
    production = flatten(passing_report())
    production["damage.f1"] = 0.995
    verdict, failures, _ = judge(passing_report(), production, max_regression=0.001)
    assert verdict is GateVerdict.FAIL and failures == ["damage.f1 0.9900 regressed from production 0.9950"]
    assert judge(passing_report(), production, max_regression=0.01)[0] is GateVerdict.PASS


def test_eval_gate_missing_metric_raises() -> None:
    report = copy.deepcopy(passing_report())
    del report["ocr"]
    with pytest.raises(KeyError):
        judge(report, None)
