"""Crash-safe small files: write a temp file beside the target, fsync it, rename over, fsync the folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from contracts.durable import fsync_dir


def write_atomic(path: Path, data: bytes) -> None:
    """After this returns, `path` holds `data` even across a power loss; a crash midway leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
