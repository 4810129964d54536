"""`JobExecutions` on AWS IoT Jobs: what each device of a job reported (status + statusDetails).

A device's statusDetails that do not parse as an `edgecv-ota-report/1` still count, by their IoT status,
with the problem in the message: one bad report never stops the assessment of the others.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from contracts.jobs import JobOutcome, JobStatusReport
from lambdas.common.errors import RolloutError

TERMINAL = {"SUCCEEDED": JobOutcome.SUCCEEDED, "FAILED": JobOutcome.FAILED, "REJECTED": JobOutcome.REJECTED,
            "TIMED_OUT": JobOutcome.FAILED, "REMOVED": JobOutcome.FAILED}


def report_from_execution(job_id: str, thing: str, status: str, details: dict[str, str]) -> JobStatusReport:
    try:
        return JobStatusReport.from_status_details(job_id, thing, details)
    except (KeyError, ValueError, ValidationError) as exc:
        return JobStatusReport(job_id=job_id, thing_name=thing, outcome=TERMINAL[status],
                               message=f"malformed statusDetails ({type(exc).__name__}); IoT status {status}",
                               reported_at=datetime.now(UTC))


class IotJobExecutions:
    def __init__(self, client: Any) -> None:
        self._iot = client

    def targeted(self, job_id: str) -> int:
        try:
            details = self._iot.describe_job(jobId=job_id)["job"].get("jobProcessDetails", {})
        except ClientError as exc:
            raise RolloutError(f"DescribeJob {job_id}: {exc.response['Error']['Message']}") from exc
        return sum(int(v) for k, v in details.items() if k.startswith("numberOf"))

    def reports(self, job_id: str) -> list[JobStatusReport]:
        out = []
        try:
            for page in self._iot.get_paginator("list_job_executions_for_job").paginate(jobId=job_id):
                for summary in page.get("executionSummaries", []):
                    status = summary["jobExecutionSummary"]["status"]
                    if status not in TERMINAL:
                        continue
                    thing = summary["thingArn"].rsplit("/", 1)[-1]
                    execution = self._iot.describe_job_execution(jobId=job_id, thingName=thing)["execution"]
                    out.append(report_from_execution(job_id, thing, status, execution.get("statusDetails", {})
                                                     .get("detailsMap", {})))
        except ClientError as exc:
            raise RolloutError(f"ListJobExecutionsForJob {job_id}: {exc.response['Error']['Message']}") from exc
        return out
