"""The OTA agent: a journaled step machine over injected I/O (downloader, model server, reporter, clock).

    agent = OtaAgent(config, keys, model_server, downloader, reporter)
    agent.recover()                      # at start: finish or abandon what the journal holds
    agent.handle(job_id, document_json)  # a job from the channel; returns the report it sent

Each step does its work, then commits the next step to the journal (`journal.py`); a restart continues
from the journal (`recovery.py`). Any failure before the switch ends in REJECTED / FAILED / ABANDONED:
the old version is restored (it never stopped serving) and the outcome reported. See docs/ota.md.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from contracts.bundles import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    BundleExtractError,
    BundleRefused,
    TrustedKey,
    VerifiedBundle,
    extract_verified,
    parse_manifest,
)
from contracts.bundles import verify_bundle as _verify_bundle
from contracts.jobs import (
    AgentReason,
    JobDocument,
    JobOutcome,
    JobStatusReport,
    judge_smoke,
    one_line,
    parse_job_document,
    resolve_smoke,
)
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.errors import (
    ChannelError,
    DownloadError,
    DownloadMismatchError,
    DownloadTooLargeError,
    ModelServerError,
    ReportRefusedError,
)
from edge_appliance.ota.installed import AgentStatus, CurrentJob, InstalledModel, InstalledStore, LastJob
from edge_appliance.ota.journal import Journal, JournalRecord, VerifiedInfo
from edge_appliance.ota.model_server import ModelServer
from edge_appliance.ota.recovery import RecoveryAction, plan_recovery, restore_plan
from edge_appliance.ota.states import ENDING, JobStep

Reporter = Callable[[JobStatusReport], None]
log = logging.getLogger(__name__)


class _End(Exception):  # noqa: N818 - internal signal: the job ends here with this outcome
    def __init__(self, step: JobStep, outcome: JobOutcome, reason: str, message: str, **updates: object) -> None:
        super().__init__(message)
        self.step, self.outcome, self.reason, self.message = step, outcome, reason, message
        self.updates = updates


def _one_line(text: str) -> str:
    return one_line(text, limit=900)


class OtaAgent:
    def __init__(self, config: AgentConfig, trusted_keys: Sequence[TrustedKey], model_server: ModelServer,
                 downloader: Downloader, reporter: Reporter, *, journal: Journal | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 verify_bundle: Callable[..., VerifiedBundle] = _verify_bundle,
                 disk_free: Callable[[Path], int] = lambda path: shutil.disk_usage(path).free) -> None:
        self.config = config
        self.keys = list(trusted_keys)
        self.server = model_server
        self.downloader = downloader
        self.reporter = reporter
        self.journal = journal or Journal(config.journal_dir)
        self.installed = InstalledStore(config.root)
        self._clock = clock
        self._monotonic = monotonic
        self._verify = verify_bundle
        self._disk_free = disk_free
        self._verified: dict[str, VerifiedBundle] = {}

    # -- entry points ----------------------------------------------------------------------------
    def recover(self) -> JobStatusReport | None:
        """Finish or abandon the job the journal holds (call once at start); the report sent, if any."""
        record = self.journal.current()
        if record is None:
            return None
        plan = plan_recovery(record, self.server.serving_versions(), self.config.max_starts)
        if plan.action is RecoveryAction.NOTHING:
            return None
        record = record.model_copy(update={"starts": record.starts + 1,
                                           "figures": record.figures.model_copy(
                                               update={"restarts": record.starts})})
        if plan.action is RecoveryAction.ABANDON:
            record = record.at(JobStep.ABANDONED, self._now(), outcome=JobOutcome.FAILED,
                               reason=AgentReason.ABANDONED.value,
                               message=f"abandoned at {record.step.value} after {record.starts - 1} restarts; "
                                       f"the old version keeps serving")
        elif plan.step is not record.step:
            record = record.at(plan.step, self._now())
        return self._run(self.journal.commit(record))

    def handle(self, job_id: str, document: bytes | str | dict) -> JobStatusReport | None:
        """Work a job from the channel to its end; the report sent (None if reporting failed: retried later)."""
        current = self.journal.current()
        if current is not None:
            report = self.recover()
            if current.job_id == job_id or self.journal.current() is not None:
                return report  # this job, or another one whose report is still pending: one job at a time
        done = self.journal.done(job_id)
        if done is not None:  # delivered again: say again how it ended
            try:
                return self._report(done)
            except ChannelError:
                return None
        try:
            doc = parse_job_document(document)
        except (ValidationError, ValueError) as exc:
            report = JobStatusReport(job_id=job_id, thing_name=self.config.thing_name, outcome=JobOutcome.REJECTED,
                                     reason=AgentReason.JOB_INVALID.value,
                                     message=_one_line(f"the job document is invalid: {exc}"),
                                     serving=self.server.serving_versions(), reported_at=self._now())
            try:
                self._send(report)
            except ChannelError:
                return None
            return report
        record = JournalRecord(job_id=job_id, document=doc, step=JobStep.RECEIVED,
                               previous=self.server.serving_versions(), received_at=self._now())
        record = record.at(JobStep.RECEIVED, self._now())
        return self._run(self.journal.commit(record))

    def status(self) -> AgentStatus:
        installed = self.installed.read().models
        serving = self.server.serving_versions()
        problems = self.audit(serving, installed)
        current = self.journal.current()
        job = None
        if current is not None:
            job = CurrentJob(job_id=current.job_id, step=current.step, since=current.history[-1].at,
                             rollout_id=current.document.rollout_id, targets=current.document.targets)
        last = None
        done_ids = self.journal.done_ids()
        if done_ids:
            records = [r for r in (self.journal.done(i) for i in done_ids) if r is not None]
            latest = max(records, key=lambda r: r.history[-1].at)
            last = LastJob(job_id=latest.job_id, outcome=latest.outcome, reason=latest.reason,
                           message=latest.message)
        return AgentStatus(thing_name=self.config.thing_name, device_class=self.config.device_class.value,
                           serving=serving, loaded=self.server.loaded_versions(), installed=installed,
                           current_job=job, last_job=last, problems=problems)

    def audit(self, serving: dict[str, int] | None = None,
              installed: dict[str, InstalledModel] | None = None) -> list[str]:
        """Problems with what serves: a version the OTA record does not name, or whose kept manifest no longer
        verifies against a trusted key (empty when every served OTA version is the verified one)."""
        serving = self.server.serving_versions() if serving is None else serving
        installed = self.installed.read().models if installed is None else installed
        problems = []
        for name, version in sorted(serving.items()):
            entry = installed.get(name)
            if entry is None:
                continue  # provisioned before the agent: nothing to check it against
            if entry.version != version:
                problems.append(f"{name} serves v{version} but the OTA record says v{entry.version}")
                continue
            folder = Path(entry.verified_dir)
            try:
                manifest = parse_manifest((folder / MANIFEST_NAME).read_bytes())
                signed = any(k.verifies((folder / MANIFEST_NAME).read_bytes(), (folder / SIGNATURE_NAME).read_bytes())
                             for k in self.keys)
            except (OSError, BundleRefused) as exc:
                problems.append(f"{name} v{version}: its verified manifest is unreadable ({exc})")
                continue
            if not signed or all((m.name, m.version) != (name, version) for m in manifest.models):
                problems.append(f"{name} v{version}: the kept manifest does not verify for this version")
        return problems

    # -- the step machine ------------------------------------------------------------------------
    def _run(self, record: JournalRecord) -> JobStatusReport | None:
        report: JobStatusReport | None = None
        while record.step is not JobStep.REPORTED:
            try:
                if record.step in ENDING:
                    record, report = self._end(record)
                elif record.step is JobStep.RETIRED:
                    record, report = self._finish(record)
                else:
                    record = self.journal.commit(self._advance(record))
            except _End as end:
                record = self.journal.commit(record.at(end.step, self._now(), outcome=end.outcome,
                                                       reason=end.reason, message=_one_line(end.message),
                                                       **end.updates))
            except ChannelError:
                return None  # the outcome is journaled; the report is sent again at the next start
        return report

    def _advance(self, record: JournalRecord) -> JournalRecord:
        step = record.step
        if step is JobStep.RECEIVED:
            if record.document.device_class != self.config.device_class:
                raise _End(JobStep.REJECTED, JobOutcome.REJECTED, AgentReason.WRONG_DEVICE_CLASS.value,
                           f"the job is for {record.document.device_class.value} devices, "
                           f"this one is {self.config.device_class.value}")
            return record.at(JobStep.DOWNLOADING, self._now())
        if step is JobStep.DOWNLOADING:
            return self._download(record)
        if step is JobStep.DOWNLOADED:
            return self._verify_step(record)
        if step is JobStep.VERIFIED:
            return self._stage(record)
        if step is JobStep.STAGED:
            return self._load(record)
        if step is JobStep.LOADED:
            return self._smoke(record)
        if step is JobStep.SMOKE_TESTED:
            return self._switch(record)
        if step is JobStep.SWITCHED:
            return self._retire(record)
        raise AssertionError(f"no forward step from {step}")

    def _bundle_path(self, record: JournalRecord) -> Path:
        return self.config.downloads_dir / f"{record.job_id}.tar.gz"

    def _staged_dir(self, record: JournalRecord) -> Path:
        return self.config.verified_dir / record.job_id

    def _download(self, record: JournalRecord) -> JournalRecord:
        doc = record.document
        # room for the archive, its extraction and the repository copy: 3x the archive plus a reserve (how far an
        # archive may expand is capped by the bundle layer when it verifies)
        self.config.downloads_dir.mkdir(parents=True, exist_ok=True)
        have = Downloader.partial_path(self._bundle_path(record))
        need = 3 * doc.bundle_size - (have.stat().st_size if have.exists() else 0) + self.config.min_free_bytes
        free = self._disk_free(self.config.downloads_dir)
        if free < need:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.NO_SPACE.value,
                       f"{free >> 20} MiB free, the job needs {need >> 20} MiB (3x the bundle plus the reserve)")
        try:
            result = self.downloader.fetch(doc.bundle_url, self._bundle_path(record), doc.bundle_sha256,
                                           doc.bundle_size)
        except DownloadTooLargeError as exc:
            raise _End(JobStep.REJECTED, JobOutcome.REJECTED, AgentReason.DOWNLOAD_TOO_LARGE.value, str(exc)) from exc
        except DownloadMismatchError as exc:
            raise _End(JobStep.REJECTED, JobOutcome.REJECTED, AgentReason.DOWNLOAD_MISMATCH.value, str(exc)) from exc
        except DownloadError as exc:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.DOWNLOAD_FAILED.value, str(exc)) from exc
        figures = record.figures.model_copy(update={
            "download_bytes": record.figures.download_bytes + result.fetched_bytes,
            "download_seconds": record.figures.download_seconds + result.seconds,
            "download_resumes": record.figures.download_resumes + result.resumes})
        return record.at(JobStep.DOWNLOADED, self._now(), figures=figures)

    def _verified_bundle(self, record: JournalRecord) -> VerifiedBundle:
        cached = self._verified.get(record.job_id)
        if cached is not None:
            return cached
        try:
            bundle = self._verify(self._bundle_path(record), self.keys, device_class=self.config.device_class,
                                  installed_version=record.previous, max_bytes=self.config.max_bundle_bytes)
        except BundleRefused as exc:
            raise _End(JobStep.REJECTED, JobOutcome.REJECTED, exc.reason.value, str(exc)) from exc
        manifest, doc = bundle.manifest, record.document
        models = {m.name: m.version for m in manifest.models}
        if models != doc.targets:
            raise _End(JobStep.REJECTED, JobOutcome.REJECTED, AgentReason.TARGET_MISMATCH.value,
                       f"the bundle holds {manifest.describe()}, the job asks for "
                       + ", ".join(f"{m} v{v}" for m, v in sorted(doc.targets.items())))
        if manifest.rollback != doc.rollback:
            raise _End(JobStep.REJECTED, JobOutcome.REJECTED, AgentReason.ROLLBACK_MISMATCH.value,
                       f"the job says rollback={doc.rollback}, the signed manifest says rollback={manifest.rollback}")
        self._verified[record.job_id] = bundle
        return bundle

    def _verify_step(self, record: JournalRecord) -> JournalRecord:
        started = self._monotonic()
        bundle = self._verified_bundle(record)
        m = bundle.manifest
        info = VerifiedInfo(bundle_sha256=record.document.bundle_sha256,
                            models={x.name: x.version for x in m.models}, signer_key_id=m.signer_key_id,
                            signer_fingerprint=m.signer_fingerprint, created_at=m.created_at, rollback=m.rollback,
                            eval_metrics=dict(m.lineage.eval_metrics))
        figures = record.figures.model_copy(update={"verify_seconds": self._monotonic() - started})
        return record.at(JobStep.VERIFIED, self._now(), verified=info, figures=figures)

    def _stage(self, record: JournalRecord) -> JournalRecord:
        bundle = self._verified_bundle(record)  # verified again after a restart: the file may have changed
        staged = self._staged_dir(record)
        if staged.exists():  # left by a run that died before STAGED was journaled
            shutil.rmtree(staged)
        try:
            extract_verified(bundle, staged)
        except BundleRefused as exc:
            raise _End(JobStep.REJECTED, JobOutcome.REJECTED, exc.reason.value, str(exc)) from exc
        except BundleExtractError as exc:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.STAGE_FAILED.value, str(exc)) from exc
        try:
            for model, version in record.document.targets.items():
                self.server.stage(model, version, staged / model)
        except ModelServerError as exc:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.STAGE_FAILED.value, str(exc)) from exc
        return record.at(JobStep.STAGED, self._now())

    def _load(self, record: JournalRecord) -> JournalRecord:
        started = self._monotonic()
        serving = self.server.serving_versions()
        try:
            for model, version in record.document.targets.items():
                versions = sorted({version, serving[model]}) if model in serving else [version]
                self.server.load_beside(model, versions)
        except ModelServerError as exc:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.LOAD_FAILED.value, str(exc)) from exc
        figures = record.figures.model_copy(update={"load_seconds": self._monotonic() - started})
        return record.at(JobStep.LOADED, self._now(), figures=figures)

    def _smoke(self, record: JournalRecord) -> JournalRecord:
        assert record.verified is not None
        criteria = resolve_smoke(record.document.smoke, record.verified.eval_metrics)
        candidate = {**self.server.serving_versions(), **record.document.targets}
        try:
            result = self.server.smoke_test(candidate, criteria)
        except ModelServerError as exc:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.SMOKE_FAILED.value, str(exc)) from exc
        figures = record.figures.model_copy(update={"smoke": result})
        verdict = judge_smoke(result, criteria)
        if verdict is not None:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.SMOKE_FAILED.value, verdict,
                       smoke=result, figures=figures)
        return record.at(JobStep.SMOKE_TESTED, self._now(), smoke=result, figures=figures)

    def _switch(self, record: JournalRecord) -> JournalRecord:
        started = self._monotonic()
        versions = {**self.server.serving_versions(), **record.document.targets}
        try:
            self.server.switch(versions)
        except ModelServerError as exc:
            raise _End(JobStep.FAILED, JobOutcome.FAILED, AgentReason.SWITCH_FAILED.value, str(exc)) from exc
        figures = record.figures.model_copy(update={"switch_seconds": self._monotonic() - started})
        return record.at(JobStep.SWITCHED, self._now(), figures=figures)

    def _retire(self, record: JournalRecord) -> JournalRecord:
        """After the switch: record what runs now, unload the old versions. Never fails the job."""
        info = record.verified
        assert info is not None
        switched_at = next((e.at for e in reversed(record.history) if e.step is JobStep.SWITCHED), self._now())
        doc = record.document
        self.installed.record([
            InstalledModel(name=model, version=version, since=switched_at, job_id=record.job_id,
                           rollout_id=doc.rollout_id, bundle_url=doc.bundle_url.split("?", 1)[0],
                           bundle_sha256=info.bundle_sha256, bundle_created_at=info.created_at,
                           signer_key_id=info.signer_key_id, signer_fingerprint=info.signer_fingerprint,
                           rollback=info.rollback, verified_dir=str(self._staged_dir(record)))
            for model, version in doc.targets.items()])
        message = record.message
        for model, version in doc.targets.items():
            try:
                self.server.retire(model, keep=version)
            except ModelServerError as exc:
                message = _one_line(f"serving the new version; the old one is still loaded: {exc}")
        return record.at(JobStep.RETIRED, self._now(), outcome=JobOutcome.SUCCEEDED, message=message)

    def _finish(self, record: JournalRecord) -> tuple[JournalRecord, JobStatusReport]:
        report = self._report(record)
        self._bundle_path(record).unlink(missing_ok=True)
        self._prune_verified()
        return self.journal.commit(record.at(JobStep.REPORTED, self._now())), report

    def _end(self, record: JournalRecord) -> tuple[JournalRecord, JobStatusReport]:
        """Put back what served before the job (it never stopped serving), tidy up, report."""
        serving = self.server.serving_versions()
        switch_to, keep = restore_plan(record.previous, record.document.targets, serving)
        problems: list[str] = []
        try:
            if switch_to is not None:
                self.server.switch(switch_to)
            for model, version in keep.items():
                self.server.retire(model, keep=version)
        except ModelServerError as exc:
            problems.append(f"restoring the old version: {exc}")
        shutil.rmtree(self._staged_dir(record), ignore_errors=True)
        if problems:
            record = record.model_copy(update={"message": _one_line(f"{record.message}; {'; '.join(problems)}")})
        report = self._report(record)
        self._bundle_path(record).unlink(missing_ok=True)
        Downloader.partial_path(self._bundle_path(record)).unlink(missing_ok=True)
        self._prune_verified()
        return self.journal.commit(record.at(JobStep.REPORTED, self._now())), report

    def _prune_verified(self) -> None:
        """Drop extracted bundles that no served model comes from (the model files stay in the repository)."""
        keep = {Path(m.verified_dir).name for m in self.installed.read().models.values()}
        folder = self.config.verified_dir
        for path in folder.iterdir() if folder.is_dir() else []:
            if path.is_dir() and path.name not in keep:  # also `.staging-*` folders a kill left behind
                shutil.rmtree(path, ignore_errors=True)

    def _report(self, record: JournalRecord) -> JobStatusReport:
        assert record.outcome is not None
        doc: JobDocument = record.document
        total = max(0.0, self._clock() - record.received_at.timestamp())
        report = JobStatusReport(job_id=record.job_id, thing_name=self.config.thing_name,
                                 rollout_id=doc.rollout_id, ring=doc.ring, outcome=record.outcome,
                                 reason=record.reason, message=record.message,
                                 serving=self.server.serving_versions(),
                                 figures=record.figures.model_copy(update={"total_seconds": round(total, 3)}),
                                 reported_at=self._now())
        self._send(report)
        return report

    def _send(self, report: JobStatusReport) -> None:
        """Report; a refusal by the cloud (job canceled or already ended) ends the matter, nothing to resend."""
        try:
            self.reporter(report)
        except ReportRefusedError as exc:
            log.warning("job %s: the cloud refused the %s report: %s", report.job_id, report.outcome.value, exc)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)
