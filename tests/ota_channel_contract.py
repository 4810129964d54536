"""Scenarios every job channel must pass, whatever its transport (MQTT5 + IotJobsClientV2, Greengrass IPC).

A `Harness` gives a channel factory plus the cloud side: create a job, read an execution's status back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from contracts.jobs import JobFigures, JobOutcome, JobStatusReport
from edge_appliance.ota.channel import JobChannel
from edge_appliance.ota.errors import ReportRefusedError

THING = "site-1-box"


@dataclass
class Harness:
    channel: Callable[[], JobChannel]                        # a new connection, as a restarted agent makes
    create_job: Callable[[str, dict], None]                  # the cloud queues a job for THING
    execution: Callable[[str], tuple[str, dict[str, str]]]   # (status, statusDetails) the cloud sees


def report(job_id: str, outcome: JobOutcome = JobOutcome.SUCCEEDED, reason: str | None = None) -> JobStatusReport:
    return JobStatusReport(job_id=job_id, thing_name=THING, rollout_id="r1", ring=0, outcome=outcome, reason=reason,
                           message=None if reason is None else "why", serving={"detector": 2},
                           figures=JobFigures(download_bytes=10, total_seconds=1.5),
                           reported_at=datetime(2026, 1, 1, tzinfo=UTC))


def no_job_then_a_job_arrives(h: Harness) -> None:
    channel = h.channel()
    assert channel.next_job(0.2) is None
    h.create_job("job-a", {"hello": "a"})
    job = channel.next_job(10)
    assert job is not None and job.job_id == "job-a" and job.document == {"hello": "a"}
    assert h.execution("job-a")[0] == "IN_PROGRESS"


def report_reaches_the_cloud(h: Harness) -> None:
    h.create_job("job-a", {"n": 1})
    channel = h.channel()
    assert channel.next_job(5) is not None
    sent = report("job-a", JobOutcome.REJECTED, "bad_signature")
    channel.report(sent)
    status, details = h.execution("job-a")
    assert status == "REJECTED"
    assert JobStatusReport.from_status_details("job-a", THING, details) == sent


def jobs_come_one_at_a_time_in_order(h: Harness) -> None:
    h.create_job("job-1", {"n": 1})
    h.create_job("job-2", {"n": 2})
    channel = h.channel()
    first = channel.next_job(5)
    assert first is not None and first.job_id == "job-1"
    again = channel.next_job(0.2)
    assert again is not None and again.job_id == "job-1"  # in progress until reported
    channel.report(report("job-1"))
    second = channel.next_job(5)
    assert second is not None and second.job_id == "job-2" and second.document == {"n": 2}


def a_restarted_agent_gets_its_job_in_progress_again(h: Harness) -> None:
    h.create_job("job-a", {"n": 1})
    assert h.channel().next_job(5) is not None
    job = h.channel().next_job(5)
    assert job is not None and job.job_id == "job-a" and job.status == "IN_PROGRESS"


def refused_updates_raise_channel_error(h: Harness) -> None:
    h.create_job("job-a", {"n": 1})
    channel = h.channel()
    assert channel.next_job(5) is not None
    with pytest.raises(ReportRefusedError):
        channel.report(report("job-unknown"))
    channel.report(report("job-a"))
    with pytest.raises(ReportRefusedError):
        channel.report(report("job-a", JobOutcome.FAILED, "smoke_failed"))  # already terminal
    assert h.execution("job-a")[0] == "SUCCEEDED"


SCENARIOS = [no_job_then_a_job_arrives, report_reaches_the_cloud, jobs_come_one_at_a_time_in_order,
             a_restarted_agent_gets_its_job_in_progress_again, refused_updates_raise_channel_error]
