"""The ring gate: pure. Job outcomes + fleet health of one ring -> continue, wait, or halt (with reasons).

Halts on: an operator's cancel; job failures (FAILED + REJECTED over finished executions) above the
threshold; any smoke-test failure; confidence or decision-rate collapse against the previous version;
latency p99 over the ceiling or over the allowed ratio against the previous version; no devices
targeted; a ring that has not finished (or sent no health metrics) when its last bake is over.
Waits while devices are still working or health metrics have not arrived, bakes permitting.
Continues only when none of the above holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdas.common.events import GateThresholds, RingVerdict


@dataclass(frozen=True)
class JobTally:
    targeted: int
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.rejected


@dataclass(frozen=True)
class Health:
    confidence: float | None = None
    decision_rate: float | None = None
    latency_p99_ms: float | None = None
    smoke_failures: float = 0.0


def _drop(now: float, before: float) -> float:
    return (before - now) / before if before > 0 else 0.0


def health_problems(health: Health, baseline: Health | None, t: GateThresholds) -> list[str]:
    problems = []
    if health.smoke_failures > 0:
        problems.append(f"{health.smoke_failures:.0f} smoke-test failure(s)")
    if health.latency_p99_ms is not None and health.latency_p99_ms > t.max_latency_ms:
        problems.append(f"latency p99 {health.latency_p99_ms:.1f} ms over {t.max_latency_ms:.1f} ms")
    if baseline is None:
        return problems
    if health.confidence is not None and baseline.confidence is not None and \
            _drop(health.confidence, baseline.confidence) > t.max_confidence_drop:
        problems.append(f"confidence {health.confidence:.3f} collapsed from {baseline.confidence:.3f}")
    if health.decision_rate is not None and baseline.decision_rate is not None and \
            _drop(health.decision_rate, baseline.decision_rate) > t.max_decision_rate_drop:
        problems.append(f"decision rate {health.decision_rate:.2f}/min fell from {baseline.decision_rate:.2f}/min")
    if health.latency_p99_ms is not None and baseline.latency_p99_ms is not None and baseline.latency_p99_ms > 0 \
            and health.latency_p99_ms > baseline.latency_p99_ms * t.max_latency_ratio:
        problems.append(f"latency p99 {health.latency_p99_ms:.1f} ms vs {baseline.latency_p99_ms:.1f} ms before")
    return problems


def ring_gate(tally: JobTally, health: Health, baseline: Health | None, thresholds: GateThresholds,
              bakes_done: int, max_bakes: int, cancel_requested: bool = False) -> tuple[RingVerdict, list[str]]:
    """`bakes_done` counts the bakes already waited for this ring (this assessment follows bake number
    bakes_done + 1); a WAIT is only possible while another bake is allowed."""
    if cancel_requested:
        return RingVerdict.HALT, ["cancelled by an operator"]
    if tally.targeted <= 0:
        return RingVerdict.HALT, ["the ring's job targets no devices"]
    reasons = []
    if tally.finished:
        rate = (tally.failed + tally.rejected) / tally.finished
        if rate > thresholds.max_failure_rate:
            reasons.append(f"{tally.failed + tally.rejected} of {tally.finished} devices failed or rejected the "
                           f"job ({rate:.0%} > {thresholds.max_failure_rate:.0%})")
    reasons.extend(health_problems(health, baseline, thresholds))
    if reasons:
        return RingVerdict.HALT, reasons
    waiting = []
    completion = tally.finished / tally.targeted
    if completion < thresholds.min_completion:
        waiting.append(f"{tally.finished} of {tally.targeted} devices finished")
    if health.confidence is None:
        waiting.append("no health metrics from the ring yet")
    if waiting:
        if bakes_done + 1 < max_bakes:
            return RingVerdict.WAIT, waiting
        return RingVerdict.HALT, [*waiting, f"after {max_bakes} bake window(s)"]
    return RingVerdict.CONTINUE, [f"{tally.succeeded} of {tally.targeted} devices updated; health within bounds"]
