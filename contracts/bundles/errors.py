"""Why a bundle is refused, built or signed badly: one exception type per failure class.

Every refusal is a `BundleRefused` carrying a machine-readable `reason` (what the OTA agent reports
upstream) and a one-line message (what a person reads). Catch `BundleRefused` for all of them, or a
subclass for one failure class.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from contracts.errors import EdgecvError


class RefusalReason(StrEnum):
    TOO_LARGE = "too_large"
    CORRUPT = "corrupt"
    UNSAFE_MEMBER = "unsafe_member"
    MISSING_MANIFEST = "missing_manifest"
    MISSING_SIGNATURE = "missing_signature"
    MANIFEST_INVALID = "manifest_invalid"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    UNLISTED_FILE = "unlisted_file"
    MISSING_FILE = "missing_file"
    FILE_MISMATCH = "file_mismatch"
    WRONG_DEVICE_CLASS = "wrong_device_class"
    NOT_NEWER = "not_newer"


class BundleRefused(EdgecvError):  # noqa: N818 - the name says what happened to the bundle
    """A bundle failed a check; nothing from it may be staged."""

    reason: ClassVar[RefusalReason]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"


class BundleTooLarge(BundleRefused):
    reason = RefusalReason.TOO_LARGE


class CorruptBundle(BundleRefused):
    reason = RefusalReason.CORRUPT


class UnsafeMember(BundleRefused):
    reason = RefusalReason.UNSAFE_MEMBER


class MissingManifest(BundleRefused):
    reason = RefusalReason.MISSING_MANIFEST


class MissingSignature(BundleRefused):
    reason = RefusalReason.MISSING_SIGNATURE


class InvalidManifest(BundleRefused):
    reason = RefusalReason.MANIFEST_INVALID


class UnknownKey(BundleRefused):
    reason = RefusalReason.UNKNOWN_KEY


class BadSignature(BundleRefused):
    reason = RefusalReason.BAD_SIGNATURE


class UnlistedFile(BundleRefused):
    reason = RefusalReason.UNLISTED_FILE


class MissingFile(BundleRefused):
    reason = RefusalReason.MISSING_FILE


class FileMismatch(BundleRefused):
    reason = RefusalReason.FILE_MISMATCH


class WrongDeviceClass(BundleRefused):
    reason = RefusalReason.WRONG_DEVICE_CLASS


class NotNewer(BundleRefused):
    reason = RefusalReason.NOT_NEWER


class BundleBuildError(EdgecvError):
    """The inputs of a bundle build are missing or malformed (model folder, version, lineage)."""


class KeyFileError(EdgecvError):
    """A key file is unreadable, malformed, or not an ECDSA P-256 key."""


class SigningError(EdgecvError):
    """The signer failed or returned a signature that does not verify against its own public key."""


class BundleExtractError(EdgecvError):
    """A verified bundle cannot be extracted to the requested place (destination exists, I/O error)."""
