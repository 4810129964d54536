"""The evaluation gate: pure. Per-class gates (contracts.evaluation.GATES) and no regression vs production."""

from __future__ import annotations

from collections.abc import Mapping

from contracts.evaluation import GATES, gate_failures
from lambdas.common.events import GateVerdict


def flatten(report: Mapping, gates: Mapping[tuple[str, ...], float] = GATES) -> dict[str, float]:
    out = {}
    for path in gates:
        value = report
        for key in path:
            value = value[key]
        out[".".join(path)] = float(value)
    return out


def judge(report: Mapping, production: Mapping[str, float] | None, max_regression: float = 0.0,
          gates: Mapping[tuple[str, ...], float] = GATES) -> tuple[GateVerdict, list[str], dict[str, float]]:
    """(verdict, failures, the gated metrics). A report missing a gated metric raises KeyError."""
    metrics = flatten(report, gates)
    failures = gate_failures(dict(report), dict(gates))
    for name, value in sorted(metrics.items()):
        before = (production or {}).get(name)
        if before is not None and value < before - max_regression:
            failures.append(f"{name} {value:.4f} regressed from production {before:.4f}")
    return (GateVerdict.PASS if not failures else GateVerdict.FAIL), failures, metrics
