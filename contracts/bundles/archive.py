"""Reading a bundle archive as a stream, without writing anything, refusing unsafe or oversized input.

One forward pass over a tar (gzip-compressed or plain): every member's header is checked (only
regular files and directories, safe relative paths, no duplicates, bounded count and declared size)
before its data is read, the decompressed stream is capped, and the stream is drained to its end so
a gzip CRC or length error is never missed.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from contracts.bundles.errors import BundleTooLarge, CorruptBundle, UnsafeMember
from contracts.bundles.paths import path_problem

DEFAULT_MAX_BYTES = 1 << 30
MAX_MEMBERS = 10_000
CHUNK_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


class _CappedReader:
    """Counts the bytes read through it and refuses once more than `limit` went by."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.count += len(data)
        if self.count > self._limit:
            raise BundleTooLarge(f"archive expands to more than {self._limit} bytes")
        return data


@dataclass
class ArchiveMember:
    """A regular file in the archive; read its data with `chunks()` before asking for the next member."""

    name: str
    size: int
    _fh: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        remaining = self.size
        while remaining:
            try:
                data = self._fh.read(min(CHUNK_BYTES, remaining))
            except _READ_ERRORS as exc:
                raise CorruptBundle(f"cannot read {self.name!r}: {exc}") from exc
            if not data:
                raise CorruptBundle(f"archive ends inside {self.name!r}")
            remaining -= len(data)
            yield data

    def read_all(self) -> bytes:
        return b"".join(self.chunks())


def _member_problem(info: tarfile.TarInfo) -> str | None:
    if info.issym():
        return f"symbolic link to {info.linkname!r}"
    if info.islnk():
        return f"hard link to {info.linkname!r}"
    if info.ischr() or info.isblk():
        return "device file"
    if info.isfifo():
        return "fifo"
    if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
        return f"unsupported member type {info.type!r}"
    return path_problem(info.name)


def check_archive_size(path: Path, max_bytes: int) -> int:
    """The archive's size on disk, refused before opening it when over `max_bytes`."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorruptBundle(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise BundleTooLarge(f"archive is {size} bytes, over the cap of {max_bytes}")
    return size


@contextmanager
def open_members(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Iterator[ArchiveMember]]:
    """`with open_members(p) as members: for m in members: ...` over the archive's regular files."""
    check_archive_size(path, max_bytes)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CorruptBundle(f"cannot open {path}: {exc.strerror or exc}") from exc
    with raw:
        try:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
        except OSError as exc:
            raise CorruptBundle(f"cannot read {path}: {exc.strerror or exc}") from exc
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        with stream:
            yield _iter_members(_CappedReader(stream, max_bytes), max_bytes)


def _open_stream(capped: _CappedReader) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=capped, mode="r|")  # type: ignore[call-overload]
    except _READ_ERRORS as exc:
        raise CorruptBundle(f"not a readable tar archive: {exc}") from exc


def _iter_members(capped: _CappedReader, max_bytes: int) -> Iterator[ArchiveMember]:
    with _open_stream(capped) as tar:
        yield from _members(tar, max_bytes)
    try:
        while capped.read(CHUNK_BYTES):
            pass
    except _READ_ERRORS as exc:
        raise CorruptBundle(f"archive is damaged after its last member: {exc}") from exc


def _members(tar: tarfile.TarFile, max_bytes: int) -> Iterator[ArchiveMember]:
    seen: set[str] = set()
    declared = count = 0
    while True:
        try:
            info = tar.next()
        except _READ_ERRORS as exc:
            raise CorruptBundle(f"unreadable archive member header: {exc}") from exc
        if info is None:
            break
        count += 1
        if count > MAX_MEMBERS:
            raise BundleTooLarge(f"archive has more than {MAX_MEMBERS} members")
        problem = _member_problem(info)
        if problem:
            raise UnsafeMember(f"member {info.name!r}: {problem}")
        if info.isdir():
            continue
        if info.name in seen:
            raise UnsafeMember(f"member {info.name!r} appears twice")
        seen.add(info.name)
        declared += info.size
        if declared > max_bytes:
            raise BundleTooLarge(f"archive members add up to more than {max_bytes} bytes")
        fh = tar.extractfile(info)
        if fh is None:  # pragma: no cover - regular files always have data
            raise CorruptBundle(f"member {info.name!r} has no data")
        yield ArchiveMember(info.name, info.size, fh)
