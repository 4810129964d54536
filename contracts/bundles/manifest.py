"""The `edgecv-bundle/1` manifest: what a bundle holds, for which devices, where it came from, who signed.

The signature covers the exact bytes of `manifest.json` as stored in the bundle; verifiers check it
over those bytes before parsing anything into trust decisions. `manifest_bytes` is how builders
serialise a manifest.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from contracts.bundles.paths import path_problem

BUNDLE_FORMAT = "edgecv-bundle/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
RESERVED_NAMES = frozenset({MANIFEST_NAME, SIGNATURE_NAME})
CONFIG_NAME = "config.pbtxt"

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FINGERPRINT_PATTERN = r"^[0-9a-f]{16}$"
MAX_VERSION = 2**63 - 1  # Triton versions are positive int64


class DeviceClass(StrEnum):
    CPU = "cpu"
    GPU = "gpu"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BundleFile(_Strict):
    path: str = Field(title="path inside the bundle, `<model>/config.pbtxt` or `<model>/<version>/...`",
                      min_length=1, max_length=1024)
    sha256: str = Field(pattern=SHA256_PATTERN)
    size: int = Field(ge=0, title="bytes")


class ModelVersion(_Strict):
    name: str = Field(pattern=MODEL_NAME_PATTERN, title="Triton model name")
    version: int = Field(ge=1, le=MAX_VERSION, title="Triton model version")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMES:
            raise ValueError(f"{name!r} is reserved for the bundle's own files")
        return name


class Lineage(_Strict):
    dataset_snapshot_hash: str | None = Field(default=None, max_length=256)
    code_commit: str | None = Field(default=None, max_length=256)
    training_job_id: str | None = Field(default=None, max_length=2048)
    eval_metrics: dict[str, JsonValue] = Field(default_factory=dict)


class Manifest(_Strict):
    format: Literal["edgecv-bundle/1"] = BUNDLE_FORMAT
    models: list[ModelVersion] = Field(min_length=1, max_length=64)
    device_class: DeviceClass
    files: list[BundleFile] = Field(min_length=1, max_length=10_000)
    lineage: Lineage = Field(default_factory=Lineage)
    created_at: AwareDatetime
    signer_key_id: str = Field(min_length=1, max_length=2048,
                               title="public-key fingerprint for local keys, the key ARN for KMS keys")
    signer_fingerprint: str = Field(pattern=FINGERPRINT_PATTERN,
                                    title="first 16 hex of sha256 over the public key's DER")
    rollback: bool = Field(default=False, title="a signed rollback: may be older than the installed version")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        versions = {m.name: m.version for m in self.models}
        if len(versions) != len(self.models):
            raise ValueError("a model is listed twice")
        seen: set[str] = set()
        with_files: set[str] = set()
        for f in self.files:
            problem = path_problem(f.path)
            if problem:
                raise ValueError(f"file {f.path!r}: {problem}")
            if f.path in seen:
                raise ValueError(f"file {f.path!r} is listed twice")
            seen.add(f.path)
            parts = f.path.split("/")
            if parts[0] not in versions:
                raise ValueError(f"file {f.path!r} is not under a listed model")
            if parts[1:] == [CONFIG_NAME]:
                continue
            if len(parts) < 3 or parts[1] != str(versions[parts[0]]):
                raise ValueError(f"file {f.path!r} is neither {parts[0]}/{CONFIG_NAME} "
                                 f"nor under {parts[0]}/{versions[parts[0]]}/")
            with_files.add(parts[0])
        folders = {path.rsplit("/", i)[0] for path in seen for i in range(1, path.count("/") + 1)}
        clash = sorted(seen & folders)
        if clash:
            raise ValueError(f"{clash[0]!r} is listed as a file and used as a folder")
        empty = sorted(set(versions) - with_files)
        if empty:
            raise ValueError(f"no files for version {versions[empty[0]]} of model {empty[0]!r}")
        return self

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, path: str) -> BundleFile | None:
        return next((f for f in self.files if f.path == path), None)

    def describe(self) -> str:
        """`detector v2, ocr v3` for one-line messages."""
        return ", ".join(f"{m.name} v{m.version}" for m in self.models)


def manifest_bytes(manifest: Manifest) -> bytes:
    """The bytes a builder stores as `manifest.json` and signs (compact JSON: KMS signs at most 4 KiB raw)."""
    return manifest.model_dump_json().encode()
