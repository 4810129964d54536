"""The demo's sites as Greengrass deployments: each site's Triton and ingest run as the shipped components'
processes, started by the local deployer (`edgecv.local_greengrass`) from the same recipes a nucleus reads.

The demo writes one `edgecv-greengrass-group/1` file for its site group: the ingest component is the root
(Triton comes in as its dependency), and each site's configuration update sets its ports, its camera, its
truck's manifest, its sampler, its buffer cap and its uplink (site-3's points at a closed port: the WAN outage).
The ingest process plays its forklift sequence once and exits 0 (FINISHED); what it decided is read back from the
files it leaves, as a site's own tools would: the last `edgecv-telemetry/1` line of `telemetry.jsonl`, the
reconciliation reports in the append-only decision log, and the sample buffer on disk.

The OTA agent is the third component. moto stores the rollout's IoT jobs but has no device side, so the demo's
fleet hands each job to the site's agent the way IoT Jobs would: the jobs emulator
(`edge_appliance.ota.jobs_emulator`) answers the agent's MQTT requests (start-next, update, notify-next) on a local
Mosquitto, and `ProcessAgent.handle` waits for the execution's terminal status and reads the agent's report back
from its `statusDetails`, as the cloud side does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.decisions import ReconciliationReport
from contracts.errors import EdgecvError
from contracts.jobs import JobStatusReport
from contracts.telemetry import SiteTelemetry
from edge_appliance.ota.jobs_emulator import TERMINAL, MemoryJobStore
from edge_appliance.ota.triton_model_server import TritonModelServer
from edgecv.local_greengrass import ComponentState, LocalDeployment, SiteGroup

TRITON = "com.edgecv.Triton"
INGEST = "com.edgecv.Ingest"
OTA_AGENT = "com.edgecv.OtaAgent"


class DemoSiteError(EdgecvError):
    """A deployed demo site did not do what the demo needs (its component logs say why)."""


@dataclass(frozen=True)
class SiteSettings:
    """What differs between the demo's sites."""

    site_id: str
    sequence: Path  # a forklift sequence folder (frames + manifest.json)
    fps: float
    sampler: Mapping[str, Any]  # SamplerConfig as JSON
    buffer_cap_bytes: int
    bucket: str
    upload_endpoint: str  # the moto server, or a closed port at the site whose WAN link is down
    grpc_port: int
    http_port: int
    metrics_port: int
    trusted_key: Path  # the PEM public key the agent accepts bundle signatures from
    smoke_set: Path  # the held-out frames the agent smoke-tests a new version on
    mqtt_port: int  # the local broker the jobs emulator answers on


def site_group(group: str, sites: list[SiteSettings]) -> SiteGroup:
    """The deployment of the demo's site group: ingest (and, as its dependency, Triton) on every site."""
    return SiteGroup.model_validate({
        "format": "edgecv-greengrass-group/1", "group": group,
        "components": {INGEST: {}, OTA_AGENT: {}},
        "sites": {s.site_id: {  # paths absolute: a component runs in its own work folder
            TRITON: {"configurationUpdate": {"merge": {
                "grpcPort": s.grpc_port, "httpPort": s.http_port, "metricsPort": s.metrics_port,
                "healthIntervalSeconds": 1}}},
            INGEST: {"configurationUpdate": {"merge": {"site": {
                "triton_url": f"127.0.0.1:{s.grpc_port}",
                "triton_metrics_url": f"http://127.0.0.1:{s.metrics_port}/metrics",
                "cameras": [{"camera_id": "door-1", "source": f"synthetic:{s.sequence.resolve()}", "fps": s.fps,
                             "loops": 1,
                             "manifest": str(s.sequence.resolve() / "manifest.json")}],
                "buffer_cap_bytes": s.buffer_cap_bytes, "sampler": dict(s.sampler),
                "upload": {"bucket": s.bucket, "endpoint_url": s.upload_endpoint},
                "telemetry_interval_s": 2.0}}}},
            OTA_AGENT: {"configurationUpdate": {"merge": {
                "agent": {"trusted_keys": [str(s.trusted_key.resolve())], "held_out_dir": str(s.smoke_set.resolve()),
                          "min_free_bytes": 0, "download_backoff_s": 0.2},
                "channel": "mqtt", "channelOptions": f"--mqtt 127.0.0.1:{s.mqtt_port}"}}},
        } for s in sites},
    })


