"""The hard-negative buffer: samples waiting on a site's disk for the uplink, bounded by bytes, crash-safe.

`SampleStore` is the small abstract base: its public template methods (`open`, `put`, `pending`, `load`,
`remove`) hold the policy (admission and eviction, accounting, persistent counters, error mapping) and call
private hooks for the storage itself. `DiskSampleStore` implements the hooks on a local filesystem;
`MemorySampleStore` keeps everything in memory (tests, and a site with no writable disk).

Policy:
- the buffer's bytes (frame + record of every sample) never exceed `cap_bytes`;
- to admit a sample it evicts the least informative samples first (lowest priority, then oldest), but only
  ones ranked below the newcomer; if that cannot free enough room the newcomer is the one dropped;
- every eviction is counted by reason in counters that survive restarts;
- a storage failure (a full disk above all) is caught, counted and logged as one line, and `put` returns an
  outcome instead of raising: the inference path is never interrupted by the buffer.

On disk a sample is `samples/<id>.jpg` + `samples/<id>.json`; each is written to a `.part` name, fsynced and
renamed, the record last, then the directory is fsynced. A sample exists when its record exists, so a kill -9
at any point leaves either a whole sample or leftovers that `open` removes and counts.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.durable import fsync_dir as _fsync_dir
from contracts.samples import HardNegativeSample

log = logging.getLogger(__name__)

DEFAULT_CAP_BYTES = 512 * 1024 * 1024


class PutOutcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # a sample with this id is already buffered
    DROPPED_LOWER_PRIORITY = "dropped_lower_priority"  # the buffer is full of more informative samples
    TOO_LARGE = "too_large"  # bigger than the whole cap
    DISK_FULL = "disk_full"
    WRITE_FAILED = "write_failed"


class EvictionReason(StrEnum):
    CAPACITY = "capacity"  # made room for a more informative sample (or for a lowered cap at start)
    INCOMING_LOWER_PRIORITY = "incoming_lower_priority"  # the newcomer itself was dropped
    TOO_LARGE = "too_large"
    PARTIAL_ON_START = "partial_on_start"  # a half-written sample found at start (crash mid-write)
    CORRUPT_ON_START = "corrupt_on_start"  # a record that does not parse, or a frame missing


class DiskState(StrEnum):
    OK = "ok"
    FULL = "full"
    FAILING = "failing"


class StorageError(Exception):
    """A storage hook failed for a reason other than a full disk."""


class BufferCounters(BaseModel):
    """Persistent: they survive restarts (a crash loses at most the last update)."""

    model_config = ConfigDict(extra="forbid")

    stored_samples: int = 0
    stored_bytes: int = 0
    removed_samples: int = 0  # taken out after delivery
    removed_bytes: int = 0
    evicted_samples: dict[str, int] = Field(default_factory=dict)  # by EvictionReason
    evicted_bytes: dict[str, int] = Field(default_factory=dict)
    duplicates: int = 0
    disk_full: int = 0
    write_errors: int = 0
    starts: int = 0

    def evicted(self, reason: EvictionReason, size: int, n: int = 1) -> None:
        self.evicted_samples[reason.value] = self.evicted_samples.get(reason.value, 0) + n
        self.evicted_bytes[reason.value] = self.evicted_bytes.get(reason.value, 0) + size


@dataclass(frozen=True)
class Entry:
    """What eviction needs to know about a buffered sample."""

    sample_id: str
    priority: float
    captured_at: float
    size: int

    @property
    def rank(self) -> tuple[float, float, str]:
        """Lower rank = evicted first: least informative, then oldest."""
        return (self.priority, self.captured_at, self.sample_id)


class AdmissionVerdict(StrEnum):
    ADMIT = "admit"
    TOO_LARGE = "too_large"
    LOWER_PRIORITY = "lower_priority"


@dataclass(frozen=True)
class Admission:
    verdict: AdmissionVerdict
    victims: tuple[str, ...] = ()


def plan_admission(entries: Iterable[Entry], incoming: Entry, cap_bytes: int) -> Admission:
    """Pure eviction policy: which buffered samples to evict so that `incoming` fits under `cap_bytes`.

    Only samples ranked below the newcomer may go; when they cannot free enough room nothing is evicted and
    the newcomer is refused.
    """
    if incoming.size > cap_bytes:
        return Admission(AdmissionVerdict.TOO_LARGE)
    held = list(entries)
    excess = sum(e.size for e in held) + incoming.size - cap_bytes
    if excess <= 0:
        return Admission(AdmissionVerdict.ADMIT)
    victims: list[str] = []
    for entry in sorted(held, key=lambda e: e.rank):
        if excess <= 0:
            break
        if entry.rank >= incoming.rank:
            return Admission(AdmissionVerdict.LOWER_PRIORITY)
        victims.append(entry.sample_id)
        excess -= entry.size
    if excess > 0:
        return Admission(AdmissionVerdict.LOWER_PRIORITY)
    return Admission(AdmissionVerdict.ADMIT, tuple(victims))


def plan_shrink(entries: Iterable[Entry], cap_bytes: int) -> tuple[str, ...]:
    """Victims that bring a buffer back under a (lowered) cap: least informative, oldest first."""
    held = sorted(entries, key=lambda e: e.rank)
    excess = sum(e.size for e in held) - cap_bytes
    victims: list[str] = []
    for entry in held:
        if excess <= 0:
            break
        victims.append(entry.sample_id)
        excess -= entry.size
    return tuple(victims)


@dataclass(frozen=True)
class StoredSample:
    sample: HardNegativeSample
    frame_jpeg: bytes

    @property
    def size(self) -> int:
        return len(self.frame_jpeg) + len(record_bytes(self.sample))


@dataclass(frozen=True)
class Recovered:
    """What a storage hook found at start."""

    records: dict[str, bytes]  # sample id -> record bytes, for every complete sample
    sizes: dict[str, int]  # sample id -> bytes on the store (frame + record)
    partial: int  # half-written samples removed


class RecoveryReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: int
    bytes: int
    partial_removed: int
    corrupt_removed: int
    evicted_for_cap: int


def record_bytes(sample: HardNegativeSample) -> bytes:
    return sample.model_dump_json().encode()


class SampleStore(ABC):
    """Bounded, prioritised store of hard-negative samples. Thread-safe; `open` before use."""

    def __init__(self, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        if cap_bytes <= 0:
            raise ValueError(f"cap_bytes must be positive, got {cap_bytes}")
        self.cap_bytes = cap_bytes
        self._lock = threading.RLock()
        self._index: dict[str, Entry] = {}
        self._counters = BufferCounters()
        self.disk_state = DiskState.OK

    # ------------------------------------------------------------------ public template methods
    def open(self) -> RecoveryReport:
        """Remove leftovers of a crash, index the complete samples, enforce the cap, load the counters."""
        with self._lock:
            self._counters = self._load_counters() or BufferCounters()
            self._counters.starts += 1
            try:
                found = self._recover()
            except OSError as exc:
                raise StorageError(f"sample buffer cannot be opened: {exc}") from exc
            if found.partial:
                self._counters.evicted(EvictionReason.PARTIAL_ON_START, 0, found.partial)
            corrupt = 0
            self._index.clear()
            for sample_id, raw in found.records.items():
                try:
                    sample = HardNegativeSample.model_validate_json(raw)
                    if sample.sample_id != sample_id:
                        raise ValueError(f"record of {sample_id} names {sample.sample_id}")
                except (ValidationError, ValueError):
                    corrupt += 1
                    self._counters.evicted(EvictionReason.CORRUPT_ON_START, found.sizes.get(sample_id, 0))
                    self._try_delete(sample_id)
                    continue
                self._index[sample_id] = Entry(sample_id, sample.priority, sample.captured_at, found.sizes[sample_id])
            victims = plan_shrink(self._index.values(), self.cap_bytes)
            for victim in victims:
                self._evict(victim, EvictionReason.CAPACITY)
            self._save_counters_quietly()
            report = RecoveryReport(samples=len(self._index), bytes=self.total_bytes(),
                                    partial_removed=found.partial, corrupt_removed=corrupt,
                                    evicted_for_cap=len(victims))
        if found.partial or corrupt:
            log.warning("sample buffer: removed %d half-written and %d corrupt samples left by a crash",
                        found.partial, corrupt)
        return report

    def put(self, sample: HardNegativeSample, frame_jpeg: bytes) -> PutOutcome:
        """Admit a sample (evicting less informative ones as needed). Never raises for storage failures."""
        record = record_bytes(sample)
        incoming = Entry(sample.sample_id, sample.priority, sample.captured_at, len(frame_jpeg) + len(record))
        with self._lock:
            if sample.sample_id in self._index:
                self._counters.duplicates += 1
                self._save_counters_quietly()
                return PutOutcome.DUPLICATE
            plan = plan_admission(self._index.values(), incoming, self.cap_bytes)
            if plan.verdict is AdmissionVerdict.TOO_LARGE:
                self._counters.evicted(EvictionReason.TOO_LARGE, incoming.size)
                self._save_counters_quietly()
                return PutOutcome.TOO_LARGE
            if plan.verdict is AdmissionVerdict.LOWER_PRIORITY:
                self._counters.evicted(EvictionReason.INCOMING_LOWER_PRIORITY, incoming.size)
                self._save_counters_quietly()
                return PutOutcome.DROPPED_LOWER_PRIORITY
            for victim in plan.victims:
                self._evict(victim, EvictionReason.CAPACITY)
            try:
                self._write(sample.sample_id, frame_jpeg, record)
            except OSError as exc:
                outcome = self._storage_failed(exc, f"could not store sample {sample.sample_id}")
                self._save_counters_quietly()
                return outcome
            self._index[sample.sample_id] = incoming
            self._counters.stored_samples += 1
            self._counters.stored_bytes += incoming.size
            if self.disk_state is not DiskState.OK:
                log.info("sample buffer: storage writable again")
                self.disk_state = DiskState.OK
            self._save_counters_quietly()
            return PutOutcome.STORED

    def pending(self) -> list[Entry]:
        """Buffered samples, most informative first (then oldest first): the order to upload them in."""
        with self._lock:
            return sorted(self._index.values(), key=lambda e: (-e.priority, e.captured_at, e.sample_id))

    def load(self, sample_id: str) -> StoredSample | None:
        """A buffered sample with its frame; None if it is gone (evicted or removed meanwhile)."""
        with self._lock:
            if sample_id not in self._index:
                return None
            try:
                frame, raw = self._read(sample_id)
                return StoredSample(HardNegativeSample.model_validate_json(raw), frame)
            except (OSError, ValidationError) as exc:
                raise StorageError(f"sample {sample_id} cannot be read: {exc}") from exc

    def remove(self, sample_id: str) -> bool:
        """Take a delivered sample out. False if it was not there."""
        with self._lock:
            entry = self._index.pop(sample_id, None)
            if entry is None:
                return False
            self._try_delete(sample_id)
            self._counters.removed_samples += 1
            self._counters.removed_bytes += entry.size
            self._save_counters_quietly()
            return True

    def total_bytes(self) -> int:
        with self._lock:
            return sum(e.size for e in self._index.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def __contains__(self, sample_id: object) -> bool:
        with self._lock:
            return sample_id in self._index

    def counters(self) -> BufferCounters:
        with self._lock:
            return self._counters.model_copy(deep=True)

    # ------------------------------------------------------------------ internals
    def _evict(self, sample_id: str, reason: EvictionReason) -> None:
        entry = self._index.pop(sample_id)
        self._try_delete(sample_id)
        self._counters.evicted(reason, entry.size)

    def _try_delete(self, sample_id: str) -> None:
        try:
            self._delete(sample_id)
        except OSError as exc:  # what is left is cleaned at the next start
            self._storage_failed(exc, f"could not delete sample {sample_id}")

    def _storage_failed(self, exc: OSError, what: str) -> PutOutcome:
        if exc.errno == errno.ENOSPC:
            self._counters.disk_full += 1
            if self.disk_state is not DiskState.FULL:
                log.error("sample buffer: disk full, %s (samples are dropped until space frees up)", what)
            self.disk_state = DiskState.FULL
            return PutOutcome.DISK_FULL
        self._counters.write_errors += 1
        if self.disk_state is not DiskState.FAILING:
            log.error("sample buffer: %s: %s", what, exc)
        self.disk_state = DiskState.FAILING
        return PutOutcome.WRITE_FAILED

    def _save_counters_quietly(self) -> None:
        """Persist the counters; a failure is logged (once per state change) but not counted twice."""
        try:
            self._save_counters(self._counters)
        except OSError as exc:
            state = DiskState.FULL if exc.errno == errno.ENOSPC else DiskState.FAILING
            if self.disk_state is not state:
                log.error("sample buffer: could not save the buffer counters: %s", exc)
            self.disk_state = state

    # ------------------------------------------------------------------ private hooks
    @abstractmethod
    def _recover(self) -> Recovered:
        """Remove half-written samples; return the complete ones."""

    @abstractmethod
    def _write(self, sample_id: str, frame_jpeg: bytes, record: bytes) -> None:
        """Store a sample so that it is whole or absent after a crash (record last). May raise OSError."""

    @abstractmethod
    def _read(self, sample_id: str) -> tuple[bytes, bytes]:
        """(frame, record) of a stored sample."""

    @abstractmethod
    def _delete(self, sample_id: str) -> None:
        """Delete a sample, record first (a crash mid-delete leaves a partial that start cleans up)."""

    @abstractmethod
    def _load_counters(self) -> BufferCounters | None: ...

    @abstractmethod
    def _save_counters(self, counters: BufferCounters) -> None: ...


# ---------------------------------------------------------------------- implementations
FRAME_SUFFIX = ".jpg"
RECORD_SUFFIX = ".json"
PART_SUFFIX = ".part"
COUNTERS_FILE = "counters.json"


def _strip_suffix(name: str, *suffixes: str) -> str:
    for suffix in suffixes:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def write_atomic(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Write to `path.part`, fsync, rename over `path` (and fsync the directory). Cleans the temp on failure."""
    tmp = path.with_name(path.name + PART_SUFFIX)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        _fsync_dir(path.parent)


