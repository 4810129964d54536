from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from contracts.bundles import LocalSigner
from contracts.jobs import JobDocument, JobStatusReport
from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.journal import CommitHook, Journal
from edge_appliance.ota.model_server import FakeModelServer
from tests.ota_support import MODEL, FakeWeb, job_for, make_bundle, trusted, write_key


@pytest.fixture(scope="session")
def signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture(scope="session")
def other_signer() -> LocalSigner:
    return LocalSigner.generate()


class Clock:
    def __init__(self) -> None:
        self.t = 1_790_000_000.0

    def __call__(self) -> float:
        self.t += 0.25
        return self.t


@dataclass
class Site:
    """One device: the agent's folder, a fake model server, a fake web and the reports sent."""

    root: Path
    signer: LocalSigner
    web: FakeWeb
    server: FakeModelServer
    reports: list[JobStatusReport] = field(default_factory=list)
    max_bundle_bytes: int = 1 << 30
    max_starts: int = 3
    fail_reports: bool = False
    clock: Clock = field(default_factory=Clock)

    def agent(self, before: CommitHook | None = None, after: CommitHook | None = None) -> OtaAgent:
        config = AgentConfig(root=self.root / "agent", thing_name="site-1-box", device_class="cpu",
                             trusted_keys=[write_key(self.root / "trusted.pem", self.signer)],
                             max_bundle_bytes=self.max_bundle_bytes, max_starts=self.max_starts)
        downloader = Downloader(max_bytes=config.max_bundle_bytes, attempts=4, sleep=lambda s: None,
                                opener=self.web)
        clock = self.clock
        return OtaAgent(config, trusted(self.signer), self.server, downloader, self.report,
                        journal=Journal(config.journal_dir, before, after), clock=clock, monotonic=clock)

    def report(self, report: JobStatusReport) -> None:
        from edge_appliance.ota.errors import ChannelError

        if self.fail_reports:
            raise ChannelError("the channel is down")
        self.reports.append(report)

    def bundle(self, version: int, **kwargs: object) -> Path:
        folder = self.root / "bundles"
        folder.mkdir(exist_ok=True)
        return make_bundle(folder, self.signer, version, **kwargs)  # type: ignore[arg-type]

    def job(self, bundle: Path, version: int, **kwargs: object) -> JobDocument:
        return job_for(bundle, self.web.add(bundle), {MODEL: version}, **kwargs)  # type: ignore[arg-type]

    def install(self, version: int, job_id: str | None = None, **kwargs: object) -> JobStatusReport | None:
        bundle = self.bundle(version, **kwargs)
        doc = self.job(bundle, version, rollback=bool(kwargs.get("rollback", False)))
        return self.agent().handle(job_id or f"job-v{version}", doc.model_dump(mode="json"))


@pytest.fixture
def site(tmp_path: Path, signer: LocalSigner) -> Site:
    return Site(tmp_path, signer, FakeWeb(), FakeModelServer(tmp_path / "repository"))


@pytest.fixture
def site_v1(site: Site) -> Site:
    report = site.install(1)
    assert report is not None and report.outcome.value == "SUCCEEDED", report
    return site


SiteFactory = Callable[[], Site]
