"""Bundles signed by a KMS key (moto's server over HTTP), verified offline with `cryptography` only."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from typer.testing import CliRunner

from contracts.bundles import (
    LocalSigner,
    ModelSource,
    SigningError,
    TrustedKey,
    build_bundle,
    public_key_from_der,
    verify_bundle,
)

pytest.importorskip("moto.server")
from moto.server import ThreadedMotoServer

from edgecv.cli import app
from edgecv.kms_signer import MAX_RAW_MESSAGE_BYTES, KmsSigner, kms_client

pytestmark = pytest.mark.integration
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture(scope="module")
def kms_key(endpoint: str) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        client = kms_client(endpoint, REGION)
        meta = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY",
                                 Description="edgecv bundle signing (test)")["KeyMetadata"]
        der = client.get_public_key(KeyId=meta["KeyId"])["PublicKey"]
    return {"id": meta["KeyId"], "arn": meta["Arn"], "der": der}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "ocr"
    (model / "4").mkdir(parents=True)
    (model / "config.pbtxt").write_text('name: "ocr"\n')
    (model / "4" / "model.onnx").write_bytes(b"onnx" * 256)
    return model


def test_kms_signed_bundle_verifies_offline(endpoint: str, kms_key: dict[str, Any], model_dir: Path,
                                            tmp_path: Path) -> None:
    signer = KmsSigner.connect(kms_key["id"], endpoint_url=endpoint, region=REGION)
    assert signer.key_id in (kms_key["arn"], kms_key["id"])  # AWS reports the ARN, moto the id
    built = build_bundle([ModelSource(model_dir, 4)], "gpu", signer, tmp_path / "ocr-4.tar.gz")
    # offline: nothing but the provisioned public key (GetPublicKey's DER) and cryptography
    trusted = TrustedKey(public_key_from_der(kms_key["der"]), "kms")
    verified = verify_bundle(built.path, [trusted], device_class="gpu", installed_version=3)
    assert verified.manifest.signer_key_id == signer.key_id
    trusted.public_key.verify(verified.signature, verified.manifest_bytes, ec.ECDSA(hashes.SHA256()))


def test_cli_build_with_kms_then_verify(endpoint: str, kms_key: dict[str, Any], model_dir: Path,
                                        tmp_path: Path) -> None:
    out, pub = tmp_path / "ocr-4.tar.gz", tmp_path / "kms.pub.pem"
    runner = CliRunner()
    built = runner.invoke(app, ["bundle", "build", str(model_dir), "--version", "4", "--device-class", "cpu",
                                "--kms-key-id", kms_key["id"], "--endpoint-url", endpoint, "--region", REGION,
                                "--out", str(out), "--public-key-out", str(pub)])
    assert built.exit_code == 0, built.output
    assert kms_key["id"] in built.output
    checked = runner.invoke(app, ["bundle", "verify", str(out), "--public-key", str(pub),
                                  "--device-class", "cpu"])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("accepted: ocr v4 for cpu")


def test_cli_build_with_an_unknown_kms_key_fails_in_one_line(endpoint: str, model_dir: Path,
                                                             tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bundle", "build", str(model_dir), "--version", "4",
                                      "--device-class", "cpu", "--kms-key-id", "alias/nope",
                                      "--endpoint-url", endpoint, "--out", str(tmp_path / "b.tgz")])
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith("error: KMS GetPublicKey failed for alias/nope")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b.tgz").exists()


def test_kms_key_of_the_wrong_kind_is_refused(endpoint: str) -> None:
    client = kms_client(endpoint, REGION)
    rsa = client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(SigningError, match="not ECC_NIST_P256"):
        KmsSigner(client, rsa)


class _DigestOnlyKms:
    """Stands in for AWS where a manifest is over KMS's 4096-byte RAW limit (moto's DIGEST mode is fake)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.local = LocalSigner(self.key)
        self.calls: list[str] = []

    def get_public_key(self, KeyId: str) -> dict[str, Any]:  # noqa: N803 - boto3's argument names
        from cryptography.hazmat.primitives import serialization

        der = self.local.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"KeyId": f"arn:aws:kms:{REGION}:123456789012:key/{KeyId}", "PublicKey": der,
                "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "SigningAlgorithms": ["ECDSA_SHA_256"]}

    def sign(self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append(MessageType)
        assert SigningAlgorithm == "ECDSA_SHA_256"
        if MessageType == "RAW":
            assert len(Message) <= MAX_RAW_MESSAGE_BYTES
            return {"Signature": self.local.sign(Message)}
        assert len(Message) == 32
        return {"Signature": self.key.sign(Message, ec.ECDSA(utils.Prehashed(hashes.SHA256())))}


def test_large_manifest_is_signed_as_a_digest(model_dir: Path, tmp_path: Path) -> None:
    for i in range(60):  # enough files to push the manifest past 4096 bytes
        (model_dir / "4" / f"shard-{i:03d}.bin").write_bytes(hashlib.sha256(bytes([i])).digest())
    fake = _DigestOnlyKms()
    signer = KmsSigner(fake, "k1")
    built = build_bundle([ModelSource(model_dir, 4)], "cpu", signer, tmp_path / "big.tar.gz")
    assert len(built.manifest_bytes) > MAX_RAW_MESSAGE_BYTES and fake.calls == ["DIGEST"]
    assert verify_bundle(built.path, [TrustedKey(signer.public_key())]).manifest.signer_key_id.endswith("/k1")