class DiskSampleStore(SampleStore):
    """Samples as files under `root/samples/`; counters in `root/counters.json`."""

    def __init__(self, root: Path | str, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        super().__init__(cap_bytes)
        self.root = Path(root)
        self.samples_dir = self.root / "samples"

    def _frame_path(self, sample_id: str) -> Path:
        return self.samples_dir / f"{sample_id}{FRAME_SUFFIX}"

    def _record_path(self, sample_id: str) -> Path:
        return self.samples_dir / f"{sample_id}{RECORD_SUFFIX}"

    def _recover(self) -> Recovered:
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        partial_ids: set[str] = set()
        for tmp in self.samples_dir.glob(f"*{PART_SUFFIX}"):
            partial_ids.add(_strip_suffix(_strip_suffix(tmp.name, PART_SUFFIX), FRAME_SUFFIX, RECORD_SUFFIX))
            tmp.unlink(missing_ok=True)
        (self.root / (COUNTERS_FILE + PART_SUFFIX)).unlink(missing_ok=True)
        records: dict[str, bytes] = {}
        sizes: dict[str, int] = {}
        for frame in self.samples_dir.glob(f"*{FRAME_SUFFIX}"):
            sample_id = frame.name[: -len(FRAME_SUFFIX)]
            record = self._record_path(sample_id)
            if not record.exists():
                partial_ids.add(sample_id)
                frame.unlink(missing_ok=True)
                continue
            records[sample_id] = record.read_bytes()
            sizes[sample_id] = frame.stat().st_size + len(records[sample_id])
        for record in self.samples_dir.glob(f"*{RECORD_SUFFIX}"):
            sample_id = record.name[: -len(RECORD_SUFFIX)]
            if sample_id not in records:  # a record without its frame: keep it to be reported as corrupt
                records[sample_id] = b""
                sizes[sample_id] = record.stat().st_size
        _fsync_dir(self.samples_dir)
        return Recovered(records=records, sizes=sizes, partial=len(partial_ids))

    def _write(self, sample_id: str, frame_jpeg: bytes, record: bytes) -> None:
        frame_path = self._frame_path(sample_id)
        try:
            write_atomic(frame_path, frame_jpeg, sync_dir=False)
            write_atomic(self._record_path(sample_id), record)
        except BaseException:
            frame_path.unlink(missing_ok=True)
            raise

    def _read(self, sample_id: str) -> tuple[bytes, bytes]:
        return self._frame_path(sample_id).read_bytes(), self._record_path(sample_id).read_bytes()

    def _delete(self, sample_id: str) -> None:
        self._record_path(sample_id).unlink(missing_ok=True)
        self._frame_path(sample_id).unlink(missing_ok=True)

    def _load_counters(self) -> BufferCounters | None:
        path = self.root / COUNTERS_FILE
        try:
            return BufferCounters.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            log.warning("sample buffer: counters at %s unreadable (%s), starting from zero", path, exc)
            return None

    def _save_counters(self, counters: BufferCounters) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / COUNTERS_FILE, counters.model_dump_json().encode())


class MemorySampleStore(SampleStore):
    """Everything in memory: the same policy without a disk (tests; a site with no writable storage)."""

    def __init__(self, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        super().__init__(cap_bytes)
        self._blobs: dict[str, tuple[bytes, bytes]] = {}
        self._saved_counters: BufferCounters | None = None

    def _recover(self) -> Recovered:
        return Recovered(records={k: v[1] for k, v in self._blobs.items()},
                         sizes={k: len(v[0]) + len(v[1]) for k, v in self._blobs.items()}, partial=0)

    def _write(self, sample_id: str, frame_jpeg: bytes, record: bytes) -> None:
        self._blobs[sample_id] = (frame_jpeg, record)

    def _read(self, sample_id: str) -> tuple[bytes, bytes]:
        return self._blobs[sample_id]

    def _delete(self, sample_id: str) -> None:
        self._blobs.pop(sample_id, None)

    def _load_counters(self) -> BufferCounters | None:
        return self._saved_counters.model_copy(deep=True) if self._saved_counters else None

    def _save_counters(self, counters: BufferCounters) -> None:
        self._saved_counters = counters.model_copy(deep=True)
