"""Every refusal reason of the bundle layer reaches the agent as REJECTED with that code; v1 keeps serving.

The job document names the tampered file's own sha256 and size (as if the distribution path were
compromised too), so the download passes and the bundle layer is what refuses.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.bundles import LocalSigner, RefusalReason
from contracts.jobs import JobOutcome
from tests.ota_support import MODEL, job_for, make_bundle
from tests.unit.ota.conftest import Site

Entries = list[tuple[str, bytes] | tarfile.TarInfo]


def entries(bundle: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(bundle) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]


def write(path: Path, items: Entries) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for item in items:
            if isinstance(item, tarfile.TarInfo):
                tar.addfile(item)
            else:
                info = tarfile.TarInfo(item[0])
                info.size = len(item[1])
                tar.addfile(info, io.BytesIO(item[1]))
    return path


def swap(items: list[tuple[str, bytes]], name: str, data: bytes) -> Entries:
    return [(n, data if n == name else d) for n, d in items]


def resign(items: list[tuple[str, bytes]], signer: LocalSigner, edit: Callable[[dict], None]) -> Entries:
    manifest = json.loads(dict(items)["manifest.json"])
    edit(manifest)
    data = json.dumps(manifest).encode()
    return swap(swap(items, "manifest.json", data), "manifest.sig", signer.sign(data))  # type: ignore[arg-type]


def symlink() -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{MODEL}/2/link")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


MODEL_FILE = f"{MODEL}/2/model.onnx"
R = RefusalReason
# case -> (how to make the v2 bundle from a good one, the reason expected)
TAMPERS: dict[str, tuple[Callable[[Site, Path, LocalSigner], Path], RefusalReason]] = {
    "expands past the cap": (lambda s, b, o: s.bundle(2, payload=bytes(4 << 20)), R.TOO_LARGE),
    "truncated archive": (lambda s, b, o: _bytes(b, b.read_bytes()[: b.stat().st_size // 2]), R.CORRUPT),
    "symlink member": (lambda s, b, o: write(_other(b), [symlink(), *entries(b)]), R.UNSAFE_MEMBER),
    "no manifest": (lambda s, b, o: write(_other(b), [e for e in entries(b) if e[0] != "manifest.json"]),
                    R.MISSING_MANIFEST),
    "no signature": (lambda s, b, o: write(_other(b), [e for e in entries(b) if e[0] != "manifest.sig"]),
                     R.MISSING_SIGNATURE),
    "signed manifest with an unknown field": (
        lambda s, b, o: write(_other(b), resign(entries(b), s.signer, lambda m: m.update(x=1))), R.MANIFEST_INVALID),
    "signed by an untrusted key": (lambda s, b, o: make_bundle(_folder(b), o, 2), R.UNKNOWN_KEY),
    "signature flipped": (
        lambda s, b, o: write(_other(b), swap(entries(b), "manifest.sig", _flip(dict(entries(b))["manifest.sig"]))),
        R.BAD_SIGNATURE),
    "extra file": (lambda s, b, o: write(_other(b), [*entries(b), (f"{MODEL}/2/evil.py", b"import os")]),
                   R.UNLISTED_FILE),
    "listed file missing": (lambda s, b, o: write(_other(b), [e for e in entries(b) if e[0] != MODEL_FILE]),
                            R.MISSING_FILE),
    "model bytes changed": (
        lambda s, b, o: write(_other(b), swap(entries(b), MODEL_FILE, _flip(dict(entries(b))[MODEL_FILE]))),
        R.FILE_MISMATCH),
    "bundle for gpu devices": (lambda s, b, o: s.bundle(2, device_class="gpu"), R.WRONG_DEVICE_CLASS),
    "same version as installed": (lambda s, b, o: s.bundle(1), R.NOT_NEWER),
}


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def _other(bundle: Path) -> Path:
    return bundle.with_name("tampered.tar.gz")


def _folder(bundle: Path) -> Path:
    folder = bundle.parent / "untrusted"
    folder.mkdir(exist_ok=True)
    return folder


def _bytes(bundle: Path, data: bytes) -> Path:
    out = _other(bundle)
    out.write_bytes(data)
    return out


def test_the_matrix_covers_every_refusal_reason() -> None:
    assert {reason for _, reason in TAMPERS.values()} == set(RefusalReason)


@pytest.mark.parametrize("case", list(TAMPERS))
def test_tampered_bundle_is_rejected_with_its_reason_and_v1_keeps_serving(case: str, site_v1: Site,
                                                                         other_signer: LocalSigner) -> None:
    make, reason = TAMPERS[case]
    site_v1.max_bundle_bytes = 2 << 20  # the download is small; the expansion cap is what "too_large" hits
    good = site_v1.bundle(2)
    tampered = make(site_v1, good, other_signer)
    version = 1 if reason is R.NOT_NEWER else 2
    doc = job_for(tampered, site_v1.web.add(tampered), {MODEL: version})
    site_v1.server.state.calls.clear()
    report = site_v1.agent().handle(f"job-{case}", doc.model_dump(mode="json"))
    assert report is not None and report.outcome is JobOutcome.REJECTED, report
    assert report.reason == reason.value, report.message
    assert report.message and "\n" not in report.message
    assert report.serving == {MODEL: 1}
    assert site_v1.server.serving_versions() == {MODEL: 1}
    assert site_v1.server.loaded_versions() == {MODEL: [1]}
    assert not [c for c in site_v1.server.state.calls if not c.startswith("retire")]  # nothing staged or loaded
    assert not (site_v1.root / "agent" / "verified" / f"job-{case}").exists()
    assert site_v1.agent().status().installed[MODEL].version == 1
