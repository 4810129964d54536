"""The demo's cloud set-up on a real LocalCloud (moto server): v1 published as production (KMS-signed bundle,
Approved package with the golden metrics) and a regressed v3 signed by the same key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("moto.server")

from contracts.bundles import BundleRefused, LocalSigner, TrustedKey, VerifiedBundle, extract_verified, verify_bundle
from contracts.evaluation import GATES
from edgecv.demo_cloud import bundle_key, publish_baseline, regressed_release
from edgecv.kms_signer import KmsSigner
from lambdas.common.events import Release
from lambdas.common.registry import packages
from lambdas.evaluate.gate import flatten
from lambdas.localcloud.cloud import LocalCloud

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "damage_classifier"


def golden_report() -> dict:
    """An edgecv-eval/1-shaped report with every gated metric, each a different 4-decimal value."""
    report: dict = {"format": "edgecv-eval/1", "frames": 40}
    rng = np.random.default_rng(5)
    for path in GATES:
        node = report
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = round(float(rng.uniform(0.85, 0.999)), 4)
    return report


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, KmsSigner, Path]]:
    root = tmp_path_factory.mktemp("demo-cloud")
    with LocalCloud(root / "cloud", rings=("canary", "ring50")) as local:
        assert local.settings is not None
        yield local, KmsSigner(local.client("kms"), local.settings.signing_key_id), root


@pytest.fixture(scope="module")
def baseline(cloud: tuple[LocalCloud, KmsSigner, Path]) -> tuple[Release, dict]:
    local, signer, root = cloud
    work = root / "baseline-work"
    work.mkdir()
    report = golden_report()
    return publish_baseline(local, signer, MODEL, report, work), report


def download(local: LocalCloud, release: Release, dest: Path) -> Path:
    local.client("s3").download_file(release.bucket, release.key, str(dest))
    return dest


def verified(local: LocalCloud, signer: KmsSigner, release: Release, dest: Path) -> VerifiedBundle:
    path = download(local, release, dest)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == release.sha256
    assert path.stat().st_size == release.size
    return verify_bundle(path, [TrustedKey(signer.public_key())], device_class="cpu")


def file_sha(bundle: VerifiedBundle, path: str) -> str:
    return next(f.sha256 for f in bundle.manifest.files if f.path == path)


def test_the_baseline_is_an_approved_v1_package_with_the_golden_metrics(
        cloud: tuple[LocalCloud, KmsSigner, Path], baseline: tuple[Release, dict]) -> None:
    local, _, _ = cloud
    release, report = baseline
    [package] = packages(local.client("sagemaker"), MODEL)
    assert package.version == 1 and package.approval == "Approved"
    assert package.metrics == flatten(report)
    assert set(package.metrics) == {".".join(path) for path in GATES}
    assert package.metadata["bundle_uri"] == f"s3://{release.bucket}/{release.key}"
    assert package.metadata["bundle_sha256"] == release.sha256


def test_the_baseline_release_is_a_kms_signed_v1_bundle_in_the_artifacts_bucket(
        cloud: tuple[LocalCloud, KmsSigner, Path], baseline: tuple[Release, dict], tmp_path: Path) -> None:
    local, signer, _ = cloud
    release, _ = baseline
    assert local.settings is not None
    assert (release.bucket, release.key) == (local.settings.artifacts_bucket, bundle_key(MODEL, 1))
    assert (release.model_name, release.version, release.signer_key_id) == (MODEL, 1, signer.key_id)
    bundle = verified(local, signer, release, tmp_path / "v1.tar.gz")
    assert [(m.name, m.version) for m in bundle.manifest.models] == [(MODEL, 1)]
    assert bundle.manifest.signer_key_id == signer.key_id
    shipped = Path(__file__).resolve().parents[2] / "model_repository" / MODEL / "1" / "model.onnx"
    assert file_sha(bundle, f"{MODEL}/1/model.onnx") == hashlib.sha256(shipped.read_bytes()).hexdigest()


def test_the_baseline_release_does_not_verify_against_another_key(
        cloud: tuple[LocalCloud, KmsSigner, Path], baseline: tuple[Release, dict], tmp_path: Path) -> None:
    local, _, _ = cloud
    release, _ = baseline
    path = download(local, release, tmp_path / "v1.tar.gz")
    with pytest.raises(BundleRefused):
        verify_bundle(path, [TrustedKey(LocalSigner.generate().public_key())])


def test_the_regressed_release_is_a_signed_v3_with_a_different_model(
        cloud: tuple[LocalCloud, KmsSigner, Path], baseline: tuple[Release, dict], tmp_path: Path) -> None:
    local, signer, _ = cloud
    good, _ = baseline
    work = tmp_path / "work"
    work.mkdir()
    bad = regressed_release(local, signer, good, 3, work)
    assert (bad.model_name, bad.version, bad.key) == (MODEL, 3, bundle_key(MODEL, 3))
    assert bad.sha256 != good.sha256
    v3 = verified(local, signer, bad, tmp_path / "v3.tar.gz")
    v1 = verified(local, signer, good, tmp_path / "v1.tar.gz")
    assert [(m.name, m.version) for m in v3.manifest.models] == [(MODEL, 3)]
    assert not any(f.path.startswith(f"{MODEL}/1/") for f in v3.manifest.files)
    assert file_sha(v3, f"{MODEL}/3/model.onnx") != file_sha(v1, f"{MODEL}/1/model.onnx")
    assert v3.manifest.lineage == v1.manifest.lineage
    assert list(work.iterdir()) == []  # its temporary folder is gone
    assert [p.version for p in packages(local.client("sagemaker"), MODEL)] == [1]  # v3 is not registered
    # the regression is in the model, not the signature: v3 scores every crop more damaged than v1 does
    ort = pytest.importorskip("onnxruntime")
    v1_onnx = extract_verified(v1, tmp_path / "v1") / MODEL / "1" / "model.onnx"
    v3_onnx = extract_verified(v3, tmp_path / "v3") / MODEL / "3" / "model.onnx"
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (v1_onnx, v3_onnx)]
    spec = sessions[0].get_inputs()[0]
    x = np.random.default_rng(3).random([d if isinstance(d, int) else 4 for d in spec.shape], dtype=np.float32)
    before, after = (s.run(None, {spec.name: x})[0] for s in sessions)
    assert np.all(after > before)

