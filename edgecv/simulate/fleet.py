"""The simulated fleet: N `SimDevice`s in rings, answering the IoT jobs the real rollout handlers create.

It is the `JobExecutions` seam (`lambdas.common.interfaces`) the assess step reads job outcomes through,
and it holds ring membership itself (which devices a ring's thing group holds) instead of N
`CreateThing` calls on moto, which would not fit the time budget at fleet scale. The jobs themselves
are real IoT jobs on moto (ListJobs, DescribeJob, GetJobDocument); a job's thing-group target is
expanded from the fleet's own ring table. Each targeted device that is online gets the job document
as it was stored, through its own real OTA agent; offline devices never answer. The agents run in
shards (`shards.py`): in this process, or dealt round-robin over worker processes.

Health: each answering device draws its field figures (confidence, decisions per minute, latency p99)
for the version it now serves from that version's profile plus seeded noise; the fleet publishes them
to CloudWatch (moto) as one statistic set per ring, version and metric (what CloudWatch itself would
aggregate from per-device values), so the ring gate reads the same statistics through the same API.
"""

from __future__ import annotations

import random
import tempfile
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contracts.jobs import AgentReason, JobDocument, JobStatusReport
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.errors import DownloadError
from edgecv.simulate.device import DeviceFault, VersionProfile
from edgecv.simulate.shards import DeviceSummary, Shard
from lambdas.common import fleet_metrics as fm

NOISE = {fm.CONFIDENCE: 0.02, fm.DECISION_RATE: 1.0, fm.LATENCY_P99_MS: 8.0}


class FleetError(RuntimeError):
    """A job could not be delivered to the simulated fleet (its bundle could not be fetched)."""


@dataclass(frozen=True)
class Delivery:
    """What happened to one device for one job."""

    thing: str
    fault: DeviceFault
    download_failures: int = 0
    report: JobStatusReport | None = None  # None: offline, never answered


@dataclass
class JobRecord:
    job_id: str
    document: JobDocument
    rings: list[str]
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def reports(self) -> list[JobStatusReport]:
        return [d.report for d in self.deliveries if d.report is not None]


def deal(rings: dict[str, list[str]], shards: int) -> list[list[tuple[str, str]]]:
    """(thing, ring) per shard, round-robin by position in the fleet (so every ring is split evenly)."""
    dealt: list[list[tuple[str, str]]] = [[] for _ in range(shards)]
    position = 0
    for ring, things in rings.items():
        for thing in things:
            dealt[position % shards].append((thing, ring))
            position += 1
    return dealt


def exact_share(rng: random.Random, things: list[str], rate: float) -> set[str]:
    """round(rate x len(things)) of `things`, chosen by `rng`: faults in proportion, even for a small ring."""
    return set(rng.sample(things, min(len(things), round(rate * len(things)))))


