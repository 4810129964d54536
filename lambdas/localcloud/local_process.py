"""An emulated job's local process: spawned with its log, polled, stopped (the training and processing emulators)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


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
