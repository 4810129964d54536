"""Rollout steps against moto: IoT job per ring, the assess step over job reports + CloudWatch, rollback,
the incident event on EventBridge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from contracts.jobs import JobDocument, JobOutcome, JobStatusReport, SmokeExpectations
from lambdas.common import fleet_metrics as fm
from lambdas.common.deps import Deps
from lambdas.common.errors import RolloutError
from lambdas.common.events import Release, RingVerdict, RolloutConfig, RolloutState
from lambdas.rollout import core
from lambdas.rollout.iot_executions import report_from_execution

RINGS = ["edgecv-ring-canary", "edgecv-ring-ring10"]


class FakeExecutions:
    def __init__(self) -> None:
        self.outcomes: dict[str, list[JobOutcome]] = {}
        self.sizes: dict[str, int] = {}

    def reports(self, job_id: str) -> list[JobStatusReport]:
        return [JobStatusReport(job_id=job_id, thing_name=f"t{i}", outcome=o, reported_at=datetime.now(UTC))
                for i, o in enumerate(self.outcomes.get(job_id, []))]

    def targeted(self, job_id: str) -> int:
        return self.sizes.get(job_id, 0)


def release(deps: Deps, version: int, key: str) -> Release:
    body = f"bundle {version}".encode()
    import hashlib

    sha = hashlib.sha256(body).hexdigest()
    deps.aws("s3").put_object(Bucket=deps.settings.artifacts_bucket, Key=key, Body=body, Metadata={"sha256": sha})
    return Release(bucket=deps.settings.artifacts_bucket, key=key, sha256=sha, size=len(body),
                   model_name="damage_classifier", version=version, device_class="cpu", signer_key_id="k")


@pytest.fixture
def fleet(deps: Deps) -> FakeExecutions:
    iot = deps.aws("iot")
    for ring in RINGS:
        iot.create_thing_group(thingGroupName=ring)
    fake = FakeExecutions()
    deps.executions = fake
    deps.settings = deps.settings.model_copy(update={"event_bus": "edgecv-incidents"})
    return fake


def put_health(deps: Deps, ring: str, version: int, confidence: float) -> None:
    dims = [{"Name": fm.DIM_RING, "Value": ring}, {"Name": fm.DIM_MODEL_VERSION, "Value": str(version)}]
    deps.aws("cloudwatch").put_metric_data(Namespace=fm.NAMESPACE, MetricData=[
        {"MetricName": fm.CONFIDENCE, "Value": confidence, "Dimensions": dims},
        {"MetricName": fm.DECISION_RATE, "Value": 10.0, "Dimensions": dims},
        {"MetricName": fm.LATENCY_P99_MS, "Value": 100.0, "Dimensions": dims}])


def test_ring_by_ring_then_halt_rollback_incident(deps: Deps, fleet: FakeExecutions) -> None:
    new = release(deps, 3, "bundles/damage_classifier/3/bundle.tar.gz")
    old = release(deps, 2, "bundles/damage_classifier/2/bundle.tar.gz")
    state = RolloutState(rollout_id="ro7", release=new, previous=old, rings=RINGS,
                         config=RolloutConfig(bake_seconds=1, max_bakes=2))
    state.progress = core.plan(state, deps)
    state.ring = core.start_ring(state, deps)
    assert state.ring.job_id == "edgecv-ro7-r0"
    document = JobDocument.model_validate_json(deps.aws("iot").get_job_document(jobId="edgecv-ro7-r0")["document"])
    assert document.targets == {"damage_classifier": 3} and document.bundle_sha256 == new.sha256
    assert document.bundle_url.startswith("https://") and not document.rollback
    assert core.start_ring(state, deps) == state.ring  # a retried step finds its job

    fleet.sizes["edgecv-ro7-r0"] = 2
    fleet.outcomes["edgecv-ro7-r0"] = [JobOutcome.SUCCEEDED]
    put_health(deps, RINGS[0], 2, 0.9)
    put_health(deps, RINGS[0], 3, 0.89)
    progress = core.assess(state, deps)
    assert (progress.verdict, progress.bakes, progress.ring_index) == (RingVerdict.WAIT, 1, 0)
    fleet.outcomes["edgecv-ro7-r0"].append(JobOutcome.SUCCEEDED)
    state.progress = core.assess(state.model_copy(update={"progress": progress}), deps)
    assert (state.progress.verdict, state.progress.ring_index, state.progress.done) == (RingVerdict.CONTINUE, 1, False)

    state.ring = core.start_ring(state, deps)
    fleet.sizes["edgecv-ro7-r1"] = 2
    fleet.outcomes["edgecv-ro7-r1"] = [JobOutcome.SUCCEEDED, JobOutcome.SUCCEEDED]
    put_health(deps, RINGS[1], 2, 0.9)
    put_health(deps, RINGS[1], 3, 0.3)  # confidence collapse on the new version
    state.progress = core.assess(state, deps)
    assert state.progress.verdict is RingVerdict.HALT and "confidence" in state.progress.reasons[0]
    assert state.progress.reached == 2

    state.rollback_bundle = old.model_copy(update={"rollback": True})
    state.rollback = core.rollback(state, deps)
    assert [j.job_id for j in state.rollback.jobs] == ["edgecv-ro7-rb0", "edgecv-ro7-rb1"]
    assert state.rollback.cancelled == ["edgecv-ro7-r0", "edgecv-ro7-r1"]
    rb_doc = JobDocument.model_validate_json(deps.aws("iot").get_job_document(jobId="edgecv-ro7-rb1")["document"])
    assert rb_doc.rollback and rb_doc.targets == {"damage_classifier": 2}

    events, sqs = deps.aws("events"), deps.aws("sqs")
    events.create_event_bus(Name="edgecv-incidents")
    queue = sqs.create_queue(QueueName="incidents")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="halted", EventBusName="edgecv-incidents",
                    EventPattern=json.dumps({"source": ["edgecv.rollout"]}))
    events.put_targets(Rule="halted", EventBusName="edgecv-incidents", Targets=[{"Id": "q", "Arn": arn}])
    event_id, detail_type = core.raise_incident(state, deps)
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert message["id"] == event_id and message["detail-type"] == detail_type
    assert message["detail"]["rolled_back_to"] == 2 and message["detail"]["ring"] == RINGS[1]
    assert message["detail"]["rollback_jobs"] == ["edgecv-ro7-rb0", "edgecv-ro7-rb1"]


def test_the_rollout_smoke_expectations_reach_the_job_document(deps: Deps, fleet: FakeExecutions) -> None:
    smoke = SmokeExpectations(frames=12, metric="ocr.exact_match", max_drop=0.2, max_latency_ms_p99=900)
    state = RolloutState(rollout_id="ro8", release=release(deps, 3, "bundles/damage_classifier/3/bundle.tar.gz"),
                         previous=release(deps, 2, "bundles/damage_classifier/2/bundle.tar.gz"), rings=RINGS,
                         config=RolloutConfig(bake_seconds=1, max_bakes=2, smoke=smoke))
    state.progress = core.plan(state, deps)
    core.start_ring(state, deps)
    document = JobDocument.model_validate_json(deps.aws("iot").get_job_document(jobId="edgecv-ro8-r0")["document"])
    assert document.smoke == smoke


def test_operator_cancel_halts(deps: Deps, fleet: FakeExecutions) -> None:
    new = release(deps, 3, "b/3.tar.gz")
    state = RolloutState(rollout_id="ro8", release=new, previous=release(deps, 2, "b/2.tar.gz"), rings=RINGS)
    state.progress = core.plan(state, deps)
    state.ring = core.start_ring(state, deps)
    deps.aws("ssm").put_parameter(Name=core.cancel_parameter("ro8"), Value="operator", Type="String")
    progress = core.assess(state, deps)
    assert progress.verdict is RingVerdict.HALT and progress.reasons == ["cancelled by an operator"]


def test_plan_refuses_a_tampered_release(deps: Deps, fleet: FakeExecutions) -> None:
    new = release(deps, 3, "b/3.tar.gz").model_copy(update={"sha256": "0" * 64})
    with pytest.raises(RolloutError, match="does not match"):
        core.plan(RolloutState(rollout_id="ro9", release=new, previous=None, rings=RINGS), deps)


def test_malformed_device_report_counts_by_its_iot_status() -> None:
    report = report_from_execution("j", "thing-1", "REJECTED", {"outcome": "SUCCEEDED"})
    assert report.outcome is JobOutcome.REJECTED and "malformed statusDetails" in report.message
