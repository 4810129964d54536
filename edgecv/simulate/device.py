"""One simulated device: the REAL OTA agent (`edge_appliance.ota.agent.OtaAgent`) over simulated I/O.

Real, per device: the agent's whole step machine (job-document validation, device-class check, the
`Downloader`'s retry/backoff/resume loop and its sha256/size check, bundle verification with
`contracts.bundles.verify_bundle` (signature, every file hash, device class, anti-rollback against the
installed version, signed rollback), the target and rollback-flag checks, extraction of the verified
files, smoke expectations resolved against the manifest and judged by `contracts.jobs`, the switch, the
restore on failure, and the `edgecv-ota-report/1` report it sends).

Simulated: the network (the bundle bytes are fetched once per bundle from the object store, then served
to every device from memory by a fake `urlopen`, failing the first `download_failures` attempts of a
device); Triton (`SimModelServer`: versions, loads, smoke-test figures from a per-version quality
profile, and the history of what each device served); the journal and the installed-models record are
kept in memory (no crash is simulated, so their durability is not exercised here). Agent folders for
staged files live under a temporary root (tmpfs when there is one).
"""

from __future__ import annotations

import dataclasses
import email.message
import functools
import io
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from contracts.bundles import DEFAULT_MAX_BYTES, BundleRefused, TrustedKey, VerifiedBundle, verify_bundle
from contracts.jobs import JobOutcome, JobStatusReport, SmokeCriteria, SmokeResult
from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader, file_sha256
from edge_appliance.ota.errors import ModelServerError
from edge_appliance.ota.installed import Installed, InstalledModel, InstalledStore
from edge_appliance.ota.journal import Journal, JournalRecord
from edge_appliance.ota.states import JobStep

FREE_DISK = 64 << 30


class DeviceFault(StrEnum):
    """What the simulation does to a device in one rollout."""

    NONE = "none"
    FLAKY_DOWNLOAD = "flaky_download"  # the first attempts of its download fail (it may give up)
    OFFLINE = "offline"                # never answers within the bake window


@dataclass(frozen=True)
class VersionProfile:
    """How a model version behaves on a device: its smoke-test figures and its health in the field."""

    smoke_accuracy: float = 0.95
    smoke_latency_ms: float = 40.0
    confidence: float = 0.90
    decision_rate: float = 12.0
    latency_p99_ms: float = 90.0


@dataclass(frozen=True)
class Profiles:
    """Version -> profile (a callable `(model, version) -> VersionProfile`, picklable for worker processes)."""

    by_version: dict[int, VersionProfile]
    default: VersionProfile = VersionProfile()

    def __call__(self, model: str, version: int) -> VersionProfile:
        return self.by_version.get(version, self.default)


