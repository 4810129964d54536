"""A bundle `Signer` backed by an AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY).

Signs the raw manifest bytes (`MessageType=RAW`, `ECDSA_SHA_256`): KMS hashes them itself and returns
a DER signature that verifies offline with `cryptography` against the key's `GetPublicKey` DER.
KMS takes at most 4096 bytes of RAW message; a longer manifest is hashed here and sent as
`MessageType=DIGEST`, which yields the same ECDSA-over-SHA-256 signature in AWS (moto's DIGEST mode
does not, so local runs keep manifests under the limit; the builder's self-check would catch it).
Works against moto's server through `endpoint_url` (or the `AWS_ENDPOINT_URL` environment variable).
"""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.asymmetric import ec

from contracts.bundles import SIGNING_ALGORITHM, KeyFileError, SigningError, public_key_from_der

KEY_SPEC = "ECC_NIST_P256"
DEFAULT_LOCAL_REGION = "us-east-1"
MAX_RAW_MESSAGE_BYTES = 4096


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def kms_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A KMS client; with an endpoint URL and no configured region, the region defaults to us-east-1."""
    try:
        session = boto3.session.Session()
        region = region or session.region_name or (DEFAULT_LOCAL_REGION if endpoint_url else None)
        return session.client("kms", endpoint_url=endpoint_url, region_name=region)
    except (BotoCoreError, ValueError) as exc:
        raise SigningError(f"cannot create a KMS client: {_describe(exc)}") from exc


class KmsSigner:
    """Signs with a KMS key; `key_id` is what GetPublicKey reports (the key ARN in AWS, the id in moto)."""

    def __init__(self, client: Any, key_id: str) -> None:
        self._client = client
        try:
            reply = client.get_public_key(KeyId=key_id)
        except (BotoCoreError, ClientError) as exc:
            raise SigningError(f"KMS GetPublicKey failed for {key_id}: {_describe(exc)}") from exc
        spec = reply.get("KeySpec") or reply.get("CustomerMasterKeySpec")  # moto sends only the old name
        if reply.get("KeyUsage") != "SIGN_VERIFY" or spec != KEY_SPEC:
            raise SigningError(f"KMS key {key_id} is {spec}/{reply.get('KeyUsage')}, "
                               f"not {KEY_SPEC}/SIGN_VERIFY")
        if SIGNING_ALGORITHM not in reply.get("SigningAlgorithms", []):
            raise SigningError(f"KMS key {key_id} does not offer {SIGNING_ALGORITHM}")
        try:
            self._public_key = public_key_from_der(reply["PublicKey"], f"KMS key {key_id}")
        except KeyFileError as exc:
            raise SigningError(str(exc)) from exc
        self._key_id = str(reply.get("KeyId") or key_id)

    @classmethod
    def connect(cls, key_id: str, endpoint_url: str | None = None, region: str | None = None) -> KmsSigner:
        return cls(kms_client(endpoint_url, region), key_id)

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        if len(message) <= MAX_RAW_MESSAGE_BYTES:
            payload, message_type = message, "RAW"
        else:
            payload, message_type = hashlib.sha256(message).digest(), "DIGEST"
        try:
            reply = self._client.sign(KeyId=self._key_id, Message=payload, MessageType=message_type,
                                      SigningAlgorithm=SIGNING_ALGORITHM)
        except (BotoCoreError, ClientError) as exc:
            raise SigningError(f"KMS Sign failed for {self._key_id}: {_describe(exc)}") from exc
        return bytes(reply["Signature"])
