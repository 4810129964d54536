"""The fleet, simulated: devices in ring thing groups that answer IoT jobs and publish health metrics.

moto stores IoT jobs but has no device side (`iot-jobs-data` is missing) and does not expand thing-group
targets, so this emulator does both: `poll()` finds new jobs (ListJobs), expands their thing-group targets
(ListThingsInThingGroup), and lets each member device answer per its `Behaviour`: an `edgecv-ota-report/1`
status report, the versions it now serves, and the health metrics a real device publishes
(CloudWatch PutMetricData with Ring and ModelVersion dimensions, on moto). It implements `JobExecutions`,
the seam the assess step reads job outcomes through (IoT Jobs executions in AWS).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.jobs import JobDocument, JobOutcome, JobStatusReport
from lambdas.common import fleet_metrics as fm


@dataclass(frozen=True)
class DeviceResponse:
    outcome: JobOutcome = JobOutcome.SUCCEEDED
    confidence: float = 0.9
    decision_rate: float = 12.0
    latency_p99_ms: float = 90.0
    reason: str | None = None


Behaviour = Callable[[str, str, JobDocument], DeviceResponse]  # (thing, ring, document) -> response


def healthy(thing: str, ring: str, document: JobDocument) -> DeviceResponse:
    return DeviceResponse()


@dataclass
class SimulatedFleet:
    iot: Any
    cloudwatch: Any
    rings: dict[str, list[str]]  # thing group -> thing names
    behaviour: Behaviour = healthy
    serving: dict[str, dict[str, int]] = field(default_factory=dict)
    _reports: dict[str, list[JobStatusReport]] = field(default_factory=dict)
    _targeted: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def provision(self, baseline: dict[str, int], baseline_health: DeviceResponse = DeviceResponse()) -> None:
        """Create the things and groups in moto; every device serves `baseline` and reports its health."""
        for group, things in self.rings.items():
            with contextlib.suppress(self.iot.exceptions.ResourceAlreadyExistsException):
                self.iot.create_thing_group(thingGroupName=group)
            for thing in things:
                self.iot.create_thing(thingName=thing)
                self.iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
                self.serving[thing] = dict(baseline)
            for version in baseline.values():
                self.publish_health(group, version, [baseline_health] * len(things))

    def publish_health(self, ring: str, version: int, responses: list[DeviceResponse]) -> None:
        """The health metrics devices of `ring` publish while serving `version` (CloudWatch PutMetricData)."""
        dims = [{"Name": fm.DIM_RING, "Value": ring}, {"Name": fm.DIM_MODEL_VERSION, "Value": str(version)}]
        data = []
        for r in responses:
            data += [{"MetricName": fm.CONFIDENCE, "Value": r.confidence, "Dimensions": dims},
                     {"MetricName": fm.DECISION_RATE, "Value": r.decision_rate, "Dimensions": dims},
                     {"MetricName": fm.LATENCY_P99_MS, "Value": r.latency_p99_ms, "Dimensions": dims},
                     {"MetricName": fm.SMOKE_TEST_FAILURES, "Dimensions": dims,
                      "Value": 1.0 if r.reason == "smoke_failed" else 0.0}]
        if data:
            self.cloudwatch.put_metric_data(Namespace=fm.NAMESPACE, MetricData=data)

    def poll(self) -> None:
        """Answer every job not answered yet."""
        jobs = [j["jobId"] for page in self.iot.get_paginator("list_jobs").paginate() for j in page.get("jobs", [])]
        for job_id in jobs:
            with self._lock:
                if job_id in self._reports:
                    continue
                self._reports[job_id] = []
            self._answer(job_id)

    def _answer(self, job_id: str) -> None:
        job = self.iot.describe_job(jobId=job_id)["job"]
        document = JobDocument.model_validate_json(self.iot.get_job_document(jobId=job_id)["document"])
        members = []
        for target in job.get("targets", []):
            group = target.rsplit("/", 1)[-1]
            members += [(group, thing) for thing in self.rings.get(group, [])]
        responses = []
        reports = []
        for group, thing in members:
            r = self.behaviour(thing, group, document)
            if r.outcome is JobOutcome.SUCCEEDED:
                self.serving[thing] = {**self.serving.get(thing, {}), **document.targets}
            reports.append(JobStatusReport(job_id=job_id, thing_name=thing, rollout_id=document.rollout_id,
                                           ring=document.ring, outcome=r.outcome, reason=r.reason,
                                           serving=self.serving.get(thing, {}), reported_at=datetime.now(UTC)))
            responses.append(r)
        for version in set(document.targets.values()):
            for group in {g for g, _ in members}:
                answered = [r for (g, _), r in zip(members, responses, strict=True) if g == group]
                self.publish_health(group, version, answered)
        with self._lock:
            self._reports[job_id] = reports
            self._targeted[job_id] = len(members)

    def reports(self, job_id: str) -> list[JobStatusReport]:
        self.poll()
        with self._lock:
            return list(self._reports.get(job_id, []))

    def targeted(self, job_id: str) -> int:
        self.poll()
        with self._lock:
            return self._targeted.get(job_id, 0)
