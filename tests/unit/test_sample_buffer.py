from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_appliance.sample_buffer import (
    AdmissionVerdict,
    DiskSampleStore,
    DiskState,
    Entry,
    EvictionReason,
    MemorySampleStore,
    PutOutcome,
    SampleStore,
    StorageError,
    plan_admission,
    plan_shrink,
    record_bytes,
)
from tests.sample_factory import jpeg, sample


def _size(n: int, priority: float = 1.0) -> int:
    return len(jpeg(n)) + len(record_bytes(sample(n, priority)))


def _store(kind: str, root: Path, cap: int) -> SampleStore:
    store: SampleStore = DiskSampleStore(root, cap) if kind == "disk" else MemorySampleStore(cap)
    store.open()
    return store


# ---------------------------------------------------------------------- the pure policy
def test_plan_admission_evicts_lowest_then_oldest() -> None:
    held = [Entry("a", 1.0, 5.0, 10), Entry("b", 1.0, 1.0, 10), Entry("c", 3.0, 0.0, 10)]
    plan = plan_admission(held, Entry("new", 2.0, 9.0, 10), cap_bytes=30)
    assert plan.verdict is AdmissionVerdict.ADMIT and plan.victims == ("b",)
    plan = plan_admission(held, Entry("new", 2.0, 9.0, 20), cap_bytes=30)
    assert plan.victims == ("b", "a")


def test_plan_admission_refuses_rather_than_evicting_better_samples() -> None:
    held = [Entry("a", 5.0, 0.0, 10), Entry("b", 1.0, 0.0, 10)]
    assert plan_admission(held, Entry("new", 2.0, 9.0, 20), 25).verdict is AdmissionVerdict.LOWER_PRIORITY
    assert plan_admission(held, Entry("new", 0.5, 9.0, 5), 20).verdict is AdmissionVerdict.LOWER_PRIORITY
    assert plan_admission(held, Entry("new", 9.0, 9.0, 31), 30).verdict is AdmissionVerdict.TOO_LARGE
    assert plan_admission(held, Entry("new", 0.0, 9.0, 10), 30).victims == ()


def test_plan_shrink() -> None:
    held = [Entry("a", 1.0, 5.0, 10), Entry("b", 1.0, 1.0, 10), Entry("c", 3.0, 0.0, 10)]
    assert plan_shrink(held, 30) == ()
    assert plan_shrink(held, 15) == ("b", "a")


puts = st.lists(st.tuples(st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]), st.integers(0, 5)), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=puts, cap_samples=st.integers(1, 8), kind=st.sampled_from(["memory", "disk"]))
def test_equal_sizes_keep_exactly_the_top_ranked(items: list[tuple[float, int]], cap_samples: int, kind: str) -> None:
    """Same-size samples: after any sequence of puts the buffer holds exactly the best-ranked ones."""
    frame = jpeg(0)
    with tempfile.TemporaryDirectory() as tmp:
        size = len(frame) + len(record_bytes(sample(1000, 1.0)))
        store = _store(kind, Path(tmp), cap_samples * size)
        ranked = []
        for n, (priority, _) in enumerate(items):
            s = sample(1000 + n, priority)  # same number of digits: every record has the same size
            assert len(frame) + len(record_bytes(s)) == size
            store.put(s, frame)
            assert store.total_bytes() <= store.cap_bytes
            ranked.append(((s.priority, s.captured_at), s.sample_id))
        best = {sid for _, sid in sorted(ranked, reverse=True)[:cap_samples]}
        assert {e.sample_id for e in store.pending()} == best
        c = store.counters()
        assert c.stored_samples == len(store) + c.evicted_samples.get(EvictionReason.CAPACITY, 0)
        assert c.stored_samples + c.evicted_samples.get(EvictionReason.INCOMING_LOWER_PRIORITY, 0) == len(items)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=puts, cap=st.integers(500, 6000), kind=st.sampled_from(["memory", "disk"]))
