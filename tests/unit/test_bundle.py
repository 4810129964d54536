"""Signed bundles: the tamper matrix (every refusal reason), the happy path, rollback, extraction.

Real ECDSA P-256 keys, real tar files; the tampered bundles are rewritten with `tarfile` by hand.
"""

from __future__ import annotations

import builtins
import gzip
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.bundles import (
    BundleBuildError,
    BundleExtractError,
    BundleRefused,
    DeviceClass,
    FileMismatch,
    Lineage,
    LocalSigner,
    Manifest,
    ModelSource,
    RefusalReason,
    TrustedKey,
    VerifiedBundle,
    build_bundle,
    extract_verified,
    lineage_from_training,
    read_lineage,
    read_manifest_unverified,
    verify_bundle,
)
from contracts.bundles.paths import path_problem

MODEL_BYTES = os.urandom(4096)
_REAL_OPEN, _REAL_OS_OPEN = builtins.open, os.open
CONFIG = b'name: "detector"\nbackend: "python"\n'
Entry = tuple[str, bytes]
Entries = list[Entry | tarfile.TarInfo]
R = RefusalReason


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture(scope="module")
def other_signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture(scope="module")
def trusted(signer: LocalSigner) -> list[TrustedKey]:
    return [TrustedKey(signer.public_key(), "test key")]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "repo" / "detector"
    (model / "2").mkdir(parents=True)
    (model / "config.pbtxt").write_bytes(CONFIG)
    (model / "2" / "model.onnx").write_bytes(MODEL_BYTES)
    (model / "2" / "lineage.json").write_text(json.dumps(
        {"model": "detector", "version": "2", "code_commit": "abc123",
         "dataset": {"name": "train", "sha256": "d" * 64}, "eval_golden": {"ocr": {"exact_match": 0.97}}}))
    return model


def build(model_dir: Path, signer: LocalSigner, out: Path, *, version: int = 2, rollback: bool = False,
          device_class: str = "cpu") -> VerifiedBundle:
    return build_bundle([ModelSource(model_dir, version)], device_class, signer, out,
                        lineage=read_lineage(model_dir / "2" / "lineage.json", "job-7"), rollback=rollback,
                        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


@pytest.fixture
def bundle(model_dir: Path, signer: LocalSigner, tmp_path: Path) -> Path:
    out = tmp_path / "detector-2.tar.gz"
    build(model_dir, signer, out)
    return out


def read_entries(path: Path) -> list[Entry]:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]


