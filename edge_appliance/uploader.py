"""The uploader: drains the hard-negative buffer to the S3 landing bucket when the link is up.

- Idempotent keys (`HardNegativeSample.key_prefix()`): `frame.jpg` first, `sample.json` last (its presence
  means the sample is complete), then the local copy is removed. Before uploading, a sample whose
  `sample.json` already exists is skipped: a restart between the upload and the local delete never uploads a
  sample twice, and a restart between the two objects only rewrites the same frame key.
- Most informative samples first (the buffer's `pending` order), so a short link window carries the best.
- A failure stops the drain pass and the next pass waits with exponential backoff and jitter (sleep, clock and
  RNG injected). A link that is down, a wrong endpoint, an unknown bucket or refused credentials are counted,
  logged once per change of state, and retried; none of them raises.
- It runs on a thread of its own and talks to the buffer only through short, locked calls, so a slow or
  dead link never slows the ingest (which only ever hands frames to `SampleCapture.put_nowait`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import botocore.config
import botocore.exceptions
from pydantic import BaseModel, ConfigDict, Field

from edge_appliance.sample_buffer import Entry, SampleStore, StorageError, record_bytes

log = logging.getLogger(__name__)

FRAME_OBJECT = "frame.jpg"
RECORD_OBJECT = "sample.json"
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
                    "RequestTimeTooSkewed", "Throttling", "ThrottlingException"}


class UploaderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str = Field(min_length=3, max_length=63, title="Landing bucket")
    backoff_base_s: float = Field(default=1.0, gt=0.0, le=60.0, title="First retry delay (before jitter)")
    backoff_max_s: float = Field(default=300.0, gt=0.0, le=3600.0, title="Longest retry delay")
    idle_poll_s: float = Field(default=2.0, gt=0.0, le=600.0, title="Wait between passes when all is drained")
    max_samples_per_pass: int = Field(default=1000, ge=1, le=100_000, title="Samples per drain pass")


class LinkState(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"  # endpoint unreachable, timeouts, 5xx: the link or the service
    REFUSED = "refused"  # the bucket or the credentials are wrong: retried, but needs an operator


class UploadOutcome(StrEnum):
    UPLOADED = "uploaded"
    ALREADY_PRESENT = "already_present"  # its sample.json was in the bucket already: removed locally
    GONE = "gone"  # evicted from the buffer meanwhile
    UNREADABLE = "unreadable"  # the local copy cannot be read: removed and counted
    LINK_DOWN = "link_down"
    REFUSED = "refused"


class UploadCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uploaded_samples: int = 0
    uploaded_bytes: int = 0
    already_present: int = 0
    failed_samples: int = 0  # failed attempts (a sample tried three times counts three)
    failed_bytes: int = 0
    retried_samples: int = 0  # uploaded after at least one failed attempt
    retried_bytes: int = 0
    unreadable: int = 0
    link_down: int = 0  # attempts that found the link down
    refused: int = 0  # attempts the bucket refused
    unexpected_errors: int = 0  # drain passes that ended in an unexpected error (a bug): see the log
    passes: int = 0


class DrainReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcomes: dict[str, int] = Field(default_factory=dict)
    stopped_by: UploadOutcome | None = None  # the failure that ended the pass early


def backoff_delay(failures: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half of the capped exponential step fixed, half random."""
    step = min(max_s, base_s * 2.0 ** max(0, failures - 1))
    return step / 2 + rng.uniform(0.0, step / 2)


def make_s3_client(endpoint_url: str | None = None, region: str = "us-east-1", connect_timeout_s: float = 3.0,
                   read_timeout_s: float = 15.0, **kwargs: Any) -> Any:
    """An S3 client for the uploader: short timeouts and no retries of its own (the uploader backs off)."""
    import boto3

    config = botocore.config.Config(connect_timeout=connect_timeout_s, read_timeout=read_timeout_s,
                                    retries={"total_max_attempts": 1})
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config, **kwargs)


