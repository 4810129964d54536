"""Fetching a bundle over HTTP(S) with range resume (presigned S3 GET URLs work as they are).

The partial file (`<dest>.part`) survives a cut connection and an agent restart; the next attempt asks
for `Range: bytes=<have>-`. A server that ignores the range (200) restarts the file from zero. The
whole file is checked against the job's size and sha256 before it is renamed to `dest`; a mismatch
discards the partial file. Nothing over `max_bytes` is fetched.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_appliance.ota.atomic import fsync_dir
from edge_appliance.ota.errors import DownloadError, DownloadMismatchError, DownloadTooLargeError

CHUNK = 64 * 1024
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    fetched_bytes: int  # bytes received in this call (less than the size when resumed)
    resumes: int        # attempts that continued a partial file
    seconds: float


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Downloader:
    def __init__(self, *, max_bytes: int, attempts: int = 5, backoff_s: float = 0.5, timeout_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 opener: Callable[..., http.client.HTTPResponse] = urllib.request.urlopen) -> None:
        self.max_bytes = max_bytes
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._clock = clock
        self._open = opener

    @staticmethod
    def partial_path(dest: Path) -> Path:
        return dest.with_name(dest.name + ".part")

    def fetch(self, url: str, dest: Path, sha256: str, size: int) -> DownloadResult:
        start = self._clock()
        if size > self.max_bytes:
            raise DownloadTooLargeError(f"the bundle is {size} bytes, over this agent's cap of {self.max_bytes}")
        if dest.exists() and dest.stat().st_size == size and file_sha256(dest) == sha256:
            return DownloadResult(dest, 0, 0, 0.0)
        part = self.partial_path(dest)
        part.parent.mkdir(parents=True, exist_ok=True)
        fetched = resumes = 0
        last_error = "no attempt made"
        for attempt in range(self.attempts):
            have = part.stat().st_size if part.exists() else 0
            if have > size:
                part.unlink()
                have = 0
            if have == size:
                break
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            resumes += have > 0
            try:
                fetched += self._attempt(url, part, have, size)
            except DownloadTooLargeError:
                part.unlink(missing_ok=True)
                raise
            except _Retry as exc:
                fetched += exc.received
                last_error = str(exc)
        else:
            have = part.stat().st_size if part.exists() else 0
            if have != size:
                raise DownloadError(f"download of the bundle stopped at {have} of {size} bytes after "
                                    f"{self.attempts} attempts: {last_error}")
        digest = file_sha256(part)
        if digest != sha256:
            part.unlink()
            raise DownloadMismatchError(f"the downloaded bundle has sha256 {digest[:16]}..., "
                                        f"the job says {sha256[:16]}...")
        os.replace(part, dest)
        fsync_dir(dest.parent)
        return DownloadResult(dest, fetched, resumes, self._clock() - start)

    def _attempt(self, url: str, part: Path, have: int, size: int) -> int:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            response = self._open(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # nothing left past `have`: the partial file is wrong, start over
                part.unlink(missing_ok=True)
                raise _Retry(f"HTTP 416 at offset {have}") from exc
            if exc.code in _RETRYABLE_STATUS:
                raise _Retry(f"HTTP {exc.code}") from exc
            raise DownloadError(f"the bundle URL answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        with response:
            offset = self._offset(response, have)
            mode = "ab" if offset else "wb"
            received = 0
            try:
                with part.open(mode) as fh:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        if offset + received + len(chunk) > min(size, self.max_bytes):
                            raise DownloadTooLargeError(f"the server sent more than the job's {size} bytes")
                        fh.write(chunk)
                        received += len(chunk)
                    fh.flush()
                    os.fsync(fh.fileno())
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(f"connection lost after {offset + received} bytes: {exc}", received) from exc
        if offset + received < size:
            raise _Retry(f"the server closed the connection after {offset + received} of {size} bytes", received)
        return received

    @staticmethod
    def _offset(response: http.client.HTTPResponse, have: int) -> int:
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise _Retry(f"the server resumed at {response.headers.get('Content-Range')!r}, not at {have}")
            return have
        if response.status == 200:
            return 0
        raise _Retry(f"HTTP {response.status}")


class _Retry(Exception):  # noqa: N818 - internal signal: this attempt failed, another may succeed
    def __init__(self, message: str, received: int = 0) -> None:
        super().__init__(message)
        self.received = received
