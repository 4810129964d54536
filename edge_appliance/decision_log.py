"""The site's append-only decision log: evidence for chargeback disputes, kept in one local SQLite file.

- Durable: WAL journal with `synchronous=FULL`, one transaction per record; a record `append_*` returned for
  survives a restart, a kill -9 or a power cut.
- Append-only: there is no update or delete API, and triggers make the database itself refuse UPDATE and
  DELETE on every table. Every entry carries the SHA-256 of its body and of the chain before it, so
  `verify()` detects an edited row or one removed from the middle.
- Idempotent: a decision is keyed by its `pass_id` and a reconciliation report by its content; appending one
  again is a `DUPLICATE` (nothing written), so a replay after a crash never double-counts. Appending a
  different decision under a pass id already logged is a `CONFLICT`: the first one stays, as evidence.
- A file that is not a readable edgecv decision log raises `DecisionLogUnreadableError` with one clear line
  and is never written to, let alone replaced.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from contracts.decisions import PalletPassDecision, ReconciliationReport
from contracts.errors import EdgecvError

LOG_FORMAT = "edgecv-decision-log/1"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_GENESIS = "0" * 64


class DecisionLogError(EdgecvError):
    """The decision log could not do what was asked."""


class DecisionLogUnreadableError(DecisionLogError):
    """The file is missing, corrupt, or not an edgecv decision log; it was left untouched."""


class DecisionLogTamperedError(DecisionLogError):
    """An entry's hash or the hash chain does not match: a row was edited or removed behind the log's back."""


class AppendOutcome(StrEnum):
    APPENDED = "appended"
    DUPLICATE = "duplicate"  # the same record was already logged; nothing written
    CONFLICT = "conflict"  # a different record holds this key; the logged one stays, nothing written


class LogMode(StrEnum):
    READ_WRITE = "read_write"  # creates the log if the file does not exist
    READ_ONLY = "read_only"  # for dispute queries; the file must exist


_TABLES = ("entries", "decisions", "reports", "report_passes")

_SCHEMA = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('decision', 'reconciliation')),
        key TEXT NOT NULL UNIQUE,
        recorded_at REAL NOT NULL,
        body TEXT NOT NULL,
        body_sha256 TEXT NOT NULL,
        chain_sha256 TEXT NOT NULL)""",
    """CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY REFERENCES entries(seq),
        pass_id TEXT NOT NULL UNIQUE,
        site_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        pro TEXT,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL)""",
    "CREATE INDEX decisions_pro ON decisions(pro)",
    "CREATE INDEX decisions_time ON decisions(first_seen, last_seen)",
    """CREATE TABLE reports (
        seq INTEGER PRIMARY KEY REFERENCES entries(seq),
        truck_id TEXT NOT NULL,
        door TEXT NOT NULL)""",
    "CREATE INDEX reports_truck ON reports(truck_id)",
    """CREATE TABLE report_passes (
        report_seq INTEGER NOT NULL REFERENCES reports(seq),
        pass_id TEXT NOT NULL,
        PRIMARY KEY (report_seq, pass_id))""",
    *(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END"
        for table in (*_TABLES, "meta")
        for verb in ("UPDATE", "DELETE")
    ),
]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _chain(previous: str, body_sha256: str) -> str:
    return _sha256(previous + body_sha256)


