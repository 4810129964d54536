"""Reading a bundle's manifest without verifying anything (for `edgecv bundle inspect`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.bundles.archive import DEFAULT_MAX_BYTES, open_members
from contracts.bundles.errors import MissingManifest
from contracts.bundles.manifest import MANIFEST_NAME, SIGNATURE_NAME, Manifest
from contracts.bundles.verify import parse_manifest, read_manifest_member


@dataclass(frozen=True)
class UnverifiedManifest:
    """What a bundle says about itself; nothing here has been checked against a key or the files."""

    manifest: Manifest
    raw: bytes
    has_signature: bool
    member_names: tuple[str, ...]


def read_manifest_unverified(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> UnverifiedManifest:
    raw: bytes | None = None
    has_signature = False
    names: list[str] = []
    with open_members(Path(path), max_bytes) as members:
        for member in members:
            names.append(member.name)
            if member.name == MANIFEST_NAME:
                raw = read_manifest_member(member)
            elif member.name == SIGNATURE_NAME:
                has_signature = True
    if raw is None:
        raise MissingManifest(f"the archive has no {MANIFEST_NAME}")
    return UnverifiedManifest(parse_manifest(raw), raw, has_signature, tuple(names))
