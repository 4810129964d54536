"""Offline verification of a bundle, exactly as the OTA agent does it before staging anything.

Nothing is written to disk. Order: size cap -> one streaming pass (safe members, corrupt archive,
every file hashed) -> manifest and signature present -> manifest well-formed -> signer trusted ->
signature over the exact manifest bytes -> files match the manifest both ways -> device class ->
anti-rollback against the installed version (unless the manifest is a signed rollback).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from contracts.bundles.archive import DEFAULT_MAX_BYTES, check_archive_size, open_members
from contracts.bundles.errors import (
    BadSignature,
    FileMismatch,
    InvalidManifest,
    MissingFile,
    MissingManifest,
    MissingSignature,
    NotNewer,
    UnknownKey,
    UnlistedFile,
    WrongDeviceClass,
)
from contracts.bundles.manifest import MANIFEST_NAME, SIGNATURE_NAME, DeviceClass, Manifest
from contracts.bundles.signing import TrustedKey
from contracts.errors import first_validation_error

MAX_MANIFEST_BYTES = 4 << 20
MAX_SIGNATURE_BYTES = 1024

InstalledVersions = int | Mapping[str, int] | None


@dataclass(frozen=True)
class FileDigest:
    sha256: str
    size: int


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that passed every check; hand it to `extract_verified` to stage it."""

    path: Path
    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes
    key: TrustedKey
    archive_bytes: int
    max_bytes: int
    downgrade: bool  # older than (or equal to) the installed version, allowed as a signed rollback

    @property
    def rollback(self) -> bool:
        return self.manifest.rollback

    def summary(self) -> str:
        m = self.manifest
        kind = " (signed rollback)" if m.rollback else ""
        return (f"{m.describe()} for {m.device_class.value}{kind}, {len(m.files)} files, "
                f"{m.total_size} bytes, signed by {m.signer_key_id} (key {self.key.fingerprint})")


@dataclass(frozen=True)
class _Scan:
    manifest: bytes | None
    signature: bytes | None
    files: dict[str, FileDigest]



def read_manifest_member(member) -> bytes:
    """The manifest's bytes, refusing one over MAX_MANIFEST_BYTES before reading it."""
    if member.size > MAX_MANIFEST_BYTES:
        raise InvalidManifest(f"{MANIFEST_NAME} is {member.size} bytes, over {MAX_MANIFEST_BYTES}")
    return member.read_all()

def _scan(path: Path, max_bytes: int) -> _Scan:
    manifest = signature = None
    files: dict[str, FileDigest] = {}
    with open_members(path, max_bytes) as members:
        for member in members:
            if member.name == MANIFEST_NAME:
                manifest = read_manifest_member(member)
            elif member.name == SIGNATURE_NAME:
                if member.size > MAX_SIGNATURE_BYTES:
                    raise BadSignature(f"{SIGNATURE_NAME} is {member.size} bytes, not an ECDSA signature")
                signature = member.read_all()
            else:
                h = hashlib.sha256()
                for chunk in member.chunks():
                    h.update(chunk)
                files[member.name] = FileDigest(h.hexdigest(), member.size)
    return _Scan(manifest, signature, files)


def parse_manifest(data: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise InvalidManifest(f"{MANIFEST_NAME} is malformed at {first_validation_error(exc, 'manifest')}") from exc


def _authentic(data: bytes, signature: bytes,
               trusted_keys: Sequence[TrustedKey]) -> tuple[Manifest, TrustedKey]:
    """The manifest and the trusted key whose signature over `data` verifies.

    The signature is checked against every trusted key before the manifest is read; the manifest's
    own signer fields only explain a failure (unknown key vs. bad signature) or must agree on success.
    """
    key = next((k for k in trusted_keys if k.verifies(data, signature)), None)
    manifest = parse_manifest(data)
    if key is None:
        claimed = manifest.signer_fingerprint
        if all(k.fingerprint != claimed for k in trusted_keys):
            raise UnknownKey(f"signed by {manifest.signer_key_id} (key {claimed}), "
                             f"which is not among the {len(trusted_keys)} trusted key(s)")
        raise BadSignature(f"{SIGNATURE_NAME} does not verify against key {claimed} over the manifest bytes")
    if key.fingerprint != manifest.signer_fingerprint:
        raise InvalidManifest(f"manifest names key {manifest.signer_fingerprint} but is signed by "
                              f"key {key.fingerprint}")
    return manifest, key


def _check_files(manifest: Manifest, files: Mapping[str, FileDigest]) -> None:
    for entry in manifest.files:
        got = files.get(entry.path)
        if got is None:
            raise MissingFile(f"{entry.path} is listed in the manifest but not in the archive")
        if got.size != entry.size:
            raise FileMismatch(f"{entry.path} is {got.size} bytes, the manifest says {entry.size}")
        if got.sha256 != entry.sha256:
            raise FileMismatch(f"{entry.path} has sha256 {got.sha256[:16]}..., "
                               f"the manifest says {entry.sha256[:16]}...")
    listed = {f.path for f in manifest.files}
    extra = sorted(set(files) - listed)
    if extra:
        raise UnlistedFile(f"{extra[0]} is in the archive but not in the manifest")


def _installed(installed_version: InstalledVersions, model: str) -> int | None:
    if installed_version is None or isinstance(installed_version, int):
        return installed_version
    return installed_version.get(model)


def _check_versions(manifest: Manifest, installed_version: InstalledVersions) -> bool:
    downgrade = False
    for m in manifest.models:
        installed = _installed(installed_version, m.name)
        if installed is None or m.version > installed:
            continue
        if not manifest.rollback:
            raise NotNewer(f"{m.name} v{m.version} is not newer than installed v{installed} "
                           f"and the bundle is not a signed rollback")
        downgrade = True
    return downgrade


def verify_bundle(path: Path, trusted_keys: Sequence[TrustedKey],
                  device_class: DeviceClass | str | None = None, installed_version: InstalledVersions = None,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> VerifiedBundle:
    """Check a bundle offline; raise a `BundleRefused` subclass naming the first failed check.

    `installed_version` is one version for every model in the bundle or a {model: version} map (a
    model missing from the map is not installed). A manifest with `rollback: true` may be older than
    what is installed; approving that rollback against the registry is the caller's job.
    """
    path = Path(path)
    archive_bytes = check_archive_size(path, max_bytes)
    scan = _scan(path, max_bytes)
    if scan.manifest is None:
        raise MissingManifest(f"the archive has no {MANIFEST_NAME}")
    if scan.signature is None:
        raise MissingSignature(f"the archive has no {SIGNATURE_NAME}")
    manifest, key = _authentic(scan.manifest, scan.signature, trusted_keys)
    _check_files(manifest, scan.files)
    if device_class is not None and manifest.device_class != DeviceClass(device_class):
        raise WrongDeviceClass(f"bundle is for {manifest.device_class.value} devices, "
                               f"this one is {DeviceClass(device_class).value}")
    downgrade = _check_versions(manifest, installed_version)
    return VerifiedBundle(path=path, manifest=manifest, manifest_bytes=scan.manifest,
                          signature=scan.signature, key=key, archive_bytes=archive_bytes,
                          max_bytes=max_bytes, downgrade=downgrade)
