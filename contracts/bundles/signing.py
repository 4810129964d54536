"""ECDSA P-256 / SHA-256 keys, the `Signer` protocol and offline signature checks.

Signatures are DER-encoded ECDSA over the raw message bytes, the same as AWS KMS returns for
`SigningAlgorithm=ECDSA_SHA_256, MessageType=RAW`. A key's fingerprint is the first 16 hex digits of
sha256 over its public key's DER SubjectPublicKeyInfo; trusted keys are matched by fingerprint.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from contracts.bundles.errors import KeyFileError

SIGNING_ALGORITHM = "ECDSA_SHA_256"
PRIVATE_KEY_NAME = "signing-key.pem"
PUBLIC_KEY_NAME = "signing-key.pub.pem"
MAX_KEY_FILE_BYTES = 64 * 1024
_ECDSA = ec.ECDSA(hashes.SHA256())


@runtime_checkable
class Signer(Protocol):
    """Signs manifest bytes with an ECDSA P-256 key it may not expose (a local file, a KMS key)."""

    @property
    def key_id(self) -> str:
        """What the manifest records as `signer_key_id`: the fingerprint, or a KMS key ARN."""
        ...

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def sign(self, message: bytes) -> bytes:
        """A DER ECDSA-SHA256 signature over `message` (the raw bytes, not a digest)."""
        ...


def _require_p256(key: object, what: str) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{what} is not an ECDSA key")
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{what} is an ECDSA key on {key.curve.name}, not P-256")


def fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def public_key_pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return public_key.public_bytes(serialization.Encoding.PEM, spki)


def public_key_from_der(der: bytes, what: str = "public key") -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{what} is not a DER public key") from exc
    _require_p256(key, what)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class TrustedKey:
    """A public key a device trusts to sign bundles (several may be trusted at once, for rotation)."""

    public_key: ec.EllipticCurvePublicKey
    label: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @classmethod
    def from_pem(cls, pem: bytes, label: str = "public key") -> TrustedKey:
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"{label} is not a PEM public key") from exc
        _require_p256(key, label)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return cls(key, label)

    @classmethod
    def from_file(cls, path: Path) -> TrustedKey:
        return cls.from_pem(_read_key_file(Path(path)), label=str(path))

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message, _ECDSA)
        except InvalidSignature:
            return False
        return True


class LocalSigner:
    """A development signer holding an ECDSA P-256 private key in memory."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        _require_p256(private_key, "signing key")
        self._key = private_key

    @classmethod
    def generate(cls) -> LocalSigner:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_file(cls, path: Path) -> LocalSigner:
        path = Path(path)
        try:
            key = serialization.load_pem_private_key(_read_key_file(path), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"{path} is not an unencrypted PEM private key") from exc
        _require_p256(key, str(path))
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(key)

    @property
    def key_id(self) -> str:
        return fingerprint(self._key.public_key())

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, _ECDSA)

    def private_key_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())


def write_key_pair(out_dir: Path, signer: LocalSigner, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write `signing-key.pem` (mode 0600) and `signing-key.pub.pem` into `out_dir`."""
    out_dir = Path(out_dir)
    private, public = out_dir / PRIVATE_KEY_NAME, out_dir / PUBLIC_KEY_NAME
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not overwrite:
            existing = [p for p in (private, public) if p.exists()]
            if existing:
                raise KeyFileError(f"{existing[0]} already exists (pass --force to replace it)")
        for path in (private, public):
            path.unlink(missing_ok=True)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(signer.private_key_pem())
        public.write_bytes(public_key_pem(signer.public_key()))
    except OSError as exc:
        raise KeyFileError(f"cannot write keys into {out_dir}: {exc.strerror or exc}") from exc
    return private, public