@dataclass
class DeployedSite:
    """One site's running deployment and where its components keep their files."""

    deployment: LocalDeployment
    settings: SiteSettings

    @property
    def site_id(self) -> str:
        return self.settings.site_id

    @property
    def triton_url(self) -> str:
        return f"127.0.0.1:{self.settings.grpc_port}"

    @property
    def repository(self) -> Path:
        """Triton's runtime model repository (where the OTA agent stages new versions)."""
        return self.deployment.plan.component(TRITON).work_dir / "repository"

    @property
    def data_dir(self) -> Path:
        return self.deployment.plan.component(INGEST).work_dir / "data"

    def log_tail(self, component: str, chars: int = 1500) -> str:
        path = self.deployment.plan.component(component).log_path
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def cold_start_seconds(self, timeout_s: float = 10.0) -> float | None:
        """As Triton's component reports it in its health file (start to ready, restarts excluded)."""
        health = self.deployment.plan.component(TRITON).work_dir / "health.json"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                return json.loads(health.read_text()).get("cold_start_seconds")
            except (OSError, ValueError):
                time.sleep(0.2)
        return None

    def wait_ingest(self, timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Until the ingest process has played its sequence and exited 0; a broken component is an error."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.deployment.poll()[INGEST]
            if state is ComponentState.FINISHED:
                return
            if state is ComponentState.BROKEN:
                raise DemoSiteError(f"{self.site_id}: the ingest component is BROKEN: {self.log_tail(INGEST)}")
            if time.monotonic() >= deadline:
                raise DemoSiteError(f"{self.site_id}: the ingest component still runs after {timeout_s:.0f} s")
            sleep(0.5)

    def telemetry(self) -> SiteTelemetry:
        """The ingest's last telemetry record (written when it stops)."""
        path = self.data_dir / "telemetry.jsonl"
        lines = [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        if not lines:
            raise DemoSiteError(f"{self.site_id}: no telemetry in {path}: {self.log_tail(INGEST)}")
        return SiteTelemetry.model_validate_json(lines[-1])

    def reconciliation(self, truck_id: str) -> ReconciliationReport | None:
        """The last reconciliation logged for that truck, read from the site's decision log."""
        from edge_appliance.decision_log import DecisionLog, LogMode

        path = self.data_dir / "decisions.sqlite"
        if not path.exists():
            return None
        log = DecisionLog(path, mode=LogMode.READ_ONLY)
        try:
            reports = log.reports_for_truck(truck_id)
        finally:
            log.close()
        return reports[-1] if reports else None

    def states(self) -> dict[str, str]:
        return {name: state.value for name, state in self.deployment.poll().items()}


class ProcessAgent:
    """A site's OTA agent process, reached as IoT Jobs reach it: a job execution queued in the emulator's store,
    announced over MQTT (notify-next), and the agent's `edgecv-ota-report/1` read back from `statusDetails`."""

    def __init__(self, thing_name: str, store: MemoryJobStore, triton: TritonModelServer,
                 log_tail: Callable[[], str], timeout_s: float = 300.0) -> None:
        self.thing_name = thing_name
        self.store = store
        self.triton = triton  # read-only here: what the site's Triton serves
        self.log_tail = log_tail
        self.timeout_s = timeout_s

    def handle(self, job_id: str, document: dict[str, Any]) -> JobStatusReport | None:
        self.store.create_job(job_id, document, [self.thing_name], at=int(time.time()))  # epoch seconds, as IoT Jobs
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            execution = self.store.get(job_id, self.thing_name)
            if execution is not None and execution.status in TERMINAL:
                if "outcome" not in execution.status_details:
                    return None  # ended without a report: the fleet counts it as failed
                return JobStatusReport.from_status_details(job_id, self.thing_name, execution.status_details)
            time.sleep(0.1)
        raise DemoSiteError(f"{self.thing_name}: the OTA agent did not finish job {job_id} within "
                            f"{self.timeout_s:.0f} s: {self.log_tail()}")

    def serving_versions(self) -> dict[str, int]:
        return self.triton.serving_versions()