class SimModelServer:
    """Triton, simulated: the `ModelServer` contract in memory, with the history of every switch.

    It refuses what a real Triton would punish (an unload-then-load, routing to a version not loaded,
    retiring the serving version) with ModelServerError, like the project's FakeModelServer, without
    touching a model repository.
    """

    def __init__(self, serving: dict[str, int], profiles: Callable[[str, int], VersionProfile]) -> None:
        self._serving = dict(serving)
        self._loaded = {m: [v] for m, v in serving.items()}
        self._staged: set[tuple[str, int]] = {(m, v) for m, v in serving.items()}
        self._profiles = profiles
        self.history: list[dict[str, int]] = [dict(serving)]  # what the ensemble routed to, in order

    def serving_versions(self) -> dict[str, int]:
        return dict(self._serving)

    def loaded_versions(self) -> dict[str, list[int]]:
        return {m: sorted(v) for m, v in self._loaded.items() if v}

    def stage(self, model: str, version: int, files_dir: Path) -> None:
        if not (Path(files_dir) / str(version)).is_dir():
            raise ModelServerError(f"{files_dir} has no files for {model} v{version}")
        self._staged.add((model, version))

    def load_beside(self, model: str, versions: list[int]) -> None:
        serving = self._serving.get(model)
        if serving is not None and serving not in versions:
            raise ModelServerError(f"loading {model} {versions} would unload serving v{serving}")
        missing = [v for v in versions if (model, v) not in self._staged]
        if missing:
            raise ModelServerError(f"{model} v{missing[0]} is not in the repository")
        self._loaded[model] = sorted(set(versions))

    def smoke_test(self, candidate: dict[str, int], criteria: SmokeCriteria) -> SmokeResult:
        for model, version in candidate.items():
            if version not in self._loaded.get(model, []):
                raise ModelServerError(f"{model} v{version} is not loaded")
        profiles = [self._profiles(m, v) for m, v in candidate.items()]
        accuracy = min((p.smoke_accuracy for p in profiles), default=1.0)
        latency = max((p.smoke_latency_ms for p in profiles), default=0.0)
        return SmokeResult(frames=criteria.frames, accuracy=accuracy, latency_ms_p50=latency / 2,
                           latency_ms_p99=latency)

    def switch(self, versions: dict[str, int]) -> None:
        for model, version in versions.items():
            if version not in self._loaded.get(model, []):
                raise ModelServerError(f"cannot route to {model} v{version}: it is not loaded")
        if versions != self._serving:
            self.history.append(dict(versions))
        self._serving = dict(versions)

    def retire(self, model: str, keep: int | None) -> None:
        serving = self._serving.get(model)
        if serving is not None and serving != keep:
            raise ModelServerError(f"retiring {model} down to {keep} would unload serving v{serving}")
        if keep is None:
            self._loaded.pop(model, None)
        else:
            self._loaded[model] = [keep]


class MemoryJournal(Journal):
    """The agent's journal kept in memory (the simulation has no crashes to recover from)."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent-edgecv-sim-journal"))
        self._current: JournalRecord | None = None
        self._done: dict[str, JournalRecord] = {}

    def current(self) -> JournalRecord | None:
        return self._current

    def done(self, job_id: str) -> JournalRecord | None:
        return self._done.get(job_id)

    def done_ids(self) -> list[str]:
        return sorted(self._done)

    def commit(self, record: JournalRecord) -> JournalRecord:
        if record.step is JobStep.REPORTED:
            self._done[record.job_id] = record
            self._current = None
        else:
            self._current = record
        return record


class MemoryInstalledStore(InstalledStore):
    """The installed-models record kept in memory."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent-edgecv-sim-installed"))
        self._installed = Installed()

    def read(self) -> Installed:
        return self._installed

    def record(self, entries: list[InstalledModel], drop: tuple[str, ...] = ()) -> Installed:
        models = {**{k: v for k, v in self._installed.models.items() if k not in drop}, **{e.name: e for e in entries}}
        self._installed = Installed(models=models)
        return self._installed


class SharedVerifier:
    """`verify_bundle`, run for real once per distinct input and its verdict shared by every device with that input.

    The verdict (a VerifiedBundle, or the BundleRefused raised) is a pure function of the bundle's bytes (keyed
    by their sha256, read from the device's own downloaded file), the trusted keys, the device class, the
    installed versions and the size cap. Each device still calls it at its own VERIFIED step and acts on it;
    a shared VerifiedBundle is handed back pointing at the device's own file, which extraction reads again.
    """

    def __init__(self) -> None:
        self._verdicts: dict[tuple, VerifiedBundle | BundleRefused] = {}
        self.runs = 0

    def __call__(self, path: Path, trusted_keys: Sequence[TrustedKey], device_class: object = None,
                 installed_version: object = None, max_bytes: int = DEFAULT_MAX_BYTES) -> VerifiedBundle:
        installed = tuple(sorted(installed_version.items())) if isinstance(installed_version, dict) \
            else installed_version
        key = (file_sha256(Path(path)), tuple(k.fingerprint for k in trusted_keys), str(device_class), installed,
               max_bytes)
        verdict = self._verdicts.get(key)
        if verdict is None:
            self.runs += 1
            try:
                verdict = verify_bundle(path, trusted_keys, device_class=device_class,  # type: ignore[arg-type]
                                        installed_version=installed_version, max_bytes=max_bytes)  # type: ignore[arg-type]
            except BundleRefused as exc:
                verdict = exc
            self._verdicts[key] = verdict
        if isinstance(verdict, BundleRefused):
            raise type(verdict)(verdict.message)
        return dataclasses.replace(verdict, path=Path(path))


