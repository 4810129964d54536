"""Production versions the shipped repository lacks, fetched from their signed bundles.

The gate judges a candidate inside the ensemble production serves: every other network at its production
version. Version 1 ships in `model_repository/`; a later approved version exists only as the signed bundle
the registry names (`bundle_uri`, `bundle_sha256` in the model package's metadata). Each such bundle is
downloaded, checked against the registered sha256, verified against the signing key's public half (the same
checks a device makes before it loads a bundle) and extracted; its version folder joins the candidate
repository. A bundle that fails any check stops the evaluation: a gate must never score a stand-in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from contracts.bundles import (
    BundleExtractError,
    BundleRefused,
    KeyFileError,
    TrustedKey,
    extract_verified,
    public_key_from_der,
    verify_bundle,
)
from lambdas.common.errors import EvaluationError
from lambdas.common.registry import PackageVersion

BUNDLE_URI = "bundle_uri"
BUNDLE_SHA256 = "bundle_sha256"


def signing_public_key(kms: Any, key_id: str) -> TrustedKey:
    """The public half of the bundle-signing KMS key (`kms:GetPublicKey`)."""
    if not key_id:
        raise EvaluationError("SIGNING_KEY_ID is not set: production bundles cannot be verified")
    try:
        der = kms.get_public_key(KeyId=key_id)["PublicKey"]
        return TrustedKey(public_key_from_der(der, f"KMS key {key_id}"), label=key_id)
    except ClientError as exc:
        raise EvaluationError(f"GetPublicKey {key_id}: {exc.response['Error']['Message']}") from exc
    except KeyFileError as exc:
        raise EvaluationError(str(exc)) from exc


def _bundle_location(network: str, package: PackageVersion) -> tuple[str, str, str]:
    uri, sha = package.metadata.get(BUNDLE_URI, ""), package.metadata.get(BUNDLE_SHA256, "")
    if not uri.startswith("s3://") or not sha:
        raise EvaluationError(f"production {network} v{package.version} has no registered bundle "
                              f"({BUNDLE_URI}/{BUNDLE_SHA256} missing from {package.arn})")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key, sha


def fetch_production_version(s3: Any, trusted: TrustedKey, network: str, package: PackageVersion,
                             dest: Path) -> Path:
    """Download, check and extract the bundle of `network` v`package.version`; return its version folder."""
    bucket, key, want_sha = _bundle_location(network, package)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{network}-{package.version}.tar.gz"
    try:
        s3.download_file(bucket, key, str(archive))
    except ClientError as exc:
        raise EvaluationError(f"production {network} v{package.version}: cannot fetch s3://{bucket}/{key}: "
                              f"{exc.response['Error'].get('Message') or exc.response['Error']['Code']}") from exc
    got_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    if got_sha != want_sha:
        raise EvaluationError(f"production {network} v{package.version}: s3://{bucket}/{key} has sha256 "
                              f"{got_sha[:12]}..., the registry says {want_sha[:12]}...")
    try:
        verified = verify_bundle(archive, [trusted])
        if not any(m.name == network and m.version == package.version for m in verified.manifest.models):
            raise EvaluationError(f"production {network} v{package.version}: s3://{bucket}/{key} holds "
                                  f"{[f'{m.name}/{m.version}' for m in verified.manifest.models]}")
        files = extract_verified(verified, dest / f"{network}-{package.version}")
    except (BundleRefused, BundleExtractError) as exc:
        raise EvaluationError(f"production {network} v{package.version}: bundle refused: {exc}") from exc
    return files / network / str(package.version)


def fetch_production_versions(s3: Any, kms: Any, key_id: str, production: Mapping[str, PackageVersion | None],
                              base_version: int, dest: Path) -> dict[str, Path]:
    """{network: version folder} for every production version above `base_version` (the shipped one)."""
    needed = {n: p for n, p in production.items() if p is not None and p.version > base_version}
    if not needed:
        return {}
    trusted = signing_public_key(kms, key_id)
    return {network: fetch_production_version(s3, trusted, network, package, dest)
            for network, package in sorted(needed.items())}
