"""`edgecv simulate rollout`: two ringed rollouts through the real state machine to N simulated devices.

What is REAL here: the rollout state machine (`cdk.definitions.rollout_definition`, run by moto's Step
Functions interpreter), its Lambda handlers (plan, start ring, assess with the pure ring gate, sign the
rollback with KMS, roll back, raise the incident), run in-process exactly as `LocalCloud` runs them;
the IoT jobs, S3 bundles, KMS key, CloudWatch statistics and EventBridge incident on moto; the signed
bundles (built and KMS-signed like the signing step builds them); and on every device the real OTA
agent's step machine (see `edgecv.simulate.device`).

What is SIMULATED: the devices' network (one real download per bundle, then bytes from memory with
injected failures), Triton (an in-memory model server whose smoke figures and field health come from a
per-version profile), ring membership (held by the fleet behind the `JobExecutions` seam instead of N
IoT things), per-device CloudWatch puts (aggregated into statistic sets per ring and version), and time
(a bake window is `bake_seconds` of wall time; devices answer a job when the gate first looks at it).
The devices' agents run in `workers` spawned processes (dealt round-robin), so both cores do agent work
while this process runs moto and the state machine.

Rings (cumulative shares of N): canary = 1% (at least 1 device), then 10%, 50%, 100%; each ring's thing
group holds the devices it adds. Faults: `offline_rate` of each ring is offline for the whole run;
per job, `fault_rate` of a ring's online devices get a flaky download: their first k requests fail,
k uniform in 1..attempts+2, so with 5 attempts 3 in 7 of them give up and report FAILED download_failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from contracts.bundles import Lineage, ModelSource, TrustedKey, build_bundle
from contracts.jobs import JobOutcome
from edgecv.kms_signer import KmsSigner
from edgecv.simulate.device import DeviceFault, Profiles, VersionProfile
from edgecv.simulate.fleet import SimFleet, deal, exact_share
from edgecv.simulate.report import Assessment, RingReport, RolloutReport, SimReport
from edgecv.simulate.shards import DeviceSummary, LocalShard, ProcessShard, Shard, ShardError, ShardSpec
from lambdas.common.events import GateThresholds, Release, RolloutConfig
from lambdas.localcloud.cloud import RINGS, LocalCloud, LocalCloudError, ring_group
from lambdas.rollout.core import job_id

MODEL = "damage_classifier"
BASELINE, HEALTHY, REGRESSED = 2, 3, 4
RING_SHARES = (0.01, 0.10, 0.50, 1.00)
RING_RULE = "cumulative 1% (at least 1 device) / 10% / 50% / 100% of N; each ring holds the devices it adds"
PROFILES = Profiles({
    BASELINE: VersionProfile(confidence=0.88),
    HEALTHY: VersionProfile(confidence=0.90),
    # passes its smoke test on the held-out frames, but its confidence collapses in the field
    REGRESSED: VersionProfile(smoke_accuracy=0.94, confidence=0.35),
})
REAL = [
    "rollout state machine (cdk.definitions) on moto's Step Functions interpreter",
    "rollout Lambda handlers in-process: plan, start ring (IoT CreateJob), assess (ring gate), sign rollback (KMS), "
    "roll back (CancelJob + rollback jobs), raise incident (EventBridge)",
    "signed bundles built like the signing step, KMS ECDSA P-256 on moto",
    "per device: the OTA agent's step machine (OtaAgent.handle) with the real Downloader retry loop, "
    "verify_bundle (signature, file hashes, device class, anti-rollback), target/rollback checks, extraction, "
    "smoke judgement, switch/restore, edgecv-ota-report/1 reports",
]
SIMULATED = [
    "network: one real download per bundle, then bytes from memory; the first k requests of a flaky device fail",
    "Triton: in-memory model server; smoke figures and field health from per-version profiles plus seeded noise",
    "ring membership: held by the simulator behind the JobExecutions seam (no IoT thing per device)",
    "health metrics: per-device values aggregated into CloudWatch statistic sets per ring and version",
    "agent journal and installed record in memory (no crashes simulated)",
    "time: bake windows are wall seconds; a device answers a job when the ring gate first looks at it",
]


class SimulationError(RuntimeError):
    """The simulation could not run (the local cloud or a rollout did not start or finish)."""


class SimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    devices: int = Field(ge=4, le=100_000)
    seed: int = 1
    fault_rate: float = Field(default=0.02, ge=0.0, le=1.0,
                              title="share of online devices per job with a flaky download")
    offline_rate: float = Field(default=0.01, ge=0.0, le=1.0, title="share of each ring offline for the whole run")
    download_attempts: int = Field(default=5, ge=1, le=100)
    bake_seconds: int = Field(default=1, ge=1, le=600)
    max_bakes: int = Field(default=2, ge=1, le=100)
    thresholds: GateThresholds = Field(default_factory=lambda: GateThresholds(max_failure_rate=0.05,
                                                                              min_completion=0.95))
    workers: int = Field(default=2, ge=1, le=64, title="processes the devices' agents run in (1: this process)")
    timeout_s: float = Field(default=600.0, gt=0)


def ring_sizes(devices: int) -> list[int]:
    """Devices per ring (canary, 10%, 50%, 100%), every ring at least one device."""
    cumulative = [max(1, math.ceil(devices * RING_SHARES[0]))]
    for share in RING_SHARES[1:]:
        cumulative.append(max(cumulative[-1] + 1, round(devices * share)))
    cumulative[-1] = devices
    return [b - a for a, b in zip([0, *cumulative[:-1]], cumulative, strict=True)]


def _scratch() -> Path:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="edgecv-rollout-sim-", dir=base))


def _publish(cloud: LocalCloud, signer: KmsSigner, work: Path, version: int) -> Release:
    model = work / "models" / MODEL
    (model / str(version)).mkdir(parents=True)
    (model / "config.pbtxt").write_text(f'name: "{MODEL}"\nbackend: "python"\n')
    (model / str(version) / "model.onnx").write_bytes(f"{MODEL} weights v{version}".encode() * 16)
    out = work / f"{MODEL}-{version}.tar.gz"
    build_bundle([ModelSource(model, version)], "cpu", signer, out,
                 lineage=Lineage(training_job_id=f"sim-{version}",
                                 eval_metrics={"accuracy": PROFILES(MODEL, version).smoke_accuracy}))
    shutil.rmtree(model / str(version))
    data = out.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    key = f"bundles/{MODEL}/{version}/bundle.tar.gz"
    assert cloud.settings is not None
    cloud.client("s3").put_object(Bucket=cloud.settings.artifacts_bucket, Key=key, Body=data,
                                  Metadata={"sha256": sha})
    return Release(bucket=cloud.settings.artifacts_bucket, key=key, sha256=sha, size=len(data), model_name=MODEL,
                   version=version, device_class="cpu", signer_key_id=signer.key_id)


def _assessments(cloud: LocalCloud, execution_arn: str) -> dict[int, list[Assessment]]:
    """The ring gate's verdicts, per ring index, from the execution history (AssessRing's exits)."""
    sfn, found, token = cloud.client("stepfunctions"), {}, None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        for event in page["events"]:
            details = event.get("stateExitedEventDetails")
            if not details or details.get("name") != "AssessRing":
                continue
            state = json.loads(details.get("output") or "{}")
            progress, ring = state.get("progress") or {}, state.get("ring") or {}
            found.setdefault(int(ring.get("ring_index", -1)), []).append(Assessment(
                verdict=progress.get("verdict", "?"), bakes=progress.get("bakes", 0),
                reasons=progress.get("reasons", [])))
        token = page.get("nextToken")
        if not token:
            return found


def _versions(fleet: SimFleet, things: list[str]) -> dict[str, int]:
    running = Counter(f"v{fleet.serving[t].get(MODEL)}" for t in things)
    return dict(sorted(running.items()))


def _ring_reports(fleet: SimFleet, rollout_id: str, assessed: dict[int, list[Assessment]]) -> list[RingReport]:
    rows = []
    for index, group in enumerate(ring_group(r) for r in RINGS):
        members = fleet.rings[group]
        job = fleet.jobs.get(job_id(rollout_id, index))
        back = fleet.jobs.get(job_id(rollout_id, index, rollback=True))
        row: dict[str, Any] = {"ring": group, "ring_index": index, "devices": len(members),
                               "targeted": len(job.deliveries) if job else 0,
                               "assessments": assessed.get(index, []),
                               "decision": assessed[index][-1].verdict if index in assessed else "not_reached",
                               "versions_running": _versions(fleet, members)}
        if job is not None:
            outcomes = Counter(r.outcome for r in job.reports)
            row |= {"succeeded": outcomes[JobOutcome.SUCCEEDED], "failed": outcomes[JobOutcome.FAILED],
                    "rejected": outcomes[JobOutcome.REJECTED],
                    "offline": sum(d.fault is DeviceFault.OFFLINE for d in job.deliveries),
                    "flaky_downloads": sum(d.fault is DeviceFault.FLAKY_DOWNLOAD for d in job.deliveries),
                    "reasons": dict(Counter(r.reason for r in job.reports if r.reason))}
        if back is not None:
            row |= {"rolled_back": sum(r.outcome is JobOutcome.SUCCEEDED for r in back.reports),
                    "rollback_failed": sum(r.outcome is not JobOutcome.SUCCEEDED for r in back.reports)}
        rows.append(RingReport(**row))
    return rows


def _rollout_input(config: SimConfig, rollout_id: str, release: Release, previous: Release) -> dict:
    gate = RolloutConfig(bake_seconds=config.bake_seconds, max_bakes=config.max_bakes, thresholds=config.thresholds)
    return {"rollout_id": rollout_id, "release": release.model_dump(mode="json"),
            "previous": previous.model_dump(mode="json"), "rings": [ring_group(r) for r in RINGS],
            "config": gate.model_dump(mode="json")}


def _run_rollout(cloud: LocalCloud, fleet: SimFleet, config: SimConfig, rollout_id: str, release: Release,
                 previous: Release) -> RolloutReport:
    started = time.monotonic()
    arn = cloud.start_execution("rollout", rollout_id, _rollout_input(config, rollout_id, release, previous))
    result = cloud.wait(arn, timeout_s=config.timeout_s, poll_s=0.2)
    fleet.poll()  # the devices answer what the execution sent last (rollback jobs)
    assessed = _assessments(cloud, arn)
    incidents = cloud.incidents()
    progress = (result.output or {}).get("progress") or {}
    halted = [i for i, found in assessed.items() if found and found[-1].verdict == "halt"]
    return RolloutReport(
        rollout_id=rollout_id, version=release.version, previous_version=previous.version, status=result.status,
        error=result.error, completed=result.status == "SUCCEEDED" and bool(progress.get("done")),
        halted_at=ring_group(RINGS[halted[0]]) if halted else None, states=result.states,
        rings=_ring_reports(fleet, rollout_id, assessed),
        incident=incidents[0].get("detail") if incidents else None, seconds=round(time.monotonic() - started, 3))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No request log from moto's server, no EMF metrics or step logs from the handlers: the report says it all."""
    from lambdas.common.powertools import logger as step_logger

    names = ("werkzeug", "moto", step_logger._logger.name)  # powertools names its logger after the service
    loggers = {name: logging.getLogger(name) for name in names}
    levels = {name: logger.level for name, logger in loggers.items()}
    saved = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    for logger in loggers.values():
        logger.setLevel(logging.CRITICAL)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    try:
        yield
    finally:
        for name, logger in loggers.items():
            logger.setLevel(levels[name])
        if saved is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = saved


