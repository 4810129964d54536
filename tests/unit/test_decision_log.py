"""The append-only decision log: durability, idempotence, queries, and refusing files it cannot trust."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from contracts.decisions import PalletPassDecision, ReconciledPallet, ReconciliationReport
from contracts.pro import make_pro
from edge_appliance.decision_log import (
    AppendOutcome,
    DecisionLog,
    DecisionLogError,
    DecisionLogTamperedError,
    DecisionLogUnreadableError,
    LogMode,
)

REPO = Path(__file__).resolve().parents[2]
PRO_A, PRO_B = make_pro("482711930"), make_pro("123456789")


def _decision(n: int, pro: str | None = PRO_A, t0: float = 1_700_000_000.0) -> PalletPassDecision:
    return PalletPassDecision(site_id="site-1", camera_id="cam-1", pass_id=f"cam-1-{n}-{n * 40}", pro=pro,
                              dest="MEM" if pro else None, read_confidence=0.9, frame_ids=list(range(n, n + 30)),
                              first_seen=t0 + n * 10, last_seen=t0 + n * 10 + 2, model_versions={"ocr": "1"})


def _report(truck: str, *passes: PalletPassDecision) -> ReconciliationReport:
    return ReconciliationReport(truck_id=truck, door="D07",
                                matched=[ReconciledPallet(pro=p.pro, dest=p.dest, pass_id=p.pass_id) for p in passes],
                                missing=[ReconciledPallet(pro=PRO_B, dest="ATL")])


def test_survives_close_and_reopen(tmp_path):
    path = tmp_path / "log" / "decisions.db"
    with DecisionLog(path) as log:
        for n in range(5):
            assert log.append_decision(_decision(n)) is AppendOutcome.APPENDED
        assert log.append_report(_report("TRK-1", _decision(1), _decision(2))) is AppendOutcome.APPENDED
    with DecisionLog(path) as log:
        assert log.decision("cam-1-3-120") == _decision(3)
        assert log.count() == {"decision": 5, "reconciliation": 1}
        assert log.verify() == 6
        assert log.append_decision(_decision(5)) is AppendOutcome.APPENDED
    with DecisionLog(path, mode=LogMode.READ_ONLY) as log:
        assert log.count()["decision"] == 6


def test_next_track_id_keeps_pass_ids_unique_across_restarts(tmp_path):
    from contracts.predictions import DetectedPallet, FramePrediction
    from edge_appliance.tracking import PalletTracker

    def one_run(log: DecisionLog) -> None:  # a pallet crossing; the frame counter starts at 0 every run
        tracker = PalletTracker("site-1", "cam-1", first_track_id=log.next_track_id("cam-1"))
        for f in range(10):
            box = [f * 60.0, 100.0, f * 60.0 + 300, 400.0]
            pred = FramePrediction(pallets=[DetectedPallet(bbox=box, score=0.9, damaged=False, damage_score=0)])
            tracker.update(f, float(f), pred)
        assert [log.append_decision(p.decision) for p in tracker.flush()] == [AppendOutcome.APPENDED]

    path = tmp_path / "d.db"
    with DecisionLog(path) as log:
        assert log.next_track_id("cam-1") == 1
        log.append_decision(_decision(7).model_copy(update={"pass_id": "cam-1-41-9", "camera_id": "cam-1"}))
        log.append_decision(_decision(8).model_copy(update={"pass_id": "cam-1-x-9"}))  # not ours to parse
        assert log.next_track_id("cam-1") == 42 and log.next_track_id("cam-2") == 1
        one_run(log)
    with DecisionLog(path) as log:
        one_run(log)
        assert log.count()["decision"] == 4 and log.next_track_id("cam-1") == 44


def test_uses_wal_and_full_sync(tmp_path):
    path = tmp_path / "decisions.db"
    log = DecisionLog(path)
    log.append_decision(_decision(0))
    assert log._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    log.close()


def test_duplicates_are_rejected_idempotently_and_conflicts_keep_the_first(tmp_path):
    with DecisionLog(tmp_path / "d.db") as log:
        first = _decision(1)
        assert log.append_decision(first) is AppendOutcome.APPENDED
        assert log.append_decision(_decision(1)) is AppendOutcome.DUPLICATE
        other = first.model_copy(update={"pro": PRO_B})
        assert log.append_decision(other) is AppendOutcome.CONFLICT
        assert log.decision(first.pass_id) == first
        report = _report("TRK-1", first)
        assert log.append_report(report) is AppendOutcome.APPENDED
        assert log.append_report(report) is AppendOutcome.DUPLICATE
        assert log.count() == {"decision": 1, "reconciliation": 1}
        assert log.verify() == 2


def test_queries_by_pass_pro_time_and_truck(tmp_path):
    with DecisionLog(tmp_path / "d.db") as log:
        decisions = [_decision(n, pro=PRO_A if n % 2 else PRO_B) for n in range(6)] + [_decision(6, pro=None)]
        for d in decisions:
            log.append_decision(d)
        log.append_report(_report("TRK-1", decisions[1], decisions[2]))
        log.append_report(_report("TRK-2", decisions[4]))
        log.append_report(_report("TRK-1", decisions[1], decisions[2], decisions[3]))  # a later re-run
        assert log.decision("nope") is None
        assert [d.pass_id for d in log.decisions_by_pro(PRO_A)] == [decisions[n].pass_id for n in (1, 3, 5)]
        t0 = decisions[0].first_seen
        # passes in view at any time in [t0 + 21, t0 + 40]: pass 2 (t0+20..22), 3 and 4 (t0+40..42)
        assert [d.pass_id for d in log.decisions_between(t0 + 21, t0 + 40)] == [decisions[n].pass_id
                                                                              for n in (2, 3, 4)]
        assert [d.pass_id for d in log.decisions_for_truck("TRK-1")] == [decisions[n].pass_id for n in (1, 2, 3)]
        assert [len(r.matched) for r in log.reports_for_truck("TRK-1")] == [2, 3]
        assert log.reports_for_truck("TRK-9") == [] and log.decisions_for_truck("TRK-9") == []


def test_the_database_itself_refuses_update_and_delete(tmp_path):
    path = tmp_path / "d.db"
    with DecisionLog(path) as log:
        log.append_decision(_decision(1))
    conn = sqlite3.connect(path)
    for statement in ("UPDATE entries SET body = '{}'", "DELETE FROM entries", "DELETE FROM decisions",
                      "UPDATE meta SET value = 'x'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    conn.close()
    assert not hasattr(DecisionLog, "delete") and not hasattr(DecisionLog, "update")


def test_verify_detects_an_edited_entry(tmp_path):
    path = tmp_path / "d.db"
    with DecisionLog(path) as log:
        for n in range(3):
            log.append_decision(_decision(n))
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER entries_no_update")  # someone with write access works around the log
    conn.execute("UPDATE entries SET body = replace(body, ?, ?) WHERE seq = 2", (PRO_A, PRO_B))
    conn.commit()
    conn.close()
    with DecisionLog(path, mode=LogMode.READ_ONLY) as log, pytest.raises(DecisionLogTamperedError, match="entry 2"):
        log.verify()


def test_read_only_mode_never_writes(tmp_path):
    with pytest.raises(DecisionLogUnreadableError, match="does not exist"):
        DecisionLog(tmp_path / "absent.db", mode=LogMode.READ_ONLY)
    assert not (tmp_path / "absent.db").exists()
    with DecisionLog(tmp_path / "d.db") as log:
        log.append_decision(_decision(1))
    with DecisionLog(tmp_path / "d.db", mode=LogMode.READ_ONLY) as log:
        with pytest.raises(DecisionLogError, match="read-only"):
            log.append_decision(_decision(2))
        assert log.count()["decision"] == 1


def _corruptions(valid: bytes) -> dict[str, bytes]:
    return {
        "garbage": os.urandom(8192),
        "text": b"pass_id,pro\ncam-1-1-40,4827119301\n",
        "truncated": valid[: len(valid) // 2],
        "bad_pages": valid[:4096] + bytes(b ^ 0x5A for b in valid[4096:]),
        "bad_first_page": valid[:100] + bytes(3996) + valid[4096:],
        "bad_last_pages": valid[:-8192] + bytes(b ^ 0x5A for b in valid[-8192:]),  # opens; its queries fail
    }


@pytest.fixture
def valid_log_bytes(tmp_path) -> bytes:
    path = tmp_path / "valid.db"
    with DecisionLog(path) as log:
        for n in range(200):
            log.append_decision(_decision(n))
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: everything is in the main file
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "text", "truncated", "bad_pages", "bad_first_page", "bad_last_pages"])
def test_a_corrupt_file_gives_one_clear_line_and_is_left_untouched(tmp_path, valid_log_bytes, kind):
    data = _corruptions(valid_log_bytes)[kind]
    path = tmp_path / "corrupt.db"
    path.write_bytes(data)
    # opening may succeed when only data pages are damaged: then the queries fail
    with pytest.raises(DecisionLogUnreadableError) as info, DecisionLog(path) as log:
        log.decisions_between(0, 2e9)
        log.verify()
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "unreadable" in message
    assert path.read_bytes() == data


def test_another_applications_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(DecisionLogUnreadableError, match="not an edgecv decision log"):
        DecisionLog(path)
    assert path.read_bytes() == before


def test_a_directory_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "d.db").mkdir()
    with pytest.raises(DecisionLogUnreadableError, match="not a regular file"):
        DecisionLog(tmp_path / "d.db")


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from contracts.decisions import PalletPassDecision
    from edge_appliance.decision_log import DecisionLog

    log = DecisionLog(Path(sys.argv[1]))
    n = 0
    while True:
        d = PalletPassDecision(site_id="site-1", camera_id="cam-1", pass_id=f"cam-1-{n}-{n}", frame_ids=list(range(50)),
                               first_seen=float(n), last_seen=float(n) + 1)
        log.append_decision(d)
        print(d.pass_id, flush=True)  # printed only once the append has committed
        n += 1
""")


@pytest.mark.integration
def test_a_writer_killed_mid_write_leaves_every_committed_decision_readable(tmp_path):
    path = tmp_path / "d.db"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    committed = []
    try:
        assert proc.stdout is not None
        while len(committed) < 150:
            line = proc.stdout.readline()
            assert line, "the writer stopped before it was killed"
            committed.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)  # while it is busy appending the next ones
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with DecisionLog(path) as log:
        for pass_id in committed:
            assert log.decision(pass_id) is not None, pass_id
        total = log.count()["decision"]
        assert total >= len(committed)
        assert log.verify() == total
        assert log.append_decision(_decision(10**6)) is AppendOutcome.APPENDED  # and it takes new decisions
