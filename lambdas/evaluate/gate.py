"""The evaluation gate: pure.

Two checks on the candidate's `edgecv-eval/1` report (the whole pipeline run with the candidate version):
- absolute minimums on the metrics the retrained network drives (`NETWORK_METRICS`; thresholds from
  contracts.evaluation.GATES, overridable per run): a damage classifier is not held to the OCR's gate it
  cannot move;
- no regression vs production on every gated metric production has recorded (`max_regression` allowed).
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.evaluation import GATES, gate_failures
from lambdas.common.events import GateVerdict

MetricPath = tuple[str, ...]

NETWORK_METRICS: dict[str, tuple[MetricPath, ...]] = {
    "detector": (*(p for p in GATES if p[0] == "detection"), ("pallet_count_accuracy",)),
    "ocr": (("ocr", "exact_match"),),
    "damage_classifier": tuple(p for p in GATES if p[0] == "damage"),
}


class UnknownNetworkError(ValueError):
    """The model line is not one of the pipeline's networks."""


def metric_path(name: str) -> MetricPath:
    return tuple(name.split("."))


def gates_for(model_name: str, overrides: Mapping[str, float] | None = None,
              defaults: Mapping[MetricPath, float] = GATES) -> dict[MetricPath, float]:
    """The absolute minimums a candidate of `model_name` must meet: its own metrics, then `overrides`."""
    if model_name not in NETWORK_METRICS:
        raise UnknownNetworkError(f"{model_name!r} is not a network of the pipeline ({', '.join(NETWORK_METRICS)})")
    gates = {path: defaults[path] for path in NETWORK_METRICS[model_name]}
    gates.update({metric_path(name): float(value) for name, value in (overrides or {}).items()})
    return gates


def flatten(report: Mapping, gates: Mapping[MetricPath, float] = GATES) -> dict[str, float]:
    out = {}
    for path in gates:
        value = report
        for key in path:
            value = value[key]
        out[".".join(path)] = float(value)
    return out


def judge(report: Mapping, production: Mapping[str, float] | None, max_regression: float = 0.0,
          gates: Mapping[MetricPath, float] = GATES, watched: Mapping[MetricPath, float] | None = None,
          ) -> tuple[GateVerdict, list[str], dict[str, float]]:
    """(verdict, failures, metrics): `gates` are minimums; every metric of `gates` and `watched` (default:
    GATES) is recorded and must not fall below production's by more than `max_regression`.
    A report missing one of those metrics raises KeyError."""
    metrics = flatten(report, {**(GATES if watched is None else watched), **gates})
    failures = gate_failures(dict(report), dict(gates))
    for name, value in sorted(metrics.items()):
        before = (production or {}).get(name)
        if before is not None and value < before - max_regression:
            failures.append(f"{name} {value:.4f} regressed from production {before:.4f}")
    return (GateVerdict.PASS if not failures else GateVerdict.FAIL), failures, metrics
