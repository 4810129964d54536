"""The site's runtime Triton model repository: a writable copy of the shipped `model_repository/` models.

Triton serves from here, and the OTA agent stages new versions here; the source tree is never written to.
"""

from __future__ import annotations

import compileall
import shutil
from pathlib import Path

from model_repository.configs import CANDIDATE_PIPELINE, MODELS, PIPELINE, REPOSITORY

SERVED = (*MODELS, PIPELINE, CANDIDATE_PIPELINE)


def precompile(version_dir: Path) -> None:
    """Write the bytecode of a version's Python files before Triton loads them.

    Otherwise the Python-backend stub writes `__pycache__` into the version folder while the model loads (it
    ignores PYTHONDONTWRITEBYTECODE), Triton then takes the folder for a changed model, and the next ensemble
    load that uses the model reloads it: about 2 s per OTA smoke test and per cold start, measured here.
    """
    compileall.compile_dir(str(version_dir), maxlevels=0, quiet=1)


def _ignore(_directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def prepare_repository(dest: Path, source: Path = REPOSITORY) -> Path:
    """Copy every shipped model's config and versions that `dest` lacks (staged versions are kept)."""
    dest = Path(dest)
    for name in SERVED:
        src_model = Path(source) / name
        if not src_model.is_dir():
            raise FileNotFoundError(f"model {name} missing from {source}")
        dst_model = dest / name
        dst_model.mkdir(parents=True, exist_ok=True)
        if not (dst_model / "config.pbtxt").exists():
            shutil.copy2(src_model / "config.pbtxt", dst_model / "config.pbtxt")
        for version in src_model.iterdir():
            if version.is_dir() and version.name.isdigit() and not (dst_model / version.name).exists():
                staging = dst_model / f".{version.name}.partial"
                shutil.rmtree(staging, ignore_errors=True)
                shutil.copytree(version, staging, ignore=_ignore)
                precompile(staging)
                staging.rename(dst_model / version.name)
    return dest


def default_load_order() -> dict[str, str | None]:
    """Every step and network with its repository config, then the ensemble (None = the config on disk)."""
    return {**dict.fromkeys(MODELS), PIPELINE: None}
