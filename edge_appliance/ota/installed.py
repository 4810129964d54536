"""What runs here, since when, from which bundle, signed by whom: the agent's answer, kept crash-safe.

`installed.json` is rewritten (atomically) right after each switch. `AgentStatus` joins it with the
live serving versions and the journal's job in progress; `AgentStatus.text()` is the CLI dump.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from contracts.jobs import JobOutcome
from edge_appliance.ota.atomic import write_atomic
from edge_appliance.ota.errors import JournalError
from edge_appliance.ota.states import JobStep

INSTALLED = "installed.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstalledModel(_Strict):
    name: str
    version: int
    since: AwareDatetime = Field(title="when traffic switched to it")
    job_id: str
    rollout_id: str
    bundle_url: str
    bundle_sha256: str
    bundle_created_at: AwareDatetime
    signer_key_id: str
    signer_fingerprint: str
    rollback: bool = False
    verified_dir: str = Field(title="the verified bundle's extracted folder (manifest.json + manifest.sig)")


class Installed(_Strict):
    models: dict[str, InstalledModel] = Field(default_factory=dict)


class CurrentJob(_Strict):
    job_id: str
    step: JobStep
    since: AwareDatetime
    rollout_id: str
    targets: dict[str, int]


class LastJob(_Strict):
    job_id: str
    outcome: JobOutcome | None
    reason: str | None = None
    message: str | None = None


class AgentStatus(_Strict):
    thing_name: str
    device_class: str
    serving: dict[str, int]
    loaded: dict[str, list[int]]
    installed: dict[str, InstalledModel]
    current_job: CurrentJob | None = None
    last_job: LastJob | None = None
    problems: list[str] = Field(default_factory=list, title="disagreements between the record and the server")

    def text(self) -> str:
        lines = [f"{self.thing_name} ({self.device_class})"]
        for name in sorted(set(self.serving) | set(self.installed)):
            entry = self.installed.get(name)
            version = self.serving.get(name)
            if entry is None:
                lines.append(f"  {name} v{version}: no OTA record (provisioned before the agent)")
                continue
            kind = " (rollback)" if entry.rollback else ""
            lines.append(f"  {name} v{entry.version}{kind} since {entry.since.isoformat()} from bundle "
                         f"sha256:{entry.bundle_sha256[:16]} (job {entry.job_id}, rollout {entry.rollout_id}) "
                         f"signed by {entry.signer_key_id} (key {entry.signer_fingerprint})")
        if self.current_job:
            job = self.current_job
            lines.append(f"  job in progress: {job.job_id} at {job.step.value} since {job.since.isoformat()}")
        if self.last_job:
            job = self.last_job
            why = f" ({job.reason}: {job.message})" if job.reason else ""
            lines.append(f"  last job: {job.job_id} {job.outcome.value if job.outcome else '?'}{why}")
        lines.extend(f"  PROBLEM: {p}" for p in self.problems)
        return "\n".join(lines)


class InstalledStore:
    def __init__(self, root: Path) -> None:
        self.path = Path(root) / INSTALLED

    def read(self) -> Installed:
        try:
            return Installed.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return Installed()
        except (OSError, ValidationError) as exc:
            raise JournalError(f"the installed-models record {self.path} is unreadable: {exc}") from exc

    def record(self, entries: list[InstalledModel], drop: tuple[str, ...] = ()) -> Installed:
        current = self.read().models
        models = {**{k: v for k, v in current.items() if k not in drop}, **{e.name: e for e in entries}}
        installed = Installed(models=models)
        write_atomic(self.path, installed.model_dump_json(indent=1).encode())
        return installed
