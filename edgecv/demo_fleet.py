"""The demo's fleet: every site is a real Triton with a real OTA agent, answering the rollout's IoT jobs.

moto stores IoT jobs but has no device side; `SimulatedFleet` (lambdas.localcloud.fleet_emulator) expands a
job's ring targets and lets each member answer through a behaviour. Here the behaviour is the site's own
OTA agent, a process of the `com.edgecv.OtaAgent` component reached over MQTT (edgecv.demo_sites.ProcessAgent):
it downloads the bundle from the job document's presigned URL (moto's S3), verifies it against the
KMS public key, loads the new version beside the old one in that site's Triton, smoke-tests it on held-out
frames, and only then switches the ensemble. The health a site then publishes (CloudWatch, with Ring and
ModelVersion dimensions) is measured on that site's Triton, not assumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from contracts.jobs import JobDocument, JobOutcome, JobStatusReport
from contracts.predictions import FramePrediction
from edgecv.local_triton import LocalPipeline
from lambdas.localcloud.fleet_emulator import DeviceResponse, SimulatedFleet


@dataclass(frozen=True)
class SiteHealth:
    """One site measured on its held-out frames through its own Triton."""

    exact_match: float
    damage_f1: float
    mean_read_confidence: float
    latency_p99_ms: float
    frames_per_second: float
    versions: dict[str, int]


WARM_UP_REQUESTS = 2  # untimed requests before a site's health is measured


class _Recording:
    """A predictor that remembers what it answered (for the read confidences)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.predictions: list[FramePrediction] = []

    def predict(self, frame: object) -> FramePrediction:
        prediction = self.inner.predict(frame)  # type: ignore[attr-defined]
        self.predictions.append(prediction)
        return prediction


class SiteAgent(Protocol):
    """The site's OTA agent as the fleet reaches it (edgecv.demo_sites.ProcessAgent: the agent's process)."""

    def handle(self, job_id: str, document: dict[str, Any]) -> JobStatusReport | None: ...

    def serving_versions(self) -> dict[str, int]: ...


@dataclass
class DemoSite:
    site_id: str
    ring: str  # the IoT thing group of its rollout ring
    pipeline: LocalPipeline
    held_out: Path  # the site's own held-out frames: before/after accuracy on the same frames
    agent: SiteAgent
    reports: list[JobStatusReport] = field(default_factory=list)
    _warm_up: Any = field(default=None, init=False, repr=False)  # the held-out set's first frame, decoded once

    def serving(self) -> dict[str, int]:
        return self.agent.serving_versions()

    def _warm_up_frame(self) -> Any:
        if self._warm_up is None:
            from contracts.annotations import load_annotation_set
            from training.evaluation import load_frame

            first = load_annotation_set(self.held_out).frames[0]
            self._warm_up = load_frame(self.held_out, first.image, first.width, first.height)
        return self._warm_up

    def measure(self) -> SiteHealth:
        import time

        from training.evaluation import evaluate

        self.pipeline.client.refresh_versions()
        # steady state, as a site's health over minutes of traffic would be: the first requests after a hot load
        # are not timed (p99 of a few dozen frames is their slowest one; a CI run's gate once halted on it)
        image = self._warm_up_frame()
        for _ in range(WARM_UP_REQUESTS):
            self.pipeline.client.predict(image)
        recording = _Recording(self.pipeline.client)
        start = time.perf_counter()
        report = evaluate(self.held_out, recording)
        seconds = time.perf_counter() - start
        reads = [label.read_confidence for p in recording.predictions for label in p.labels]
        return SiteHealth(exact_match=report["ocr"]["exact_match"], damage_f1=report["damage"]["f1"],
                          mean_read_confidence=sum(reads) / len(reads) if reads else 0.0,
                          latency_p99_ms=report["latency_ms"]["p99"],
                          frames_per_second=report["frames"] / max(seconds, 1e-6), versions=self.serving())


def health_response(health: SiteHealth, outcome: JobOutcome = JobOutcome.SUCCEEDED,
                    reason: str | None = None) -> DeviceResponse:
    return DeviceResponse(outcome=outcome, confidence=health.mean_read_confidence,
                          decision_rate=health.frames_per_second, latency_p99_ms=health.latency_p99_ms,
                          reason=reason)


JobListener = Callable[[DemoSite, JobDocument, JobStatusReport | None, SiteHealth | None], None]


class SiteFleet:
    """`JobExecutions` for the demo: the jobs answered by the sites' real agents (see the module doc)."""

    def __init__(self, iot: object, cloudwatch: object, sites: list[DemoSite],
                 on_job: JobListener | None = None) -> None:
        self.sites = {site.site_id: site for site in sites}
        rings: dict[str, list[str]] = {}
        for site in sites:
            rings.setdefault(site.ring, []).append(site.site_id)
        self.on_job = on_job
        self.fleet = SimulatedFleet(iot, cloudwatch, rings, behaviour=self._answer)

    def provision(self) -> dict[str, SiteHealth]:
        """Things in their ring groups (moto); each site's health under what it serves now, measured and published."""
        import contextlib

        iot = self.fleet.iot
        measured = {}
        for name, site in self.sites.items():
            with contextlib.suppress(iot.exceptions.ResourceAlreadyExistsException):
                iot.create_thing_group(thingGroupName=site.ring)
            iot.create_thing(thingName=name)
            iot.add_thing_to_thing_group(thingGroupName=site.ring, thingName=name)
            measured[name] = site.measure()
            self.fleet.serving[name] = dict(measured[name].versions)
            for version in set(measured[name].versions.values()):
                self.fleet.publish_health(site.ring, version, [health_response(measured[name])])
        return measured

    @staticmethod
    def job_id(document: JobDocument) -> str:
        return f"{document.rollout_id}-r{document.ring}{'-rollback' if document.rollback else ''}"

    def _answer(self, thing: str, ring: str, document: JobDocument) -> DeviceResponse:
        site = self.sites[thing]
        report = site.agent.handle(self.job_id(document), document.model_dump(mode="json"))
        if report is not None:
            site.reports.append(report)
        health = None
        if report is not None and report.outcome is JobOutcome.SUCCEEDED:
            health = site.measure()
        if self.on_job is not None:
            self.on_job(site, document, report, health)
        if report is None:
            return DeviceResponse(outcome=JobOutcome.FAILED, reason="no_report")
        if health is None:
            return DeviceResponse(outcome=report.outcome, reason=report.reason, confidence=0.0)
        return health_response(health, report.outcome, report.reason)

    def poll(self) -> None:
        self.fleet.poll()

    def reports(self, job_id: str) -> list[JobStatusReport]:
        return self.fleet.reports(job_id)

    def targeted(self, job_id: str) -> int:
        return self.fleet.targeted(job_id)