@dataclass
class SimFleet:
    iot: Any
    cloudwatch: Any
    shards: list[Shard]                          # where the devices' agents run
    rings: dict[str, list[str]]                  # thing group -> thing names
    profiles: Callable[[str, int], VersionProfile]
    serving: dict[str, dict[str, int]]           # thing -> versions it serves (as its last report left it)
    seed: int = 1
    fault_rate: float = 0.0
    offline: set[str] = field(default_factory=set)
    download_attempts: int = 5
    bundles: dict[str, bytes] = field(default_factory=dict)  # URL (no query) -> bytes, fetched once each
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _positions: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._positions = {t: i for i, t in enumerate(t for things in self.rings.values() for t in things)}

    def shard_index(self, thing: str) -> int:
        """Devices are dealt round-robin over the shards by their position in the fleet (as `deal` does)."""
        return self._positions[thing] % len(self.shards)

    def summary(self, model: str, version: int) -> dict[str, DeviceSummary]:
        found: dict[str, DeviceSummary] = {}
        for shard in self.shards:
            found |= shard.summary(model, version)
        return found

    def close(self) -> None:
        for shard in self.shards:
            shard.close()

    # ---- health --------------------------------------------------------------------------------
    def publish_health(self, ring: str, things: list[str], salt: str,
                       smoke_failures: dict[tuple[str, int], int] | None = None) -> None:
        """The listed devices publish the health of the version each serves (one statistic set per ring, version
        and metric); `smoke_failures` counts a job's failed smoke tests under the version that failed them."""
        by_version: dict[tuple[str, int], list[str]] = {}
        for thing in things:
            for model, version in self.serving[thing].items():
                by_version.setdefault((model, version), []).append(thing)
        rng = np.random.default_rng([self.seed, zlib.crc32(f"{ring}:{salt}".encode())])
        data = []
        for (model, version), members in sorted(by_version.items()):
            profile = self.profiles(model, version)
            means = {fm.CONFIDENCE: profile.confidence, fm.DECISION_RATE: profile.decision_rate,
                     fm.LATENCY_P99_MS: profile.latency_p99_ms}
            for metric, mean in means.items():
                values = np.clip(rng.normal(mean, NOISE[metric], len(members)), 0.0, None)
                if metric == fm.CONFIDENCE:
                    values = np.minimum(values, 1.0)
                data.append(_statistic_set(metric, ring, version, values))
        for (_, version), count in sorted((smoke_failures or {}).items()):
            data.append(_statistic_set(fm.SMOKE_TEST_FAILURES, ring, version, np.ones(count)))
        for start in range(0, len(data), 1000):
            self.cloudwatch.put_metric_data(Namespace=fm.NAMESPACE, MetricData=data[start:start + 1000])

    # ---- jobs ----------------------------------------------------------------------------------
    def poll(self) -> None:
        """Deliver every job not delivered yet (a canceled job is not delivered)."""
        pages = self.iot.get_paginator("list_jobs").paginate()
        listed = [(j["jobId"], j.get("status")) for page in pages for j in page.get("jobs", [])]
        with self._lock:
            for job_id, status in listed:
                if job_id in self.jobs or status == "CANCELED":
                    continue
                self._deliver(job_id)

    def _deliver(self, job_id: str) -> None:
        job = self.iot.describe_job(jobId=job_id)["job"]
        raw = self.iot.get_job_document(jobId=job_id)["document"]
        document = JobDocument.model_validate_json(raw)
        self._fetch_once(document)
        rings = [t.rsplit("/", 1)[-1] for t in job.get("targets", [])]
        record = JobRecord(job_id=job_id, document=document, rings=rings)
        rng = random.Random(f"{self.seed}:{job_id}")
        for ring in rings:
            things = self.rings.get(ring, [])
            online = [t for t in things if t not in self.offline]
            flaky = exact_share(rng, online, self.fault_rate)
            failures = {t: rng.randint(1, self.download_attempts + 2) if t in flaky else 0 for t in online}
            work: list[list[tuple[str, int]]] = [[] for _ in self.shards]
            for thing in online:
                work[self.shard_index(thing)].append((thing, failures[thing]))
            for shard, items in zip(self.shards, work, strict=True):
                shard.submit(job_id, raw, self.bundles, items)
            answers = {thing: (report, serving) for shard in self.shards for thing, report, serving in shard.collect()}
            smoke: dict[tuple[str, int], int] = {}
            for thing in things:
                if thing in self.offline:
                    record.deliveries.append(Delivery(thing, DeviceFault.OFFLINE))
                    continue
                report, serving = answers[thing]
                self.serving[thing] = serving
                fault = DeviceFault.FLAKY_DOWNLOAD if failures[thing] else DeviceFault.NONE
                record.deliveries.append(Delivery(thing, fault, failures[thing], report))
                if report is not None and report.reason == AgentReason.SMOKE_FAILED.value:
                    for target in document.targets.items():
                        smoke[target] = smoke.get(target, 0) + 1
            self.publish_health(ring, online, job_id, smoke)
        self.jobs[job_id] = record

    def _fetch_once(self, document: JobDocument) -> None:
        """One real download of each bundle from the object store (presigned URL); devices share the bytes."""
        url = document.bundle_url.split("?", 1)[0]
        if url in self.bundles:
            return
        with tempfile.TemporaryDirectory(prefix="edgecv-sim-bundle-") as tmp:
            dest = Path(tmp) / "bundle.tar.gz"
            try:
                Downloader(max_bytes=document.bundle_size).fetch(document.bundle_url, dest, document.bundle_sha256,
                                                                 document.bundle_size)
            except DownloadError as exc:
                raise FleetError(f"cannot fetch the bundle of rollout {document.rollout_id}: {exc}") from exc
            self.bundles[url] = dest.read_bytes()

    # ---- the JobExecutions seam ----------------------------------------------------------------
    def reports(self, job_id: str) -> list[JobStatusReport]:
        self.poll()
        with self._lock:
            record = self.jobs.get(job_id)
            return record.reports if record else []

    def targeted(self, job_id: str) -> int:
        self.poll()
        with self._lock:
            record = self.jobs.get(job_id)
            return len(record.deliveries) if record else 0


def _statistic_set(metric: str, ring: str, version: int, values: np.ndarray) -> dict[str, Any]:
    return {"MetricName": metric,
            "Dimensions": [{"Name": fm.DIM_RING, "Value": ring}, {"Name": fm.DIM_MODEL_VERSION, "Value": str(version)}],
            "StatisticValues": {"SampleCount": float(len(values)), "Sum": float(values.sum()),
                                "Minimum": float(values.min()), "Maximum": float(values.max())}}