def test_bytes_never_exceed_cap_and_the_best_sample_survives(items: list[tuple[float, int]], cap: int,
                                                              kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(kind, Path(tmp), cap)
        sizes = {}
        for n, (priority, img) in enumerate(items):
            s = sample(n, priority, h=16 + 8 * img, w=16 + 16 * img)
            frame = jpeg(n, 16 + 8 * img, 16 + 16 * img)
            sizes[s.sample_id] = len(frame) + len(record_bytes(s))
            store.put(s, frame)
            assert store.total_bytes() <= cap
            assert store.total_bytes() == sum(e.size for e in store.pending())
        best = max(range(len(items)), key=lambda n: (items[n][0], float(n)))
        best_id = sample(best).sample_id
        if sizes[best_id] <= cap:
            assert best_id in store
        kept = store.pending()
        if kind == "disk":
            on_disk = sum(p.stat().st_size for p in (Path(tmp) / "samples").iterdir())
            assert on_disk == store.total_bytes()
            assert not list((Path(tmp) / "samples").glob("*.part"))
        assert all(e.size == sizes[e.sample_id] for e in kept)


# ---------------------------------------------------------------------- the disk store
def test_put_load_remove_roundtrip(tmp_path: Path) -> None:
    store = _store("disk", tmp_path, 1 << 20)
    s = sample(1, 2.0)
    assert store.put(s, jpeg(1)) is PutOutcome.STORED
    assert store.put(s, jpeg(1)) is PutOutcome.DUPLICATE
    loaded = store.load(s.sample_id)
    assert loaded is not None and loaded.sample == s and loaded.frame_jpeg == jpeg(1)
    assert (tmp_path / "samples" / f"{s.sample_id}.jpg").read_bytes() == jpeg(1)
    assert store.remove(s.sample_id) and not store.remove(s.sample_id)
    assert store.load(s.sample_id) is None
    assert list((tmp_path / "samples").iterdir()) == []
    c = store.counters()
    assert (c.stored_samples, c.removed_samples, c.duplicates) == (1, 1, 1)
    assert c.removed_bytes == c.stored_bytes == _size(1, 2.0)


def test_pending_orders_most_informative_then_oldest() -> None:
    store = _store("memory", Path("."), 1 << 20)
    for n, p in [(1, 1.0), (2, 5.0), (3, 1.0), (4, 5.0)]:
        store.put(sample(n, p), jpeg(n))
    assert [e.sample_id for e in store.pending()] == [sample(n).sample_id for n in (2, 4, 1, 3)]


def test_samples_and_counters_survive_a_restart(tmp_path: Path) -> None:
    cap = 3 * _size(0)
    store = _store("disk", tmp_path, cap)
    for n in range(5):
        store.put(sample(n, 1.0), jpeg(0))
    before = store.counters()
    assert before.evicted_samples == {EvictionReason.CAPACITY.value: 2}
    again = DiskSampleStore(tmp_path, cap)
    report = again.open()
    assert report.samples == 3 and report.partial_removed == 0 and report.corrupt_removed == 0
    assert {e.sample_id for e in again.pending()} == {sample(n).sample_id for n in (2, 3, 4)}
    after = again.counters()
    assert after.evicted_samples == before.evicted_samples and after.stored_samples == 5 and after.starts == 2


def test_start_removes_and_counts_leftovers(tmp_path: Path) -> None:
    store = _store("disk", tmp_path, 1 << 20)
    store.put(sample(1), jpeg(1))
    d = tmp_path / "samples"
    (d / "sample-00000002.jpg").write_bytes(jpeg(2))  # frame renamed, record never written
    (d / "sample-00000003.jpg.part").write_bytes(b"half a frame")  # killed while writing the frame
    (d / "sample-00000004.jpg").write_bytes(jpeg(4))
    (d / "sample-00000004.json.part").write_bytes(b'{"form')  # killed while writing the record
    (d / "sample-00000005.jpg").write_bytes(jpeg(5))
    (d / "sample-00000005.json").write_bytes(b"not json")  # corrupt record (disk damage)
    again = DiskSampleStore(tmp_path, 1 << 20)
    report = again.open()
    assert (report.samples, report.partial_removed, report.corrupt_removed) == (1, 3, 1)
    assert sorted(p.name for p in d.iterdir()) == ["sample-00000001.jpg", "sample-00000001.json"]
    c = again.counters()
    assert c.evicted_samples[EvictionReason.PARTIAL_ON_START] == 3
    assert c.evicted_samples[EvictionReason.CORRUPT_ON_START] == 1


def test_lowered_cap_evicts_at_start(tmp_path: Path) -> None:
    store = _store("disk", tmp_path, 1 << 20)
    for n in range(4):
        store.put(sample(n, float(n)), jpeg(0))
    again = DiskSampleStore(tmp_path, 2 * _size(0))
    assert again.open().evicted_for_cap == 2
    assert {e.sample_id for e in again.pending()} == {sample(2).sample_id, sample(3).sample_id}


def test_too_large_and_lower_priority_are_counted(tmp_path: Path) -> None:
    store = _store("disk", tmp_path, _size(0) + 10)
    assert store.put(sample(1, 5.0), jpeg(0)) is PutOutcome.STORED
    assert store.put(sample(2, 1.0), jpeg(0)) is PutOutcome.DROPPED_LOWER_PRIORITY
    assert store.put(sample(3, 9.0), jpeg(0) * 3) is PutOutcome.TOO_LARGE
    c = store.counters()
    assert c.evicted_samples == {EvictionReason.INCOMING_LOWER_PRIORITY.value: 1, EvictionReason.TOO_LARGE.value: 1}


def test_full_disk_is_caught_counted_logged_once_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    store = _store("disk", tmp_path, 1 << 20)
    assert store.put(sample(1), jpeg(1)) is PutOutcome.STORED
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with caplog.at_level(logging.ERROR, logger="edge_appliance.sample_buffer"):
        outcomes = [store.put(sample(n), jpeg(n)) for n in range(2, 6)]
    assert outcomes == [PutOutcome.DISK_FULL] * 4
    assert store.disk_state is DiskState.FULL
    assert len([r for r in caplog.records if "disk full" in r.getMessage()]) == 1
    assert len(caplog.records[0].getMessage().splitlines()) == 1
    assert len(store) == 1
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["sample-00000001.jpg",
                                                                         "sample-00000001.json"]
    monkeypatch.setattr(os, "write", real_write)
    assert store.put(sample(9), jpeg(9)) is PutOutcome.STORED
    assert store.disk_state is DiskState.OK
    c = store.counters()
    assert c.disk_full == 4 and c.stored_samples == 2


def test_other_write_errors_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store("disk", tmp_path, 1 << 20)

    def broken(fd: int, data: bytes) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "write", broken)
    assert store.put(sample(1), jpeg(1)) is PutOutcome.WRITE_FAILED
    assert store.disk_state is DiskState.FAILING and store.counters().write_errors >= 1


