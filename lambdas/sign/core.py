"""Sign: build the bundle from the exported model version and sign its manifest with KMS.

KMS `ECDSA_SHA_256` over the raw manifest bytes (`edgecv.kms_signer.KmsSigner`, reusing
`contracts.bundles.build_bundle`, which self-verifies against the key's public half). The bundle goes to
`bundles/{model}/{version}/bundle.tar.gz` (object lock keeps it), its sha256 in the object metadata.
A rollback re-signs the previous release's verified files with `rollback: true`.
Idempotent: an existing bundle key is returned as it is (object lock forbids overwriting anyway).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from contracts.bundles import (
    BundleBuildError,
    BundleRefused,
    Lineage,
    ModelSource,
    SigningError,
    TrustedKey,
    build_bundle,
    extract_verified,
    verify_bundle,
)
from edgecv.kms_signer import KmsSigner
from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError, BundleSigningError
from lambdas.common.events import Release, RolloutState, TrainingState
from lambdas.common.layout import bundle_key
from lambdas.common.s3io import download_prefix, is_missing

SHA_META = "sha256"


def _existing(s3: Any, bucket: str, key: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise


def _upload(s3: Any, bucket: str, key: str, path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/gzip", Metadata={SHA_META: sha})
    return sha, len(data)


def _signer(deps: Deps) -> KmsSigner:
    if not deps.settings.signing_key_id:
        raise BundleSigningError("SIGNING_KEY_ID is not set")
    try:
        return KmsSigner(deps.aws("kms"), deps.settings.signing_key_id)
    except SigningError as exc:
        raise BundleSigningError(str(exc)) from exc


def sign_training(state: TrainingState, deps: Deps) -> Release:
    if state.export is None or state.evaluation is None:
        raise ArtifactMissingError("the state has no exported, evaluated model")
    s3, st, ex = deps.aws("s3"), deps.settings, state.export
    key = bundle_key(ex.model_name, ex.version)
    head = _existing(s3, st.artifacts_bucket, key)
    if head is not None:
        return Release(bucket=st.artifacts_bucket, key=key, sha256=head["Metadata"][SHA_META],
                       size=head["ContentLength"], model_name=ex.model_name, version=ex.version,
                       device_class=state.config.device_class, signer_key_id=st.signing_key_id)
    signer = _signer(deps)
    lineage = Lineage(dataset_snapshot_hash=state.dataset.sha256 if state.dataset else None,
                      code_commit=state.config.code_commit,
                      training_job_id=state.training.job_name if state.training else None,
                      eval_metrics=dict(state.evaluation.metrics))
    with tempfile.TemporaryDirectory(prefix="edgecv-sign-") as tmp:
        root = Path(tmp) / "export"
        if not download_prefix(s3, st.artifacts_bucket, ex.prefix, root):
            raise ArtifactMissingError(f"nothing under s3://{st.artifacts_bucket}/{ex.prefix}")
        out = Path(tmp) / "bundle.tar.gz"
        try:
            build_bundle([ModelSource(root / ex.model_name, ex.version)], state.config.device_class, signer, out,
                         lineage=lineage)
        except (BundleBuildError, SigningError) as exc:
            raise BundleSigningError(str(exc)) from exc
        sha, size = _upload(s3, st.artifacts_bucket, key, out)
    return Release(bucket=st.artifacts_bucket, key=key, sha256=sha, size=size, model_name=ex.model_name,
                   version=ex.version, device_class=state.config.device_class, signer_key_id=signer.key_id)


def sign_rollback(state: RolloutState, deps: Deps) -> Release:
    """Re-sign the previous release as a signed rollback (devices accept it although it is older)."""
    prev = state.previous
    if prev is None:
        raise ArtifactMissingError("the rollout has no previous release to roll back to")
    s3 = deps.aws("s3")
    key = bundle_key(prev.model_name, prev.version, rollback_of=state.rollout_id)
    head = _existing(s3, prev.bucket, key)
    if head is not None:
        return prev.model_copy(update={"key": key, "sha256": head["Metadata"][SHA_META],
                                       "size": head["ContentLength"], "rollback": True})
    signer = _signer(deps)
    with tempfile.TemporaryDirectory(prefix="edgecv-rollback-") as tmp:
        previous = Path(tmp) / "previous.tar.gz"
        s3.download_file(prev.bucket, prev.key, str(previous))
        try:
            verified = verify_bundle(previous, [TrustedKey(signer.public_key())])
            files = extract_verified(verified, Path(tmp) / "files")
            sources = [ModelSource(files / m.name, m.version) for m in verified.manifest.models]
            out = Path(tmp) / "rollback.tar.gz"
            build_bundle(sources, verified.manifest.device_class, signer, out, lineage=verified.manifest.lineage,
                         rollback=True)
        except (BundleRefused, BundleBuildError, SigningError) as exc:
            raise BundleSigningError(f"cannot re-sign {prev.key} as a rollback: {exc}") from exc
        sha, size = _upload(s3, prev.bucket, key, out)
    return prev.model_copy(update={"key": key, "sha256": sha, "size": size, "rollback": True,
                                   "signer_key_id": signer.key_id})
