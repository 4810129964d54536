"""Signed model bundles (`edgecv-bundle/1`): build, sign, verify offline, extract.

    signer = LocalSigner.from_file(Path("keys/signing-key.pem"))
    build_bundle([ModelSource(Path("model_repository/detector"), 2)], "cpu", signer, Path("det-2.tar.gz"))
    bundle = verify_bundle(Path("det-2.tar.gz"), [TrustedKey.from_file(Path("keys/signing-key.pub.pem"))],
                           device_class="cpu", installed_version=1)
    extract_verified(bundle, Path("staging/det-2"))

Only pydantic, cryptography and the standard library here; a KMS signer lives in `edgecv.kms_signer`.
"""

from contracts.bundles.archive import DEFAULT_MAX_BYTES
from contracts.bundles.build import ModelSource, build_bundle, lineage_from_training, read_lineage
from contracts.bundles.errors import (
    BadSignature,
    BundleBuildError,
    BundleExtractError,
    BundleRefused,
    BundleTooLarge,
    CorruptBundle,
    FileMismatch,
    InvalidManifest,
    KeyFileError,
    MissingFile,
    MissingManifest,
    MissingSignature,
    NotNewer,
    RefusalReason,
    SigningError,
    UnknownKey,
    UnlistedFile,
    UnsafeMember,
    WrongDeviceClass,
)
from contracts.bundles.extract import extract_verified
from contracts.bundles.manifest import (
    BUNDLE_FORMAT,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    BundleFile,
    DeviceClass,
    Lineage,
    Manifest,
    ModelVersion,
    manifest_bytes,
)
from contracts.bundles.peek import read_manifest_unverified
from contracts.bundles.signing import (
    PRIVATE_KEY_NAME,
    PUBLIC_KEY_NAME,
    SIGNING_ALGORITHM,
    LocalSigner,
    Signer,
    TrustedKey,
    fingerprint,
    public_key_from_der,
    public_key_pem,
    write_key_pair,
)
from contracts.bundles.verify import VerifiedBundle, parse_manifest, verify_bundle

__all__ = [
    "BUNDLE_FORMAT",
    "DEFAULT_MAX_BYTES",
    "MANIFEST_NAME",
    "PRIVATE_KEY_NAME",
    "PUBLIC_KEY_NAME",
    "SIGNATURE_NAME",
    "SIGNING_ALGORITHM",
    "BadSignature",
    "BundleBuildError",
    "BundleExtractError",
    "BundleFile",
    "BundleRefused",
    "BundleTooLarge",
    "CorruptBundle",
    "DeviceClass",
    "FileMismatch",
    "InvalidManifest",
    "KeyFileError",
    "Lineage",
    "LocalSigner",
    "Manifest",
    "MissingFile",
    "MissingManifest",
    "MissingSignature",
    "ModelSource",
    "ModelVersion",
    "NotNewer",
    "RefusalReason",
    "Signer",
    "SigningError",
    "TrustedKey",
    "UnknownKey",
    "UnlistedFile",
    "UnsafeMember",
    "VerifiedBundle",
    "WrongDeviceClass",
    "build_bundle",
    "extract_verified",
    "fingerprint",
    "lineage_from_training",
    "manifest_bytes",
    "parse_manifest",
    "public_key_from_der",
    "public_key_pem",
    "read_lineage",
    "read_manifest_unverified",
    "verify_bundle",
    "write_key_pair",
]
