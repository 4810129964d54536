"""Building a signed bundle from model folders in Triton repository layout.

For each model: `<model_dir>/config.pbtxt` when present and every regular file under
`<model_dir>/<version>/`. The archive is a deterministic gzip'd tar: `manifest.json`, `manifest.sig`,
then the files in sorted order, owned by root, mode 0644, stamped with the manifest's `created_at`.
The finished bundle is verified against the signer's own public key before it is moved into place.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.bundles.archive import DEFAULT_MAX_BYTES
from contracts.bundles.errors import BundleBuildError, BundleRefused, SigningError
from contracts.bundles.manifest import (
    CONFIG_NAME,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    BundleFile,
    DeviceClass,
    Lineage,
    Manifest,
    ModelVersion,
    manifest_bytes,
)
from contracts.bundles.paths import path_problem
from contracts.bundles.signing import Signer, TrustedKey, fingerprint
from contracts.bundles.verify import VerifiedBundle, verify_bundle
from contracts.errors import first_validation_error

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelSource:
    """One model version to put in a bundle: `model_dir/<version>/...` (+ `model_dir/config.pbtxt`)."""

    model_dir: Path
    version: int
    name: str | None = None  # default: the folder's name

    @property
    def model_name(self) -> str:
        return self.name or Path(self.model_dir).resolve().name


@dataclass(frozen=True)
class _Source:
    bundle_path: str
    local: Path
    sha256: str
    size: int


def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _regular_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise BundleBuildError(f"{path} is a symbolic link; bundles carry regular files only")
        if path.is_dir():
            continue
        if not path.is_file():
            raise BundleBuildError(f"{path} is not a regular file")
        found.append(path)
    return found


def collect_files(source: ModelSource) -> tuple[ModelVersion, list[_Source]]:
    model_dir = Path(source.model_dir)
    try:
        model = ModelVersion(name=source.model_name, version=source.version)
    except ValidationError as exc:
        raise BundleBuildError(f"invalid model name or version ({source.model_name!r}, {source.version}): "
                               f"{exc.errors()[0]['msg']}") from exc
    if not model_dir.is_dir():
        raise BundleBuildError(f"model folder {model_dir} does not exist")
    version_dir = model_dir / str(model.version)
    if not version_dir.is_dir() or version_dir.is_symlink():
        raise BundleBuildError(f"{version_dir} is not a folder: no version {model.version} in {model_dir}")
    locals_: list[tuple[str, Path]] = []
    config = model_dir / CONFIG_NAME
    if config.is_symlink() or (config.exists() and not config.is_file()):
        raise BundleBuildError(f"{config} is not a regular file")
    if config.is_file():
        locals_.append((f"{model.name}/{CONFIG_NAME}", config))
    for path in _regular_files(version_dir):
        locals_.append((f"{model.name}/{model.version}/{path.relative_to(version_dir).as_posix()}", path))
    if not any(name.startswith(f"{model.name}/{model.version}/") for name, _ in locals_):
        raise BundleBuildError(f"{version_dir} holds no files")
    sources = []
    for name, path in locals_:
        problem = path_problem(name)
        if problem:
            raise BundleBuildError(f"{path}: {problem}")
        try:
            sha256, size = _digest(path)
        except OSError as exc:
            raise BundleBuildError(f"cannot read {path}: {exc.strerror or exc}") from exc
        sources.append(_Source(name, path, sha256, size))
    return model, sources


def lineage_from_training(data: Mapping[str, Any], training_job_id: str | None = None) -> Lineage:
    """Map a training `lineage.json` (as `training.make_all` writes it) onto the manifest's lineage."""
    dataset = data.get("dataset")
    dataset_hash = dataset.get("sha256") if isinstance(dataset, Mapping) else data.get("dataset_snapshot_hash")
    metrics = data.get("eval_golden", data.get("eval_metrics", {}))
    job = training_job_id or data.get("training_job_id") or data.get("training_job")
    try:
        return Lineage(dataset_snapshot_hash=dataset_hash, code_commit=data.get("code_commit"),
                       training_job_id=job, eval_metrics=metrics or {})
    except ValidationError as exc:
        raise BundleBuildError(f"lineage field {first_validation_error(exc)}") from exc


def read_lineage(path: Path, training_job_id: str | None = None) -> Lineage:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise BundleBuildError(f"cannot read lineage {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleBuildError(f"lineage {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleBuildError(f"lineage {path} is not a JSON object")
    return lineage_from_training(data, training_job_id)


def _tar_info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _write_archive(out: Path, manifest_data: bytes, signature: bytes, sources: Sequence[_Source],
                   mtime: int) -> None:
    with out.open("wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((MANIFEST_NAME, manifest_data), (SIGNATURE_NAME, signature)):
            tar.addfile(_tar_info(name, len(data), mtime), io.BytesIO(data))
        for src in sorted(sources, key=lambda s: s.bundle_path):
            with src.local.open("rb") as fh:
                tar.addfile(_tar_info(src.bundle_path, src.size, mtime), fh)
        tar.close()
        gz.close()
        raw.flush()
        os.fsync(raw.fileno())


def _sign(signer: Signer, data: bytes) -> bytes:
    signature = signer.sign(data)
    if not TrustedKey(signer.public_key()).verifies(data, signature):
        raise SigningError(f"the signature from {signer.key_id} does not verify against its own public key")
    return signature


def build_bundle(sources: Sequence[ModelSource], device_class: DeviceClass | str, signer: Signer,
                 out: Path, *, lineage: Lineage | None = None, rollback: bool = False,
                 created_at: datetime | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> VerifiedBundle:
    """Build, sign and self-verify a bundle at `out` (replaced atomically); return it as verified."""
    if not sources:
        raise BundleBuildError("a bundle needs at least one model version")
    models: list[ModelVersion] = []
    files: list[_Source] = []
    for source in sources:
        model, model_files = collect_files(source)
        models.append(model)
        files.extend(model_files)
    when = (created_at or datetime.now(UTC)).replace(microsecond=0)
    entries = [BundleFile(path=f.bundle_path, sha256=f.sha256, size=f.size) for f in files]
    try:
        manifest = Manifest(models=models, device_class=DeviceClass(device_class), files=entries,
                            lineage=lineage or Lineage(), created_at=when, signer_key_id=signer.key_id,
                            signer_fingerprint=fingerprint(signer.public_key()), rollback=rollback)
    except (ValidationError, ValueError) as exc:
        raise BundleBuildError(f"cannot describe these models in a manifest: {exc}") from exc
    data = manifest_bytes(manifest)
    signature = _sign(signer, data)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise BundleBuildError(f"cannot write into {out.parent}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        _write_archive(tmp, data, signature, files, int(when.timestamp()))
        verified = verify_bundle(tmp, [TrustedKey(signer.public_key())], max_bytes=max_bytes)
        tmp.chmod(0o644)
        os.replace(tmp, out)
    except BundleRefused as exc:
        tmp.unlink(missing_ok=True)
        raise BundleBuildError(f"the built bundle fails its own verification ({exc}); "
                               f"did a model file change while building?") from exc
    except (OSError, tarfile.TarError) as exc:
        tmp.unlink(missing_ok=True)
        raise BundleBuildError(f"cannot write {out}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dataclasses.replace(verified, path=out)
