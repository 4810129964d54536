"""`edgecv bundle ...`: exit codes (0 accepted, 1 refused, 2 usage) and one-line messages, no tracebacks."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from edgecv.cli import app

runner = CliRunner()


def run(*args: str | Path) -> Result:
    result = runner.invoke(app, ["bundle", *map(str, args)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("keys")
    assert run("keygen", "--out", out).exit_code == 0
    return out


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "detector"
    (model / "3").mkdir(parents=True)
    (model / "config.pbtxt").write_text('name: "detector"\n')
    (model / "3" / "model.onnx").write_bytes(b"\x08\x07onnx" * 100)
    (model / "3" / "lineage.json").write_text(json.dumps(
        {"code_commit": "feed", "dataset": {"sha256": "e" * 64}, "eval_golden": {"ocr": {"cer": 0.01}}}))
    return model


@pytest.fixture
def bundle(model_dir: Path, keys: Path, tmp_path: Path) -> Path:
    out = tmp_path / "detector-3.tar.gz"
    result = run("build", model_dir, "--version", "3", "--device-class", "cpu",
                 "--key", keys / "signing-key.pem", "--out", out, "--training-job-id", "job-9")
    assert result.exit_code == 0, result.output
    assert one_line(result).startswith(f"built {out}: detector v3 for cpu, 3 files")
    return out


def test_keygen_writes_a_private_key_only_its_owner_reads(keys: Path) -> None:
    private = keys / "signing-key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (keys / "signing-key.pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_keygen_refuses_to_overwrite_without_force(keys: Path) -> None:
    before = (keys / "signing-key.pem").read_bytes()
    result = run("keygen", "--out", keys)
    assert result.exit_code == 2 and "already exists" in one_line(result)
    assert (keys / "signing-key.pem").read_bytes() == before


def test_verify_accepts(bundle: Path, keys: Path) -> None:
    result = run("verify", bundle, "--public-key", keys / "signing-key.pub.pem", "--device-class", "cpu",
                 "--installed-version", "2")
    assert result.exit_code == 0, result.output
    assert one_line(result).startswith("accepted: detector v3 for cpu, 3 files")


def test_verify_with_several_keys(bundle: Path, keys: Path, tmp_path: Path) -> None:
    assert run("keygen", "--out", tmp_path / "new").exit_code == 0
    result = run("verify", bundle, "--public-key", tmp_path / "new" / "signing-key.pub.pem",
                 "--public-key", keys / "signing-key.pub.pem")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("extra", "reason"), [
    (["--installed-version", "3"], "not_newer"),
    (["--installed-version", "10"], "not_newer"),
    (["--device-class", "gpu"], "wrong_device_class"),
])
def test_verify_refuses_by_policy(bundle: Path, keys: Path, extra: list[str], reason: str) -> None:
    result = run("verify", bundle, "--public-key", keys / "signing-key.pub.pem", *extra)
    assert result.exit_code == 1
    assert one_line(result).startswith(f"refused ({reason}): ")


def test_verify_refuses_an_unknown_key(bundle: Path, tmp_path: Path) -> None:
    assert run("keygen", "--out", tmp_path / "stranger").exit_code == 0
    result = run("verify", bundle, "--public-key", tmp_path / "stranger" / "signing-key.pub.pem")
    assert result.exit_code == 1 and one_line(result).startswith("refused (unknown_key): ")


def test_verify_refuses_a_tampered_file(bundle: Path, keys: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(bundle) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith("model.onnx"):
                data = data[::-1]
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    result = run("verify", tampered, "--public-key", keys / "signing-key.pub.pem")
    assert result.exit_code == 1
    assert one_line(result).startswith("refused (file_mismatch): detector/3/model.onnx")


def test_verify_refuses_a_truncated_bundle(bundle: Path, keys: Path) -> None:
    bundle.write_bytes(bundle.read_bytes()[:300])
    result = run("verify", bundle, "--public-key", keys / "signing-key.pub.pem")
    assert result.exit_code == 1 and one_line(result).startswith("refused (corrupt): ")


def test_verify_refuses_over_the_size_cap(bundle: Path, keys: Path) -> None:
    result = run("verify", bundle, "--public-key", keys / "signing-key.pub.pem", "--max-bytes", "100")
    assert result.exit_code == 1 and one_line(result).startswith("refused (too_large): ")


def test_rollback_is_accepted_when_signed(model_dir: Path, keys: Path, tmp_path: Path) -> None:
    out = tmp_path / "rollback.tar.gz"
    assert run("build", model_dir, "--version", "3", "--device-class", "gpu",
               "--key", keys / "signing-key.pem", "--out", out, "--rollback").exit_code == 0
    result = run("verify", out, "--public-key", keys / "signing-key.pub.pem", "--installed-version", "7")
    assert result.exit_code == 0 and "signed rollback" in one_line(result)


@pytest.mark.parametrize("args", [
    ["verify"],                                                   # missing BUNDLE
    ["verify", "{bundle}"],                                       # missing --public-key
    ["verify", "{tmp}/nope.tar.gz", "--public-key", "{pub}"],     # bundle does not exist
    ["verify", "{bundle}", "--public-key", "{tmp}/nope.pem"],     # key does not exist
    ["verify", "{bundle}", "--public-key", "{priv}"],             # a private key is not a public key
    ["verify", "{bundle}", "--public-key", "{bundle}"],           # not PEM at all
    ["verify", "{bundle}", "--public-key", "{pub}", "--installed-version", "two"],
    ["verify", "{bundle}", "--public-key", "{pub}", "--device-class", "tpu"],
    ["build", "{tmp}/nope", "--version", "3", "--device-class", "cpu", "--key", "{priv}", "--out", "{tmp}/o"],
    ["build", "{model}", "--version", "4", "--device-class", "cpu", "--key", "{priv}", "--out", "{tmp}/o"],
    ["build", "{model}", "--version", "3", "--device-class", "cpu", "--out", "{tmp}/o"],
    ["build", "{model}", "--version", "3", "--device-class", "cpu", "--key", "{pub}", "--out", "{tmp}/o"],
    ["build", "{model}", "--version", "3", "--device-class", "cpu", "--key", "{priv}", "--kms-key-id", "k",
     "--out", "{tmp}/o"],
    ["build", "{model}", "--version", "3", "--device-class", "cpu", "--key", "{priv}", "--out", "{tmp}/o",
     "--lineage", "{bundle}"],
    ["inspect"],
    ["inspect", "{tmp}/nope.tar.gz"],
])
def test_usage_errors_exit_2(args: list[str], bundle: Path, keys: Path, model_dir: Path,
                             tmp_path: Path) -> None:
    values = {"bundle": bundle, "tmp": tmp_path, "pub": keys / "signing-key.pub.pem",
              "priv": keys / "signing-key.pem", "model": model_dir}
    result = run(*[a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "o").exists()


def test_our_usage_errors_are_one_line(bundle: Path, keys: Path) -> None:
    result = run("verify", bundle, "--public-key", keys / "signing-key.pem")
    assert one_line(result) == f"error: {keys / 'signing-key.pem'} is not a PEM public key"


def test_inspect_prints_manifest_and_lineage(bundle: Path) -> None:
    result = run("inspect", bundle)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "NOT verified" in text and "detector v3" in text and "code commit feed, training job job-9" in text
    assert f"dataset snapshot {'e' * 64}" in text and '"cer": 0.01' in text
    manifest = json.loads(run("inspect", bundle, "--json").output)
    assert manifest["lineage"]["eval_metrics"] == {"ocr": {"cer": 0.01}}
    assert manifest["format"] == "edgecv-bundle/1"


def test_inspect_of_garbage_fails_in_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + b"junk" * 10)
    result = run("inspect", junk)
    assert result.exit_code == 1 and one_line(result).startswith("error: cannot read the manifest (corrupt)")
