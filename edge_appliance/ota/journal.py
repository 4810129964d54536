"""The journal: one crash-safe file per job holding the last completed step and what the next steps need.

`current.json` is the job in progress (at most one); when a job is reported its record moves to
`done/<job_id>.json`. Every commit is an atomic rename with fsync (`atomic.write_atomic`), so after a
kill -9 or a power loss the file holds either the previous step or the new one, never a torn write.
Hooks run around each commit; tests use them to kill the agent at an exact step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from contracts.jobs import JobDocument, JobFigures, JobOutcome, SmokeResult
from edge_appliance.ota.atomic import fsync_dir, write_atomic
from edge_appliance.ota.errors import JournalError
from edge_appliance.ota.states import JobStep

CURRENT = "current.json"
DONE = "done"
CommitHook = Callable[[JobStep], None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VerifiedInfo(_Strict):
    """Who signed the bundle and what it holds, recorded when it verified."""

    bundle_sha256: str
    models: dict[str, int]
    signer_key_id: str
    signer_fingerprint: str
    created_at: AwareDatetime
    rollback: bool
    eval_metrics: dict = Field(default_factory=dict)


class StepEntry(_Strict):
    step: JobStep
    at: AwareDatetime


class JournalRecord(_Strict):
    job_id: str
    document: JobDocument
    step: JobStep
    previous: dict[str, int] = Field(default_factory=dict, title="serving versions when the job arrived")
    starts: int = Field(default=1, ge=1, title="how many times an agent process has worked on this job")
    verified: VerifiedInfo | None = None
    smoke: SmokeResult | None = None
    outcome: JobOutcome | None = None
    reason: str | None = None
    message: str | None = None
    figures: JobFigures = Field(default_factory=JobFigures)
    history: list[StepEntry] = Field(default_factory=list)
    received_at: AwareDatetime

    def at(self, step: JobStep, when: datetime, **changes: object) -> JournalRecord:
        """This record moved on to `step` (a new value; records are immutable)."""
        return self.model_copy(update={"step": step, "history": [*self.history, StepEntry(step=step, at=when)],
                                       **changes})


class Journal:
    def __init__(self, root: Path, before_commit: CommitHook | None = None,
                 after_commit: CommitHook | None = None) -> None:
        self.root = Path(root)
        self._before = before_commit
        self._after = after_commit

    @property
    def current_path(self) -> Path:
        return self.root / CURRENT

    def current(self) -> JournalRecord | None:
        return self._read(self.current_path)

    def done(self, job_id: str) -> JournalRecord | None:
        return self._read(self.root / DONE / f"{job_id}.json")

    def done_ids(self) -> list[str]:
        folder = self.root / DONE
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def commit(self, record: JournalRecord) -> JournalRecord:
        if self._before:
            self._before(record.step)
        if record.step is JobStep.REPORTED:
            write_atomic(self.root / DONE / f"{record.job_id}.json", record.model_dump_json(indent=1).encode())
            self.current_path.unlink(missing_ok=True)
            fsync_dir(self.root)
        else:
            write_atomic(self.current_path, record.model_dump_json(indent=1).encode())
        if self._after:
            self._after(record.step)
        return record

    @staticmethod
    def _read(path: Path) -> JournalRecord | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JournalError(f"cannot read the OTA journal {path}: {exc.strerror or exc}") from exc
        try:
            return JournalRecord.model_validate_json(data)
        except ValidationError as exc:
            raise JournalError(f"the OTA journal {path} is malformed: {exc.errors()[0]['msg']}") from exc
