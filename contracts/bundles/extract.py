"""Staging a verified bundle: stream it again into a private temp folder, re-checking every file
against the verified manifest while writing, then rename the folder into place in one step.

The result holds the Triton repository fragment (`<model>/config.pbtxt`, `<model>/<version>/...`)
plus the verified `manifest.json` and `manifest.sig`. On any failure the temp folder is removed and
`dest_dir` does not exist.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from contracts.bundles.archive import ArchiveMember, open_members
from contracts.bundles.errors import BundleExtractError, FileMismatch, MissingFile, UnlistedFile, UnsafeMember
from contracts.bundles.manifest import MANIFEST_NAME, SIGNATURE_NAME
from contracts.bundles.verify import VerifiedBundle
from contracts.durable import fsync_dir as _fsync_dir


def _write_member(bundle: VerifiedBundle, member: ArchiveMember, root: Path) -> None:
    entry = bundle.manifest.file(member.name)
    if entry is None:
        raise UnlistedFile(f"{member.name} is in the archive but not in the manifest")
    if member.size != entry.size:
        raise FileMismatch(f"{member.name} is {member.size} bytes, the manifest says {entry.size}")
    target = root.joinpath(*member.name.split("/"))
    if not target.resolve().is_relative_to(root.resolve()):
        raise UnsafeMember(f"member {member.name!r} resolves outside the staging folder")
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    h = hashlib.sha256()
    with target.open("xb") as fh:
        for chunk in member.chunks():
            h.update(chunk)
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    target.chmod(0o644)
    if h.hexdigest() != entry.sha256:
        raise FileMismatch(f"{member.name} changed since it was verified (sha256 differs)")


def _extract_into(bundle: VerifiedBundle, root: Path) -> None:
    written: set[str] = set()
    with open_members(bundle.path, bundle.max_bytes) as members:
        for member in members:
            if member.name in (MANIFEST_NAME, SIGNATURE_NAME):
                expected = bundle.manifest_bytes if member.name == MANIFEST_NAME else bundle.signature
                if member.size != len(expected) or member.read_all() != expected:
                    raise FileMismatch(f"{member.name} changed since the bundle was verified")
                continue
            _write_member(bundle, member, root)
            written.add(member.name)
    missing = [f.path for f in bundle.manifest.files if f.path not in written]
    if missing:
        raise MissingFile(f"{missing[0]} disappeared from the archive since it was verified")
    (root / MANIFEST_NAME).write_bytes(bundle.manifest_bytes)
    (root / SIGNATURE_NAME).write_bytes(bundle.signature)
    for folder, _, _ in os.walk(root):
        _fsync_dir(Path(folder))


def extract_verified(bundle: VerifiedBundle, dest_dir: Path) -> Path:
    """Extract `bundle` into `dest_dir` (which must not exist yet); return `dest_dir`."""
    dest = Path(dest_dir)
    if dest.exists():
        raise BundleExtractError(f"{dest} already exists; refusing to extract over it")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
    except OSError as exc:
        raise BundleExtractError(f"cannot create a staging folder beside {dest}: "
                                 f"{exc.strerror or exc}") from exc
    try:
        staging.chmod(0o755)
        _extract_into(bundle, staging)
        os.rename(staging, dest)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BundleExtractError(f"cannot extract {bundle.path} into {dest}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        _fsync_dir(dest.parent)
    except OSError as exc:
        raise BundleExtractError(f"cannot sync {dest.parent} after extracting: "
                                 f"{exc.strerror or exc}") from exc
    return dest
