"""Properties of the pure ring gate (hypothesis) and a few worked cases."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lambdas.common.events import GateThresholds, RingVerdict
from lambdas.rollout.ring_gate import Health, JobTally, ring_gate

T = GateThresholds(max_failure_rate=0.1, max_confidence_drop=0.1, max_decision_rate_drop=0.3,
                   max_latency_ratio=1.5, max_latency_ms=250.0, min_completion=1.0)
BASE = Health(confidence=0.9, decision_rate=10.0, latency_p99_ms=100.0)


@st.composite
def tallies(draw: st.DrawFn) -> JobTally:
    targeted = draw(st.integers(0, 50))
    succeeded = draw(st.integers(0, targeted))
    failed = draw(st.integers(0, targeted - succeeded))
    rejected = draw(st.integers(0, targeted - succeeded - failed))
    return JobTally(targeted=targeted, succeeded=succeeded, failed=failed, rejected=rejected)


maybe = st.one_of(st.none(), st.floats(0.0, 1000.0, allow_nan=False))
healths = st.builds(Health, confidence=st.one_of(st.none(), st.floats(0.0, 1.0)), decision_rate=maybe,
                    latency_p99_ms=maybe, smoke_failures=st.sampled_from([0.0, 0.0, 1.0, 3.0]))
bakes = st.integers(0, 10)
max_bakes = st.integers(1, 10)


@given(tallies(), healths, st.one_of(st.none(), healths), bakes, max_bakes)
def test_cancel_always_halts(tally: JobTally, health: Health, baseline: Health | None, done: int, mx: int) -> None:
    assert ring_gate(tally, health, baseline, T, done, mx, cancel_requested=True)[0] is RingVerdict.HALT


@given(tallies(), healths, st.one_of(st.none(), healths), bakes, max_bakes)
def test_continue_only_when_every_signal_is_within_bounds(tally: JobTally, health: Health, baseline: Health | None,
                                                          done: int, mx: int) -> None:
    verdict, reasons = ring_gate(tally, health, baseline, T, done, mx)
    assert reasons
    if verdict is RingVerdict.CONTINUE:
        assert tally.targeted > 0 and tally.finished == tally.targeted
        assert (tally.failed + tally.rejected) <= T.max_failure_rate * tally.finished
        assert health.smoke_failures == 0 and health.confidence is not None
        assert health.latency_p99_ms is None or health.latency_p99_ms <= T.max_latency_ms
        if baseline is not None and baseline.confidence:
            assert health.confidence >= baseline.confidence * (1 - T.max_confidence_drop) - 1e-9


@given(tallies(), healths, st.one_of(st.none(), healths), bakes, max_bakes)
def test_never_waits_past_the_last_bake(tally: JobTally, health: Health, baseline: Health | None, done: int,
                                        mx: int) -> None:
    verdict, _ = ring_gate(tally, health, baseline, T, done, mx)
    if done + 1 >= mx:
        assert verdict is not RingVerdict.WAIT


@given(tallies(), st.integers(1, 10), healths, bakes, max_bakes)
def test_more_failures_never_turn_a_halt_into_continue(tally: JobTally, extra: int, health: Health, done: int,
                                                       mx: int) -> None:
    worse = JobTally(targeted=tally.targeted + extra, succeeded=tally.succeeded, failed=tally.failed + extra,
                     rejected=tally.rejected)
    if ring_gate(tally, health, BASE, T, done, mx)[0] is RingVerdict.HALT and tally.targeted > 0:
        assert ring_gate(worse, health, BASE, T, done, mx)[0] is RingVerdict.HALT


@given(st.floats(0.0, 0.8))
def test_confidence_collapse_halts_a_finished_ring(confidence: float) -> None:
    tally = JobTally(targeted=4, succeeded=4)
    verdict, reasons = ring_gate(tally, Health(confidence=confidence, decision_rate=10.0, latency_p99_ms=100.0),
                                 BASE, T, 0, 3)
    assert verdict is RingVerdict.HALT and "confidence" in reasons[0]


def test_worked_cases() -> None:
    healthy = Health(confidence=0.88, decision_rate=9.5, latency_p99_ms=110.0)
    assert ring_gate(JobTally(4, 4), healthy, BASE, T, 0, 3)[0] is RingVerdict.CONTINUE
    assert ring_gate(JobTally(4, 2), healthy, BASE, T, 0, 3)[0] is RingVerdict.WAIT
    assert ring_gate(JobTally(4, 2), healthy, BASE, T, 2, 3)[0] is RingVerdict.HALT
    assert ring_gate(JobTally(4, 3, rejected=1), healthy, BASE, T, 0, 3)[0] is RingVerdict.HALT
    assert ring_gate(JobTally(0), healthy, BASE, T, 0, 3)[0] is RingVerdict.HALT
    assert ring_gate(JobTally(4, 4), Health(), BASE, T, 0, 3)[0] is RingVerdict.WAIT
    slow = Health(confidence=0.9, decision_rate=10.0, latency_p99_ms=160.0)
    verdict, reasons = ring_gate(JobTally(4, 4), slow, BASE, T, 0, 3)
    assert verdict is RingVerdict.HALT and "latency" in reasons[0]