def test_unopenable_root_is_one_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot be opened"):
        DiskSampleStore(blocker / "buffer").open()


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemorySampleStore(0)


class _Killed(BaseException):
    """The process dying: nothing after it runs, not even cleanup."""


class _Killer:
    """Lets the first k-1 storage calls through; the k-th and every later one 'kill the process'."""

    def __init__(self, k: int, real: dict[str, Any]) -> None:
        self.k, self.real, self.calls = k, real, 0

    def wrap(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls >= self.k:
                raise _Killed
            return self.real[name](*args, **kwargs)
        return call


def test_a_crash_at_any_storage_call_leaves_whole_samples_only(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill `put` (which also evicts) at its 1st, 2nd, ... storage call; a restart always finds whole samples."""
    cap = 3 * _size(0)
    names = ("open", "write", "fsync", "replace", "unlink")
    real = {name: getattr(os, name) for name in names}
    k = 1
    while True:
        root = tmp_path / f"run{k}"
        store = _store("disk", root, cap)
        for n in range(3):
            store.put(sample(n, 1.0), jpeg(0))
        killer = _Killer(k, real)
        for name in names:
            monkeypatch.setattr(os, name, killer.wrap(name))
        try:
            store.put(sample(9, 5.0), jpeg(0))  # evicts the oldest, then writes
            finished = True
        except _Killed:
            finished = False
        for name in names:
            monkeypatch.setattr(os, name, real[name])
        again = DiskSampleStore(root, cap)
        report = again.open()
        ids = {e.sample_id for e in again.pending()}
        files = sorted(p.name for p in (root / "samples").iterdir())
        assert len(files) == 2 * len(ids) and not [f for f in files if f.endswith(".part")]
        for sid in ids:
            loaded = again.load(sid)
            assert loaded is not None and loaded.frame_jpeg == jpeg(0)
        assert report.corrupt_removed == 0 and again.total_bytes() <= cap
        assert ids <= {sample(n).sample_id for n in (0, 1, 2, 9)}
        if finished:
            assert ids == {sample(n).sample_id for n in (1, 2, 9)}
            break
        k += 1
    assert k > 5  # the put really went through several storage calls, each one a crash point
