"""Rollout steps: plan, start a ring (IoT job), assess it (the ring gate), roll the reached rings back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from contracts.jobs import JobDocument, JobOutcome
from lambdas.common import fleet_metrics as fm
from lambdas.common.deps import Deps
from lambdas.common.errors import RolloutError
from lambdas.common.events import Release, RingJob, RingVerdict, RollbackResult, RolloutProgress, RolloutState
from lambdas.rollout.ring_gate import Health, JobTally, ring_gate

MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def job_id(rollout_id: str, ring_index: int, rollback: bool = False) -> str:
    return f"edgecv-{rollout_id}-{'rb' if rollback else 'r'}{ring_index}"


def cancel_parameter(rollout_id: str) -> str:
    return f"/edgecv/rollouts/{rollout_id}/cancel"


def _error(exc: ClientError) -> str:
    return f"{exc.response['Error']['Code']}: {exc.response['Error'].get('Message', '')}"


def plan(state: RolloutState, deps: Deps) -> RolloutProgress:
    s3 = deps.aws("s3")
    try:
        head = s3.head_object(Bucket=state.release.bucket, Key=state.release.key)
    except ClientError as exc:
        raise RolloutError(f"release s3://{state.release.bucket}/{state.release.key}: {_error(exc)}") from exc
    stored = head.get("Metadata", {}).get("sha256")
    if stored != state.release.sha256 or head["ContentLength"] != state.release.size:
        raise RolloutError(f"release {state.release.key} does not match its sha256/size")
    if state.previous is None:
        raise RolloutError("a rollout needs the previous approved release as its rollback target")
    publish_ring(deps, state, 0)
    return RolloutProgress(ring_index=0)


def publish_ring(deps: Deps, state: RolloutState, ring_index: int) -> None:
    deps.aws("cloudwatch").put_metric_data(Namespace=fm.NAMESPACE, MetricData=[{
        "MetricName": fm.ROLLOUT_STATE, "Value": float(ring_index), "Unit": "Count",
        "Dimensions": [{"Name": fm.DIM_MODEL_VERSION, "Value": str(state.release.version)}]}])


def job_document(state: RolloutState, release: Release, ring_index: int, url: str) -> JobDocument:
    smoke = {"smoke": state.config.smoke} if state.config.smoke is not None else {}
    return JobDocument(rollout_id=state.rollout_id, ring=min(ring_index, 9), device_class=release.device_class,
                       bundle_url=url, bundle_sha256=release.sha256, bundle_size=release.size,
                       targets={release.model_name: release.version}, rollback=release.rollback, **smoke)


def create_ring_job(state: RolloutState, deps: Deps, release: Release, ring_index: int, jid: str) -> RingJob:
    iot, s3, cfg = deps.aws("iot"), deps.aws("s3"), state.config
    ring = state.rings[ring_index]
    try:
        target = iot.describe_thing_group(thingGroupName=ring)["thingGroupArn"]
    except ClientError as exc:
        raise RolloutError(f"ring {ring}: {_error(exc)}") from exc
    expires = min(MAX_PRESIGN_SECONDS, cfg.job_timeout_minutes * 60 + cfg.bake_seconds * cfg.max_bakes)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": release.bucket, "Key": release.key},
                                    ExpiresIn=expires)
    document = job_document(state, release, ring_index, url)
    try:
        iot.create_job(
            jobId=jid, targets=[target], document=document.model_dump_json(), targetSelection="SNAPSHOT",
            description=f"edgecv {state.rollout_id} ring {ring_index} ({ring})"
                        f"{' rollback' if release.rollback else ''}",
            jobExecutionsRolloutConfig={"maximumPerMinute": cfg.max_per_minute},
            abortConfig={"criteriaList": [{
                "failureType": "FAILED", "action": "CANCEL", "minNumberOfExecutedThings": 1,
                "thresholdPercentage": max(1.0, cfg.thresholds.max_failure_rate * 100)}]},
            timeoutConfig={"inProgressTimeoutInMinutes": cfg.job_timeout_minutes})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":  # a retried step
            raise RolloutError(f"CreateJob {jid}: {_error(exc)}") from exc
    return RingJob(job_id=jid, ring=ring, ring_index=ring_index, target_arn=target)


def start_ring(state: RolloutState, deps: Deps) -> RingJob:
    if state.progress is None:
        raise RolloutError("the rollout has not been planned")
    i = state.progress.ring_index
    if i >= len(state.rings):
        raise RolloutError(f"ring {i} does not exist ({len(state.rings)} rings)")
    job = create_ring_job(state, deps, state.release, i, job_id(state.rollout_id, i))
    publish_ring(deps, state, i)
    return job


def _stat(cw: Any, name: str, ring: str, version: int, start: datetime, end: datetime, stat: str) -> float | None:
    reply = cw.get_metric_statistics(
        Namespace=fm.NAMESPACE, MetricName=name, StartTime=start, EndTime=end, Period=60, Statistics=[stat],
        Dimensions=[{"Name": fm.DIM_RING, "Value": ring}, {"Name": fm.DIM_MODEL_VERSION, "Value": str(version)}])
    values = [p[stat] for p in reply.get("Datapoints", [])]
    if not values:
        return None
    return {"Average": sum(values) / len(values), "Maximum": max(values), "Sum": sum(values)}[stat]


def ring_health(deps: Deps, ring: str, version: int, start: datetime, end: datetime) -> Health:
    cw = deps.aws("cloudwatch")
    try:
        return Health(confidence=_stat(cw, fm.CONFIDENCE, ring, version, start, end, "Average"),
                      decision_rate=_stat(cw, fm.DECISION_RATE, ring, version, start, end, "Average"),
                      latency_p99_ms=_stat(cw, fm.LATENCY_P99_MS, ring, version, start, end, "Maximum"),
                      smoke_failures=_stat(cw, fm.SMOKE_TEST_FAILURES, ring, version, start, end, "Sum") or 0.0)
    except ClientError as exc:
        raise RolloutError(f"CloudWatch GetMetricStatistics: {_error(exc)}") from exc


def cancel_requested(deps: Deps, rollout_id: str) -> bool:
    try:
        deps.aws("ssm").get_parameter(Name=cancel_parameter(rollout_id))
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ParameterNotFound":
            return False
        raise RolloutError(f"SSM GetParameter: {_error(exc)}") from exc


def tally(deps: Deps, jid: str) -> JobTally:
    executions = deps.need("executions")
    reports = executions.reports(jid)
    count = {o: sum(1 for r in reports if r.outcome is o) for o in JobOutcome}
    return JobTally(targeted=executions.targeted(jid), succeeded=count[JobOutcome.SUCCEEDED],
                    failed=count[JobOutcome.FAILED], rejected=count[JobOutcome.REJECTED])


def assess(state: RolloutState, deps: Deps) -> RolloutProgress:
    if state.progress is None or state.ring is None:
        raise RolloutError("no ring has been started")
    p, ring = state.progress, state.ring
    now = datetime.fromtimestamp(deps.clock(), UTC)
    window = now - timedelta(seconds=state.config.bake_seconds * (p.bakes + 1) + 3600)
    jobs = tally(deps, ring.job_id)
    health = ring_health(deps, ring.ring, state.release.version, window, now + timedelta(minutes=1))
    baseline = ring_health(deps, ring.ring, state.previous.version, window, now + timedelta(minutes=1)) \
        if state.previous else None
    verdict, reasons = ring_gate(jobs, health, baseline, state.config.thresholds,
                                 p.bakes, state.config.max_bakes, cancel_requested(deps, state.rollout_id))
    reached = max(p.reached, ring.ring_index + 1)
    if verdict is RingVerdict.CONTINUE:
        done = ring.ring_index + 1 >= len(state.rings)
        return RolloutProgress(ring_index=ring.ring_index if done else ring.ring_index + 1, verdict=verdict,
                               done=done, reasons=reasons, reached=reached)
    bakes = p.bakes + 1 if verdict is RingVerdict.WAIT else p.bakes
    return RolloutProgress(ring_index=ring.ring_index, verdict=verdict, bakes=bakes, reasons=reasons, reached=reached)


def rollback(state: RolloutState, deps: Deps) -> RollbackResult:
    if state.rollback_bundle is None:
        raise RolloutError("no signed rollback bundle")
    iot = deps.aws("iot")
    reached = state.progress.reached if state.progress else 0
    if state.ring is not None:
        reached = max(reached, state.ring.ring_index + 1)
    cancelled, jobs = [], []
    for i in range(min(reached, len(state.rings))):
        jid = job_id(state.rollout_id, i)
        try:
            iot.cancel_job(jobId=jid, reasonCode="ROLLOUT_HALTED", comment="halted by the ring gate", force=True)
            cancelled.append(jid)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("ResourceNotFoundException", "InvalidRequestException"):
                raise RolloutError(f"CancelJob {jid}: {_error(exc)}") from exc
        jobs.append(create_ring_job(state, deps, state.rollback_bundle, i, job_id(state.rollout_id, i, True)))
    return RollbackResult(jobs=jobs, cancelled=cancelled)


def incident_detail(state: RolloutState) -> dict[str, Any]:
    p = state.progress
    return {
        "rollout_id": state.rollout_id, "model_name": state.release.model_name,
        "version": state.release.version, "rolled_back_to": state.previous.version if state.previous else None,
        "ring": state.rings[p.ring_index] if p and p.ring_index < len(state.rings) else None,
        "ring_index": p.ring_index if p else None, "reasons": p.reasons if p else [],
        "error": state.error, "rollback_jobs": [j.job_id for j in state.rollback.jobs] if state.rollback else [],
        "severity": "high",
    }


def raise_incident(state: RolloutState, deps: Deps) -> tuple[str, str]:
    detail_type = "edgecv.rollout.halted"
    try:
        reply = deps.aws("events").put_events(Entries=[{
            "Source": "edgecv.rollout", "DetailType": detail_type, "EventBusName": deps.settings.event_bus,
            "Detail": json.dumps(incident_detail(state), sort_keys=True)}])
    except ClientError as exc:
        raise RolloutError(f"PutEvents: {_error(exc)}") from exc
    entry = reply["Entries"][0]
    if "EventId" not in entry:
        raise RolloutError(f"PutEvents refused the incident: {entry.get('ErrorMessage', 'unknown error')}")
    return entry["EventId"], detail_type