def write_tar(path: Path, entries: list[Entry | tarfile.TarInfo], compress: bool = True) -> Path:
    with tarfile.open(path, "w:gz" if compress else "w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return path


def rewrite(bundle: Path, change: Callable[[list[Entry]], Entries]) -> Path:
    return write_tar(bundle.with_name("tampered.tar.gz"), change(read_entries(bundle)))


def replace(entries: list[Entry], name: str, data: bytes) -> Entries:
    return [(n, data if n == name else d) for n, d in entries]


def resigned(entries: list[Entry], signer: LocalSigner, edit: Callable[[dict], None]) -> Entries:
    """Edit the manifest and sign it again, so only the edited property can be the refusal's cause."""
    manifest = json.loads(dict(entries)["manifest.json"])
    edit(manifest)
    data = json.dumps(manifest).encode()
    return replace(replace(entries, "manifest.json", data), "manifest.sig", signer.sign(data))  # type: ignore[arg-type]


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def refused(path: Path, trusted: list[TrustedKey], reason: RefusalReason, **kwargs: object) -> BundleRefused:
    with pytest.raises(BundleRefused) as caught:
        verify_bundle(path, trusted, **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason is reason, str(caught.value)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.fixture
def no_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to open a file for writing fails the test."""
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        assert not set(str(mode)) & set("wax+"), f"verify tried to write {file}"
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT), f"verify tried to write {path}"
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    yield


@contextmanager
def no_writes_suspended() -> Iterator[None]:
    """Making a tampered archive needs writes; the `no_writes` guard is for the verification only."""
    saved = builtins.open, io.open, os.open
    builtins.open = io.open = _REAL_OPEN  # type: ignore[assignment]
    os.open = _REAL_OS_OPEN
    try:
        yield
    finally:
        builtins.open, io.open, os.open = saved  # type: ignore[misc]


# --- the happy path ---------------------------------------------------------------------------------

def test_accepts_a_good_bundle_without_writing_anything(bundle: Path, trusted: list[TrustedKey],
                                                        no_writes: None) -> None:
    verified = verify_bundle(bundle, trusted, device_class="cpu", installed_version=1)
    m = verified.manifest
    assert (m.format, m.device_class, [(x.name, x.version) for x in m.models]) == (
        "edgecv-bundle/1", DeviceClass.CPU, [("detector", 2)])
    assert {f.path for f in m.files} == {"detector/config.pbtxt", "detector/2/model.onnx",
                                         "detector/2/lineage.json"}
    assert m.lineage == Lineage(dataset_snapshot_hash="d" * 64, code_commit="abc123", training_job_id="job-7",
                                eval_metrics={"ocr": {"exact_match": 0.97}})
    assert m.signer_key_id == trusted[0].fingerprint == m.signer_fingerprint
    assert not verified.rollback and not verified.downgrade
    assert verified.summary().startswith("detector v2 for cpu, 3 files")


def test_manifest_is_signed_over_its_exact_bytes(bundle: Path, trusted: list[TrustedKey]) -> None:
    entries = dict(read_entries(bundle))
    assert trusted[0].verifies(entries["manifest.json"], entries["manifest.sig"])
    assert Manifest.model_validate_json(entries["manifest.json"]).created_at.year == 2026
    assert list(entries)[:2] == ["manifest.json", "manifest.sig"]


def test_uncompressed_tar_is_accepted_too(bundle: Path, trusted: list[TrustedKey]) -> None:
    plain = write_tar(bundle.with_name("plain.tar"), read_entries(bundle), compress=False)  # type: ignore[arg-type]
    assert verify_bundle(plain, trusted).manifest.models[0].version == 2


def test_several_trusted_keys_for_rotation(model_dir: Path, signer: LocalSigner, other_signer: LocalSigner,
                                           tmp_path: Path) -> None:
    keys = [TrustedKey(other_signer.public_key()), TrustedKey(signer.public_key())]
    old = build(model_dir, signer, tmp_path / "old.tar.gz").path
    new = build(model_dir, other_signer, tmp_path / "new.tar.gz").path
    assert verify_bundle(old, keys).key.fingerprint == signer.key_id
    assert verify_bundle(new, keys).key.fingerprint == other_signer.key_id


def test_installed_version_per_model(bundle: Path, trusted: list[TrustedKey]) -> None:
    assert verify_bundle(bundle, trusted, installed_version={"ocr": 9}).manifest.models[0].version == 2
    refused(bundle, trusted, RefusalReason.NOT_NEWER, installed_version={"detector": 2})


# --- the tamper matrix: one refusal reason per row --------------------------------------------------

def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


TAMPERS: dict[str, tuple[Callable[[list[Entry]], Entries], RefusalReason]] = {
    "signature bytes flipped": (
        lambda e: replace(e, "manifest.sig", _flip(dict(e)["manifest.sig"])), R.BAD_SIGNATURE),
    "manifest edited, old signature": (
        lambda e: replace(e, "manifest.json", dict(e)["manifest.json"].replace(b'"cpu"', b'"gpu"')),
        R.BAD_SIGNATURE),
    "signature not DER": (lambda e: replace(e, "manifest.sig", b"not a signature"), R.BAD_SIGNATURE),
    "model bytes changed, same size": (
        lambda e: replace(e, "detector/2/model.onnx", _flip(MODEL_BYTES)), R.FILE_MISMATCH),
    "model truncated": (
        lambda e: replace(e, "detector/2/model.onnx", MODEL_BYTES[:-1]), R.FILE_MISMATCH),
    "config swapped": (
        lambda e: replace(e, "detector/config.pbtxt", CONFIG.replace(b"python", b"onnxx")),
        R.FILE_MISMATCH),
    "file not in manifest": (lambda e: [*e, ("detector/2/extra.py", b"import os")], R.UNLISTED_FILE),
    "file at the root not in manifest": (lambda e: [*e, ("README", b"hi")], R.UNLISTED_FILE),
    "listed file missing": (
        lambda e: [x for x in e if x[0] != "detector/2/model.onnx"], R.MISSING_FILE),
    "no manifest": (lambda e: [x for x in e if x[0] != "manifest.json"], R.MISSING_MANIFEST),
    "no signature": (lambda e: [x for x in e if x[0] != "manifest.sig"], R.MISSING_SIGNATURE),
    "absolute path": (lambda e: [*e, ("/etc/cron.d/x", b"x")], R.UNSAFE_MEMBER),
    "dot-dot path": (lambda e: [*e, ("detector/../../evil", b"x")], R.UNSAFE_MEMBER),
    "leading dot-dot": (lambda e: [("../evil", b"x"), *e], R.UNSAFE_MEMBER),
    "backslash path": (lambda e: [*e, ("detector\\..\\evil", b"x")], R.UNSAFE_MEMBER),
    "symlink": (lambda e: [special("detector/2/link", tarfile.SYMTYPE, "/etc/passwd"), *e],
                R.UNSAFE_MEMBER),
    "hard link": (lambda e: [*e, special("detector/2/hard", tarfile.LNKTYPE, "detector/config.pbtxt")],
                  R.UNSAFE_MEMBER),
    "character device": (lambda e: [*e, special("detector/2/dev", tarfile.CHRTYPE)], R.UNSAFE_MEMBER),
    "block device": (lambda e: [*e, special("detector/2/blk", tarfile.BLKTYPE)], R.UNSAFE_MEMBER),
    "fifo": (lambda e: [*e, special("detector/2/fifo", tarfile.FIFOTYPE)], R.UNSAFE_MEMBER),
    "duplicate member": (lambda e: [*e, ("detector/2/model.onnx", MODEL_BYTES)], R.UNSAFE_MEMBER),
}


@pytest.mark.parametrize("case", list(TAMPERS))
def test_tampered_bundle_is_refused(case: str, bundle: Path, trusted: list[TrustedKey],
                                    no_writes: None) -> None:
    change, reason = TAMPERS[case]
    with no_writes_suspended():
        tampered = rewrite(bundle, change)
    refused(tampered, trusted, reason)



SIGNED_EDITS: dict[str, tuple[Callable[[dict], None], RefusalReason]] = {
    "manifest with an extra field": (lambda m: m.update(extra=1), R.MANIFEST_INVALID),
    "manifest of another format": (lambda m: m.update(format="edgecv-bundle/2"), R.MANIFEST_INVALID),
    "manifest listing a path outside its model": (
        lambda m: m["files"].append({"path": "../x", "sha256": "0" * 64, "size": 1}), R.MANIFEST_INVALID),
    "manifest naming another key": (
        lambda m: m.update(signer_fingerprint="0" * 16), R.MANIFEST_INVALID),
    "manifest with a file that is also a folder": (
        lambda m: m["files"].extend([{"path": "detector/2/a", "sha256": "0" * 64, "size": 1},
                                     {"path": "detector/2/a/b", "sha256": "0" * 64, "size": 1}]),
        R.MANIFEST_INVALID),
    "manifest with a version of 0": (
        lambda m: m["models"][0].update(version=0), R.MANIFEST_INVALID),
    "hash in manifest changed": (
        lambda m: m["files"][0].update(sha256="0" * 64), R.FILE_MISMATCH),
    "size in manifest changed": (lambda m: m["files"][0].update(size=1), R.FILE_MISMATCH),
    "file dropped from manifest": (lambda m: m["files"].pop(0), R.UNLISTED_FILE),
    "file added to manifest": (
        lambda m: m["files"].append({"path": "detector/2/more.bin", "sha256": "0" * 64, "size": 3}),
        R.MISSING_FILE),
}


@pytest.mark.parametrize("case", list(SIGNED_EDITS))
def test_signed_but_inconsistent_manifest_is_refused(case: str, bundle: Path, signer: LocalSigner,
                                                     trusted: list[TrustedKey]) -> None:
    edit, reason = SIGNED_EDITS[case]
    refused(rewrite(bundle, lambda e: resigned(e, signer, edit)), trusted, reason)


def test_manifest_that_is_not_json_is_refused(bundle: Path, signer: LocalSigner,
                                              trusted: list[TrustedKey]) -> None:
    def garbage(entries: list[Entry]) -> Entries:
        unsigned = replace(entries, "manifest.json", b"{nope")
        return replace(unsigned, "manifest.sig", signer.sign(b"{nope"))  # type: ignore[arg-type]

    refused(rewrite(bundle, garbage), trusted, RefusalReason.MANIFEST_INVALID)


def test_unknown_key(bundle: Path, other_signer: LocalSigner, trusted: list[TrustedKey]) -> None:
    def by_other(m: dict) -> None:
        m.update(signer_key_id=other_signer.key_id, signer_fingerprint=other_signer.key_id)

    err = refused(rewrite(bundle, lambda e: resigned(e, other_signer, by_other)), trusted, R.UNKNOWN_KEY)
    assert other_signer.key_id in str(err)
    refused(bundle, [], RefusalReason.UNKNOWN_KEY)


def test_untrusted_key_claiming_a_trusted_fingerprint(bundle: Path, other_signer: LocalSigner,
                                                      trusted: list[TrustedKey]) -> None:
    forged = rewrite(bundle, lambda e: resigned(e, other_signer, lambda m: None))
    refused(forged, trusted, RefusalReason.BAD_SIGNATURE)


def test_wrong_device_class(bundle: Path, trusted: list[TrustedKey]) -> None:
    err = refused(bundle, trusted, RefusalReason.WRONG_DEVICE_CLASS, device_class=DeviceClass.GPU)
    assert "cpu" in str(err) and "gpu" in str(err)


@pytest.mark.parametrize("installed", [2, 3, 10])
def test_not_newer_than_installed(bundle: Path, trusted: list[TrustedKey], installed: int) -> None:
    refused(bundle, trusted, RefusalReason.NOT_NEWER, installed_version=installed)


def test_signed_rollback_may_be_older(model_dir: Path, signer: LocalSigner, trusted: list[TrustedKey],
                                      tmp_path: Path) -> None:
    path = build(model_dir, signer, tmp_path / "rollback.tar.gz", rollback=True).path
    verified = verify_bundle(path, trusted, installed_version=3)
    assert verified.rollback and verified.downgrade
    assert "signed rollback" in verified.summary()
    assert not verify_bundle(path, trusted, installed_version=1).downgrade


def test_rollback_flag_cannot_be_added_without_the_key(bundle: Path, trusted: list[TrustedKey]) -> None:
    tampered = rewrite(bundle, lambda e: replace(
        e, "manifest.json", dict(e)["manifest.json"].replace(b'"rollback":false', b'"rollback":true ')))
    refused(tampered, trusted, RefusalReason.BAD_SIGNATURE, installed_version=3)


def test_compressed_size_cap_is_checked_before_opening(tmp_path: Path, trusted: list[TrustedKey],
                                                       no_writes: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with no_writes_suspended():
        big = tmp_path / "big.tar.gz"
        big.write_bytes(b"\0" * 2048)  # not even an archive: only the size may decide

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("opened a bundle over the cap")

    monkeypatch.setattr(Path, "open", no_open)
    refused(big, trusted, RefusalReason.TOO_LARGE, max_bytes=1024)


def test_extracted_size_is_capped(model_dir: Path, signer: LocalSigner, trusted: list[TrustedKey],
                                  tmp_path: Path) -> None:
    (model_dir / "2" / "zeros.bin").write_bytes(b"\0" * (4 << 20))
    path = build(model_dir, signer, tmp_path / "bomb.tar.gz").path
    assert path.stat().st_size < 64 * 1024
    err = refused(path, trusted, RefusalReason.TOO_LARGE, max_bytes=1 << 20)
    assert "more than" in str(err)


def test_header_bomb_is_capped_while_streaming(tmp_path: Path, trusted: list[TrustedKey]) -> None:
    path = tmp_path / "headers.tar.gz"
    with gzip.open(path, "wb") as gz:  # a huge pax header: decompressed bytes with no member data at all
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "a" * (2 << 20)}
        gz.write(info.tobuf(tarfile.PAX_FORMAT))
    refused(path, trusted, RefusalReason.TOO_LARGE, max_bytes=1 << 20)


@pytest.mark.parametrize("damage", ["truncated", "cut in the gzip trailer", "bit flip", "garbage", "empty"])
def test_corrupt_archive(bundle: Path, trusted: list[TrustedKey], damage: str) -> None:
    data = bundle.read_bytes()
    mid = len(data) // 2
    broken = {"truncated": data[:mid], "cut in the gzip trailer": data[:-4],
              "bit flip": data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:],
              "garbage": os.urandom(3000), "empty": b""}[damage]
    path = bundle.with_name("broken.tar.gz")
    path.write_bytes(broken)
    refused(path, trusted, RefusalReason.CORRUPT)


# --- extraction -------------------------------------------------------------------------------------

def test_extract_verified(bundle: Path, trusted: list[TrustedKey], tmp_path: Path) -> None:
    verified = verify_bundle(bundle, trusted)
    dest = extract_verified(verified, tmp_path / "staging" / "detector-2")
    assert (dest / "detector" / "2" / "model.onnx").read_bytes() == MODEL_BYTES
    assert (dest / "detector" / "config.pbtxt").read_bytes() == CONFIG
    assert (dest / "manifest.json").read_bytes() == verified.manifest_bytes
    assert (dest / "manifest.sig").read_bytes() == verified.signature
    assert sorted(p.name for p in dest.parent.iterdir()) == ["detector-2"]
    with pytest.raises(BundleExtractError, match="already exists"):
        extract_verified(verified, dest)


def test_extract_rechecks_a_bundle_swapped_after_verification(bundle: Path, trusted: list[TrustedKey],
                                                              tmp_path: Path) -> None:
    verified = verify_bundle(bundle, trusted)
    swapped = rewrite(bundle, lambda e: replace(e, "detector/2/model.onnx", _flip(MODEL_BYTES)))
    swapped.replace(bundle)
    staging = tmp_path / "staging"
    with pytest.raises(FileMismatch):
        extract_verified(verified, staging / "detector-2")
    assert list(staging.iterdir()) == []


def test_extract_refuses_an_extra_member_appearing_after_verification(bundle: Path, trusted: list[TrustedKey],
                                                                      tmp_path: Path) -> None:
    verified = verify_bundle(bundle, trusted)
    rewrite(bundle, lambda e: [*e, ("detector/2/extra", b"x")]).replace(bundle)
    with pytest.raises(BundleRefused) as caught:
        extract_verified(verified, tmp_path / "out" / "d")
    assert caught.value.reason is RefusalReason.UNLISTED_FILE
    assert list((tmp_path / "out").iterdir()) == []


# --- building and inspecting ------------------------------------------------------------------------

def test_build_refuses_bad_model_folders(model_dir: Path, signer: LocalSigner, tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    with pytest.raises(BundleBuildError, match="no version 3"):
        build_bundle([ModelSource(model_dir, 3)], "cpu", signer, out)
    (model_dir / "2" / "link").symlink_to("/etc/passwd")
    with pytest.raises(BundleBuildError, match="symbolic link"):
        build_bundle([ModelSource(model_dir, 2)], "cpu", signer, out)
    with pytest.raises(BundleBuildError, match="invalid model name"):
        build_bundle([ModelSource(model_dir, 2, name="manifest.json")], "cpu", signer, out)
    assert not out.exists()


def test_build_several_models_in_one_bundle(model_dir: Path, signer: LocalSigner, trusted: list[TrustedKey],
                                            tmp_path: Path) -> None:
    ocr = tmp_path / "repo" / "ocr"
    (ocr / "5").mkdir(parents=True)
    (ocr / "5" / "model.onnx").write_bytes(b"ocr")
    sources = [ModelSource(model_dir, 2), ModelSource(ocr, 5)]
    path = build_bundle(sources, "gpu", signer, tmp_path / "two.tgz").path
    verified = verify_bundle(path, trusted, device_class="gpu", installed_version={"detector": 1, "ocr": 4})
    assert verified.manifest.describe() == "detector v2, ocr v5"
    refused(path, trusted, RefusalReason.NOT_NEWER, installed_version={"detector": 1, "ocr": 5})


def test_lineage_mapping_from_training_json() -> None:
    lineage = lineage_from_training({"code_commit": "c0ffee", "dataset": {"sha256": "a" * 64},
                                     "eval_golden": {"pallet_count_accuracy": 0.99}, "eval_shifted": {}})
    assert lineage == Lineage(dataset_snapshot_hash="a" * 64, code_commit="c0ffee",
                              eval_metrics={"pallet_count_accuracy": 0.99})
    with pytest.raises(BundleBuildError, match="eval_metrics"):
        lineage_from_training({"eval_golden": [1, 2]})


def test_inspect_reads_without_verifying(bundle: Path, other_signer: LocalSigner) -> None:
    unsigned = rewrite(bundle, lambda e: [x for x in e if x[0] != "manifest.sig"])
    seen = read_manifest_unverified(unsigned)
    assert not seen.has_signature and seen.manifest.lineage.code_commit == "abc123"


# --- properties -------------------------------------------------------------------------------------

@given(st.text(alphabet=st.sampled_from(list("ab./\\\x00\n:")), max_size=24))
def test_a_safe_path_stays_under_its_root(name: str) -> None:
    if path_problem(name) is None:
        root = Path("/srv/root")
        assert (root / name).resolve().is_relative_to(root)
        assert not name.startswith("/") and ".." not in name.split("/")
