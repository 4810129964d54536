"""Crash at every journal step (in-process: a hook raises where the subprocess test sends SIGKILL), restart,
and check the invariant: a verified version serves at every moment, and the job finishes or is abandoned."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.jobs import JobDocument, JobOutcome
from edge_appliance.ota.journal import JournalRecord
from edge_appliance.ota.recovery import RecoveryAction, plan_recovery, restore_plan
from edge_appliance.ota.states import AFTER_SWITCH, BEFORE_SWITCH, ENDING, ORDER, VOLATILE, JobStep
from tests.ota_support import MODEL
from tests.unit.ota.conftest import Site


class SimulatedCrash(BaseException):  # a BaseException so nothing in the agent catches it
    pass


def crash_at(step: JobStep):  # type: ignore[no-untyped-def]
    def hook(at: JobStep) -> None:
        if at is step:
            raise SimulatedCrash(step.value)
    return hook


POINTS = [(when, step) for step in ORDER for when in ("before", "after")]


def run_until_crash(site: Site, when: str, step: JobStep, job_id: str, document: dict) -> None:
    hook = crash_at(step)
    agent = site.agent(before=hook if when == "before" else None, after=hook if when == "after" else None)
    with pytest.raises(SimulatedCrash):
        agent.handle(job_id, document)


@pytest.mark.parametrize(("when", "step"), POINTS, ids=[f"{w}-{s.value}" for w, s in POINTS])
@pytest.mark.parametrize("max_starts", [1, 3], ids=["abandon", "resume"])
def test_crash_at_each_step_then_restart(site_v1: Site, when: str, step: JobStep, max_starts: int) -> None:
    site_v1.max_starts = max_starts
    doc = site_v1.job(site_v1.bundle(2), 2).model_dump(mode="json")
    run_until_crash(site_v1, when, step, "job-v2", doc)
    assert site_v1.server.serving_versions() in ({MODEL: 1}, {MODEL: 2})  # never nothing, never unverified
    switched = site_v1.server.serving_versions() == {MODEL: 2}

    report = site_v1.agent().handle("job-v2", doc)  # the restarted agent; the channel delivers the job again

    assert report is not None
    assert site_v1.agent().journal.current() is None
    abandoned = max_starts == 1 and not switched and not (when == "before" and step is JobStep.RECEIVED)
    if abandoned:
        assert (report.outcome, report.reason) == (JobOutcome.FAILED, "abandoned")
        final = 1
    else:
        assert report.outcome is JobOutcome.SUCCEEDED, report
        final = 2
    assert site_v1.server.serving_versions() == {MODEL: final}
    assert site_v1.server.loaded_versions() == {MODEL: [final]}
    assert site_v1.agent().status().installed[MODEL].version == final
    assert site_v1.agent().status().problems == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_while_ending_a_failed_job_still_restores_and_reports(site_v1: Site, when: str) -> None:
    site_v1.server.set_quality(MODEL, 2, accuracy=0.1)
    doc = site_v1.job(site_v1.bundle(2), 2).model_dump(mode="json")
    run_until_crash(site_v1, when, JobStep.FAILED, "job-v2", doc)
    assert site_v1.server.serving_versions() == {MODEL: 1}
    report = site_v1.agent().recover()
    assert report is not None and report.reason == "smoke_failed"
    assert site_v1.server.loaded_versions() == {MODEL: [1]}


def test_a_mid_switch_crash_is_completed_not_rolled_back(site_v1: Site) -> None:
    doc = site_v1.job(site_v1.bundle(2), 2).model_dump(mode="json")
    run_until_crash(site_v1, "before", JobStep.SWITCHED, "job-v2", doc)
    record = site_v1.agent().journal.current()
    assert record is not None and record.step is JobStep.SMOKE_TESTED
    assert site_v1.server.serving_versions() == {MODEL: 2}  # the switch happened; the journal missed it
    site_v1.max_starts = 1  # even with no restarts left, a switched job completes
    report = site_v1.agent().recover()
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED


# --- the pure decision --------------------------------------------------------------------------------

DOC = JobDocument(rollout_id="r", device_class="cpu", bundle_url="http://x/b", bundle_sha256="0" * 64,
                  bundle_size=1, targets={MODEL: 2})


def record(step: JobStep, starts: int) -> JournalRecord:
    return JournalRecord(job_id="j", document=DOC, step=step, previous={MODEL: 1}, starts=starts,
                         received_at=datetime(2026, 1, 1, tzinfo=UTC))


@given(step=st.sampled_from(list(JobStep)), starts=st.integers(1, 10), max_starts=st.integers(1, 10),
       serving=st.sampled_from([{}, {MODEL: 1}, {MODEL: 2}]))
def test_recovery_never_goes_back_past_the_switch_nor_forward_without_it(
        step: JobStep, starts: int, max_starts: int, serving: dict[str, int]) -> None:
    plan = plan_recovery(record(step, starts), serving, max_starts)
    if step is JobStep.REPORTED:
        assert plan.action is RecoveryAction.NOTHING
    elif step in ENDING:
        assert (plan.action, plan.step) == (RecoveryAction.FINISH_ENDING, step)
    elif step in AFTER_SWITCH:
        assert (plan.action, plan.step) == (RecoveryAction.COMPLETE, step)
    elif step is JobStep.SMOKE_TESTED and serving == {MODEL: 2}:
        assert (plan.action, plan.step) == (RecoveryAction.COMPLETE, JobStep.SWITCHED)
    else:
        assert step in BEFORE_SWITCH
        if starts >= max_starts:
            assert (plan.action, plan.step) == (RecoveryAction.ABANDON, JobStep.ABANDONED)
        else:
            assert plan.action is RecoveryAction.RESUME
            assert plan.step not in VOLATILE and plan.step in BEFORE_SWITCH
            assert ORDER.index(plan.step) <= ORDER.index(step)


@given(previous=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(1, 5)),
       targets=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(1, 5), min_size=1))
def test_restore_puts_back_exactly_the_previous_versions(previous: dict[str, int], targets: dict[str, int]) -> None:
    for serving in (dict(previous), {**previous, **targets}):
        switch_to, keep = restore_plan(previous, targets, serving)
        after = switch_to if switch_to is not None else serving
        assert after == previous
        assert keep == {m: previous.get(m) for m in targets}