def _error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _classify(exc: Exception) -> UploadOutcome:
    if isinstance(exc, botocore.exceptions.ClientError):
        return UploadOutcome.LINK_DOWN if _error_code(exc) in _TRANSIENT_CODES else UploadOutcome.REFUSED
    if isinstance(exc, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        return UploadOutcome.LINK_DOWN
    return UploadOutcome.REFUSED  # credentials missing, bad parameters: a configuration problem


class Uploader:
    """Drains a `SampleStore` into the landing bucket. `drain_once` is synchronous; `start` runs it in a thread."""

    def __init__(self, store: SampleStore, client: Any, config: UploaderConfig, *,
                 sleep: Callable[[float], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.client = client
        self.config = config
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sleep = sleep if sleep is not None else self._wait
        self._lock = threading.Lock()
        self._counters = UploadCounters()
        self._failed_before: set[str] = set()
        self._thread: threading.Thread | None = None
        self.link_state = LinkState.UNKNOWN
        self.consecutive_failures = 0
        self.next_attempt_at: float | None = None

    def counters(self) -> UploadCounters:
        with self._lock:
            return self._counters.model_copy()

    # ------------------------------------------------------------------ one sample
    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.config.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                return False
            raise
        return True

    def upload_one(self, entry: Entry) -> UploadOutcome:
        """Upload one buffered sample (or find it already there) and remove it locally. Never raises."""
        try:
            stored = self.store.load(entry.sample_id)
        except StorageError as exc:
            log.error("uploader: %s; removing it", exc)
            self.store.remove(entry.sample_id)
            with self._lock:
                self._counters.unreadable += 1
            return UploadOutcome.UNREADABLE
        if stored is None:
            return UploadOutcome.GONE
        prefix = stored.sample.key_prefix()
        record = record_bytes(stored.sample)
        size = len(stored.frame_jpeg) + len(record)
        try:
            if self._exists(f"{prefix}/{RECORD_OBJECT}"):
                outcome = UploadOutcome.ALREADY_PRESENT
            else:
                self.client.put_object(Bucket=self.config.bucket, Key=f"{prefix}/{FRAME_OBJECT}",
                                       Body=stored.frame_jpeg, ContentType="image/jpeg")
                self.client.put_object(Bucket=self.config.bucket, Key=f"{prefix}/{RECORD_OBJECT}",
                                       Body=record, ContentType="application/json")
                outcome = UploadOutcome.UPLOADED
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            outcome = _classify(exc)
            self._note_failure(entry.sample_id, size, outcome, exc)
            return outcome
        self.store.remove(entry.sample_id)
        self._note_success(entry.sample_id, size, outcome)
        return outcome

    def _note_failure(self, sample_id: str, size: int, outcome: UploadOutcome, exc: Exception) -> None:
        state = LinkState.DOWN if outcome is UploadOutcome.LINK_DOWN else LinkState.REFUSED
        with self._lock:
            c = self._counters
            c.failed_samples += 1
            c.failed_bytes += size
            if outcome is UploadOutcome.LINK_DOWN:
                c.link_down += 1
            else:
                c.refused += 1
            if len(self._failed_before) < 100_000:
                self._failed_before.add(sample_id)
        if state is not self.link_state:
            reason = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            if state is LinkState.DOWN:
                log.warning("uploader: link down to bucket %s (%s); samples stay buffered, retrying with backoff",
                            self.config.bucket, reason)
            else:
                log.error("uploader: bucket %s refused the upload (%s); check the bucket name and credentials",
                          self.config.bucket, reason)
        self.link_state = state

    def _note_success(self, sample_id: str, size: int, outcome: UploadOutcome) -> None:
        with self._lock:
            c = self._counters
            if outcome is UploadOutcome.UPLOADED:
                c.uploaded_samples += 1
                c.uploaded_bytes += size
            else:
                c.already_present += 1
            if sample_id in self._failed_before:
                self._failed_before.discard(sample_id)
                c.retried_samples += 1
                c.retried_bytes += size
        if self.link_state is not LinkState.UP:
            if self.link_state is not LinkState.UNKNOWN:
                log.info("uploader: link to bucket %s is up again", self.config.bucket)
            self.link_state = LinkState.UP

    # ------------------------------------------------------------------ passes
    def drain_once(self) -> DrainReport:
        """One pass over the buffer, most informative first; stops at the first link or bucket failure."""
        report = DrainReport()
        with self._lock:
            self._counters.passes += 1
        for entry in self.store.pending()[: self.config.max_samples_per_pass]:
            if self._stop.is_set():
                break
            outcome = self.upload_one(entry)
            report.outcomes[outcome.value] = report.outcomes.get(outcome.value, 0) + 1
            if outcome in (UploadOutcome.LINK_DOWN, UploadOutcome.REFUSED):
                report.stopped_by = outcome
                break
        return report

    def step(self) -> float:
        """One pass, then how long to wait before the next (backoff after a failure, idle poll otherwise)."""
        report = self.drain_once()
        if report.stopped_by is not None:
            self.consecutive_failures += 1
            delay = backoff_delay(self.consecutive_failures, self.config.backoff_base_s, self.config.backoff_max_s,
                                  self._rng)
        else:
            self.consecutive_failures = 0
            delay = 0.0 if len(self.store) and not self._stop.is_set() else self.config.idle_poll_s
        self.next_attempt_at = self._clock() + delay
        return delay

    # ------------------------------------------------------------------ thread
    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.step()
            except Exception as exc:  # a bug must not end the drain for good: logged, counted, backed off
                log.exception("uploader: unexpected error in a drain pass: %s", exc)
                with self._lock:
                    self._counters.unexpected_errors += 1
                self.consecutive_failures += 1
                delay = backoff_delay(self.consecutive_failures, self.config.backoff_base_s,
                                      self.config.backoff_max_s, self._rng)
            if delay > 0 and not self._stop.is_set():
                self._sleep(delay)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sample-uploader", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Cut the current wait short (e.g. the network came back, or a new sample arrived)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