def simulate(config: SimConfig, progress: Callable[[str], None] = lambda line: None) -> SimReport:
    started = time.monotonic()
    phases: dict[str, float] = {}
    mark = started
    work = _scratch()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = round(now - mark, 3)
        mark = now
        progress(f"{name}: {phases[name]:.1f} s")

    try:
        with _quiet(), LocalCloud(work / "cloud") as cloud:
            assert cloud.settings is not None
            signer = KmsSigner(cloud.client("kms"), cloud.settings.signing_key_id)
            releases = {v: _publish(cloud, signer, work, v) for v in (BASELINE, HEALTHY, REGRESSED)}
            phase("cloud_start")
            fleet = _build_fleet(cloud, config, signer, work)
            phase("fleet_provision")
            try:
                healthy = _run_rollout(cloud, fleet, config, "sim-healthy", releases[HEALTHY], releases[BASELINE])
                phase("rollout_healthy")
                regressed = _run_rollout(cloud, fleet, config, "sim-regressed", releases[REGRESSED],
                                         releases[HEALTHY])
                phase("rollout_regressed")
                summary = fleet.summary(MODEL, REGRESSED)
            finally:
                fleet.close()
    except (LocalCloudError, ShardError, BotoCoreError, ClientError, requests.RequestException, OSError) as exc:
        raise SimulationError(f"the rollout simulation failed: {type(exc).__name__}: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    phase("clean_up")
    return _report(config, fleet, summary, healthy, regressed, phases, time.monotonic() - started)


def _build_fleet(cloud: LocalCloud, config: SimConfig, signer: KmsSigner, work: Path) -> SimFleet:
    keys = [TrustedKey(signer.public_key(), "kms")]
    rings: dict[str, list[str]] = {}
    number = 0
    for ring, size in zip(RINGS, ring_sizes(config.devices), strict=True):
        rings[ring_group(ring)] = [f"site-{n:05d}" for n in range(number, number + size)]
        number += size
    specs = [ShardSpec.of(devices, work / "devices", keys, {MODEL: BASELINE}, PROFILES, config.download_attempts)
             for devices in deal(rings, config.workers)]
    shards: list[Shard] = []
    try:
        if config.workers == 1:
            shards.append(LocalShard(specs[0]))
        else:
            processes = [ProcessShard(spec, timeout_s=config.timeout_s) for spec in specs]
            shards.extend(processes)
            for shard in processes:
                shard.wait_ready()
    except ShardError:
        for shard in shards:
            shard.close()
        raise
    rng = random.Random(f"{config.seed}:offline")
    offline = set().union(*(exact_share(rng, things, config.offline_rate) for things in rings.values()))
    fleet = SimFleet(cloud.client("iot"), cloud.client("cloudwatch"), shards, rings, PROFILES,
                     serving={t: {MODEL: BASELINE} for things in rings.values() for t in things},
                     seed=config.seed, fault_rate=config.fault_rate, offline=offline,
                     download_attempts=config.download_attempts)
    for group, things in rings.items():
        fleet.publish_health(group, [t for t in things if t not in offline], "provision")
    cloud.install(executions=fleet)
    return fleet


def _report(config: SimConfig, fleet: SimFleet, summary: dict[str, DeviceSummary], healthy: RolloutReport,
            regressed: RolloutReport, phases: dict[str, float], wall: float) -> SimReport:
    canary = ring_group(RINGS[0])
    regressed_jobs = {d.thing for record in fleet.jobs.values()
                      if record.document.targets.get(MODEL) == REGRESSED and not record.document.rollback
                      for d in record.deliveries if summary[d.thing].ring != canary}
    regressed_outside = sum(s.ever_served for s in summary.values() if s.ring != canary)
    checks = {
        "healthy_reached_100_percent": healthy.completed,
        "regressed_halted_at_canary": regressed.status == "FAILED" and regressed.halted_at == canary
        and regressed.states.count("StartRing") == 1,
        "regressed_rolled_back": "RollbackRings" in regressed.states and regressed.rings[0].rolled_back > 0,
        "incident_raised": regressed.incident is not None,
        "no_regressed_outside_canary": regressed_outside == 0 and not regressed_jobs,
    }
    sizes = {ring_group(r): n for r, n in zip(RINGS, ring_sizes(config.devices), strict=True)}
    gate = RolloutConfig(bake_seconds=config.bake_seconds, max_bakes=config.max_bakes, thresholds=config.thresholds)
    return SimReport(
        devices=config.devices, seed=config.seed, fault_rate=config.fault_rate, offline_rate=config.offline_rate,
        model=MODEL, versions={"baseline": BASELINE, "healthy": HEALTHY, "regressed": REGRESSED},
        ring_rule=RING_RULE, ring_sizes=sizes, gate=gate.model_dump(mode="json"), rollouts=[healthy, regressed],
        regressed_outside_canary=regressed_outside, regressed_jobs_outside_canary=len(regressed_jobs),
        canary_ran_regressed=sum(s.ever_served for s in summary.values() if s.ring == canary),
        serving_regressed_at_end=sum(s.serving.get(MODEL) == REGRESSED for s in summary.values()),
        incidents=sum(r.incident is not None for r in (healthy, regressed)), checks=checks, ok=all(checks.values()),
        wall_seconds=round(wall, 3), phase_seconds=phases,
        agent_runs=sum(s.jobs for s in summary.values()), workers=config.workers, real=REAL, simulated=SIMULATED)
