"""What the training and processing emulators share: a job's local process (spawned with its log, polled,
stopped) and the emulator's own bookkeeping (jobs by name under one lock, where and how they run)."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalProcess:
    process: subprocess.Popen
    log_path: Path
    _log: IO[str] = field(repr=False)

    @classmethod
    def spawn(cls, argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> LocalProcess:
        log = log_path.open("w")
        return cls(subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT), log_path, log)

    def exit_code(self) -> int | None:
        """None while it runs; its exit code once it ended (the log is closed then)."""
        code = self.process.poll()
        if code is not None and not self._log.closed:
            self._log.close()
        return code

    def failure_reason(self, code: int) -> str:
        """`exit N: <the last line the process wrote>`."""
        tail = self.log_path.read_text().strip().splitlines()[-1:] or ["no output"]
        return f"exit {code}: {tail[0][:300]}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self._log.closed:
            self._log.close()


class LocalJobEmulator:
    """Jobs by name, each with a `process: LocalProcess`; subclasses start and describe them."""

    def __init__(self, s3: Any, workdir: Path, python: str = sys.executable, cwd: Path = REPO_ROOT,
                 extra_env: dict[str, str] | None = None) -> None:
        self._s3 = s3
        self._workdir = Path(workdir)
        self._python = python
        self._cwd = cwd
        self._extra_env = extra_env or {}
        self._jobs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.process.stop()