class _Body(io.BytesIO):
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(body)
        self.status = status
        self.headers = email.message.Message()
        for key, value in headers.items():
            self.headers[key] = value


@dataclass
class FlakyWeb:
    """An `opener` for the real `Downloader`: serves bundle bytes from memory, failing the first N requests."""

    bundles: dict[str, bytes]  # URL without its query string -> bytes
    failures: int = 0
    requests: int = 0

    def __call__(self, request: urllib.request.Request, timeout: float = 0) -> _Body:
        self.requests += 1
        url = request.full_url.split("?", 1)[0]
        if self.requests <= self.failures:
            raise urllib.error.URLError(f"simulated network failure ({self.requests} of {self.failures})")
        body = self.bundles.get(url)
        if body is None:
            raise urllib.error.HTTPError(url, 404, "Not Found", email.message.Message(), None)
        return _Body(200, {"Content-Length": str(len(body))}, body)


@functools.cache
def _config_template(download_attempts: int) -> AgentConfig:
    """One validated agent configuration; each device copies it with its own folder and thing name."""
    return AgentConfig(root=Path("/simulated"), thing_name="simulated", trusted_keys=[Path("/simulated/trusted.pem")],
                       download_attempts=download_attempts, min_free_bytes=0)


@dataclass
class Backoff:
    """The downloader's injected sleep: simulated seconds, summed instead of slept."""

    seconds: float = 0.0

    def __call__(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class SimDevice:
    """A device of the simulated fleet: the real agent, a simulated model server, a flaky link."""

    thing: str
    ring: str
    agent: OtaAgent
    server: SimModelServer
    web: FlakyWeb
    backoff: Backoff
    reports: list[JobStatusReport]

    @classmethod
    def create(cls, thing: str, ring: str, root: Path, keys: Sequence[TrustedKey], serving: dict[str, int],
               bundles: dict[str, bytes], profiles: Callable[[str, int], VersionProfile],
               download_attempts: int = 5, verifier: SharedVerifier | None = None) -> SimDevice:
        config = _config_template(download_attempts).model_copy(update={"root": root, "thing_name": thing})
        server, web, backoff, reports = SimModelServer(serving, profiles), FlakyWeb(bundles), Backoff(), []
        downloader = Downloader(max_bytes=config.max_bundle_bytes, attempts=config.download_attempts,
                                backoff_s=config.download_backoff_s, sleep=backoff, opener=web)
        agent = OtaAgent(config, keys, server, downloader, reports.append, journal=MemoryJournal(),
                         disk_free=lambda path: FREE_DISK, verify_bundle=verifier or verify_bundle)
        agent.installed = MemoryInstalledStore()
        return cls(thing=thing, ring=ring, agent=agent, server=server, web=web, backoff=backoff, reports=reports)

    def handle(self, job_id: str, document: str, download_failures: int = 0) -> JobStatusReport | None:
        """Deliver one job to the agent; the first `download_failures` requests of its download fail."""
        self.web.failures, self.web.requests = download_failures, 0
        return self.agent.handle(job_id, document)

    @property
    def serving(self) -> dict[str, int]:
        return self.server.serving_versions()

    def ever_served(self, model: str, version: int) -> bool:
        return any(entry.get(model) == version for entry in self.server.history)

    def last_outcome(self) -> JobOutcome | None:
        return self.reports[-1].outcome if self.reports else None