_UNREADABLE = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def _is_unreadable(exc: sqlite3.Error) -> bool:
    """Corrupt, not a database, or the disk failed (as opposed to a busy lock or a constraint)."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    return name.startswith(_UNREADABLE) or type(exc) is sqlite3.DatabaseError


class DecisionLog:
    """One site's decision log in one SQLite file. Thread-safe; use as a context manager or call `close()`."""

    def __init__(self, path: Path, *, mode: LogMode = LogMode.READ_WRITE,
                 clock: Callable[[], float] = time.time, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.mode = mode
        self._clock = clock
        self._lock = threading.Lock()
        self._check_file()
        try:
            self._conn = self._connect(busy_timeout_s)
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from exc
        try:
            self._prepare()
        except DecisionLogError:
            self._conn.close()
            raise
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._unreadable(exc) from exc

    # ------------------------------------------------------------------ opening
    def _unreadable(self, reason: object) -> DecisionLogUnreadableError:
        text = " ".join(str(reason).split())
        return DecisionLogUnreadableError(f"decision log {self.path} is unreadable ({text}); the file was left as is")

    def _check_file(self) -> None:
        if not self.path.exists():
            if self.mode is LogMode.READ_ONLY:
                raise DecisionLogUnreadableError(f"decision log {self.path} does not exist")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DecisionLogError(f"cannot create the folder of decision log {self.path}: {exc}") from exc
            return
        if not self.path.is_file():
            raise self._unreadable("not a regular file")
        try:
            with self.path.open("rb") as fh:
                header = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise self._unreadable(exc.strerror or exc) from exc
        if header and header != _SQLITE_MAGIC:
            raise self._unreadable("not an SQLite database")
        if 0 < len(header) < len(_SQLITE_MAGIC):
            raise self._unreadable("truncated SQLite header")

    def _connect(self, busy_timeout_s: float) -> sqlite3.Connection:
        if self.mode is LogMode.READ_ONLY:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=busy_timeout_s)
        else:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout_s)
        return conn

    def _prepare(self) -> None:
        conn = self._conn
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            if self.mode is LogMode.READ_ONLY:
                raise self._unreadable("empty database")
            self._set_pragmas()
            with self._transaction():
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO meta (key, value) VALUES ('format', ?)", (LOG_FORMAT,))
            return
        if "meta" not in tables:
            raise self._unreadable("not an edgecv decision log: no meta table")
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != LOG_FORMAT:
            raise self._unreadable(f"unknown format {row[0] if row else None!r} (expected {LOG_FORMAT!r})")
        missing = set(_TABLES) - tables
        if missing:
            raise self._unreadable(f"tables missing: {', '.join(sorted(missing))}")
        if self.mode is LogMode.READ_WRITE:
            self._set_pragmas()

    def _set_pragmas(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DecisionLogError(f"decision log {self.path}: cannot switch to WAL journaling (got {mode})")
        self._conn.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """Serialise access and turn SQLite failures into one-line errors."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                if _is_unreadable(exc):
                    raise self._unreadable(exc) from exc
                raise DecisionLogError(f"decision log {self.path}: {' '.join(str(exc).split())}") from exc

    # ------------------------------------------------------------------ appending
    def _append(self, kind: str, key: str, body: str, same: Callable[[str], bool],
                index: Callable[[sqlite3.Connection, int], None]) -> AppendOutcome:
        if self.mode is LogMode.READ_ONLY:
            raise DecisionLogError(f"decision log {self.path} is open read-only")
        body_sha = _sha256(body)
        with self._guard() as conn, self._transaction():
            existing = conn.execute("SELECT body FROM entries WHERE key = ?", (key,)).fetchone()
            if existing is not None:
                return AppendOutcome.DUPLICATE if same(existing[0]) else AppendOutcome.CONFLICT
            last = conn.execute("SELECT chain_sha256 FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
            chain = _chain(last[0] if last else _GENESIS, body_sha)
            cursor = conn.execute(
                "INSERT INTO entries (kind, key, recorded_at, body, body_sha256, chain_sha256) "
                "VALUES (?, ?, ?, ?, ?, ?)", (kind, key, float(self._clock()), body, body_sha, chain))
            index(conn, int(cursor.lastrowid or 0))
        return AppendOutcome.APPENDED

    def append_decision(self, decision: PalletPassDecision) -> AppendOutcome:
        body = decision.model_dump_json()

        def same(logged: str) -> bool:
            return self._parse_decision(logged) == decision

        def index(conn: sqlite3.Connection, seq: int) -> None:
            conn.execute("INSERT INTO decisions (seq, pass_id, site_id, camera_id, pro, first_seen, last_seen) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (seq, decision.pass_id, decision.site_id, decision.camera_id, decision.pro,
                          decision.first_seen, decision.last_seen))

        return self._append("decision", f"pass:{decision.pass_id}", body, same, index)

    def append_report(self, report: ReconciliationReport) -> AppendOutcome:
        body = report.model_dump_json()
        pass_ids = sorted({p.pass_id for group in (report.matched, report.unexpected, report.unread,
                                                   report.damaged, report.dest_mismatch)
                           for p in group if p.pass_id is not None})

        def index(conn: sqlite3.Connection, seq: int) -> None:
            conn.execute("INSERT INTO reports (seq, truck_id, door) VALUES (?, ?, ?)",
                         (seq, report.truck_id, report.door))
            conn.executemany("INSERT INTO report_passes (report_seq, pass_id) VALUES (?, ?)",
                             [(seq, pid) for pid in pass_ids])

        return self._append("reconciliation", f"report:{report.truck_id}:{_sha256(body)}", body,
                            lambda logged: logged == body, index)

    # ------------------------------------------------------------------ queries
    def _parse_decision(self, body: str) -> PalletPassDecision:
        try:
            return PalletPassDecision.model_validate_json(body)
        except ValidationError as exc:
            raise DecisionLogTamperedError(f"decision log {self.path}: a logged decision does not parse") from exc

    def _decisions(self, where: str, params: tuple) -> list[PalletPassDecision]:
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT e.body FROM decisions d JOIN entries e ON e.seq = d.seq WHERE {where} ORDER BY d.seq",
                params).fetchall()
        return [self._parse_decision(row[0]) for row in rows]

    def decision(self, pass_id: str) -> PalletPassDecision | None:
        found = self._decisions("d.pass_id = ?", (pass_id,))
        return found[0] if found else None

    def decisions_by_pro(self, pro: str) -> list[PalletPassDecision]:
        return self._decisions("d.pro = ?", (pro,))

    def decisions_between(self, start: float, end: float) -> list[PalletPassDecision]:
        """Passes in view at any time in [start, end] (unix seconds), in the order they were logged."""
        return self._decisions("d.last_seen >= ? AND d.first_seen <= ?", (start, end))

    def decisions_for_truck(self, truck_id: str) -> list[PalletPassDecision]:
        """Every logged pass that a reconciliation report of this truck refers to."""
        return self._decisions(
            "d.pass_id IN (SELECT rp.pass_id FROM report_passes rp JOIN reports r ON r.seq = rp.report_seq "
            "WHERE r.truck_id = ?)", (truck_id,))

    def reports_for_truck(self, truck_id: str) -> list[ReconciliationReport]:
        with self._guard() as conn:
            rows = conn.execute("SELECT e.body FROM reports r JOIN entries e ON e.seq = r.seq "
                                "WHERE r.truck_id = ? ORDER BY r.seq", (truck_id,)).fetchall()
        try:
            return [ReconciliationReport.model_validate_json(row[0]) for row in rows]
        except ValidationError as exc:
            raise DecisionLogTamperedError(f"decision log {self.path}: a logged report does not parse") from exc

    def next_track_id(self, camera_id: str) -> int:
        """One past the largest track id logged for this camera (pass ids read f"{camera_id}-{track_id}-{frame}"):
        a tracker restarted with it never reuses a pass id, even when the camera's frame counter restarts too."""
        with self._guard() as conn:
            rows = conn.execute("SELECT pass_id FROM decisions WHERE camera_id = ?", (camera_id,)).fetchall()
        largest = 0
        prefix = f"{camera_id}-"
        for (pass_id,) in rows:
            parts = pass_id[len(prefix):].split("-") if pass_id.startswith(prefix) else []
            if len(parts) == 2 and parts[0].isdigit():
                largest = max(largest, int(parts[0]))
        return largest + 1

    def count(self) -> dict[str, int]:
        with self._guard() as conn:
            rows = conn.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind").fetchall()
        return {"decision": 0, "reconciliation": 0, **{kind: n for kind, n in rows}}

    def verify(self) -> int:
        """Check SQLite's integrity and every entry's hash chain; return the number of entries checked."""
        with self._guard() as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise self._unreadable(f"integrity check: {result}")
            previous, n = _GENESIS, 0
            for seq, body, body_sha, chain in conn.execute(
                    "SELECT seq, body, body_sha256, chain_sha256 FROM entries ORDER BY seq"):
                if _sha256(body) != body_sha or _chain(previous, body_sha) != chain:
                    raise DecisionLogTamperedError(f"decision log {self.path}: entry {seq} does not match its hash")
                previous, n = chain, n + 1
        return n

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
