"""Where the `tritonserver` binary lives and how to run it here.

Locally the server is the binary shipped inside the `nvidia-pytriton` wheel (Triton 2.51, CPU, Python backend).
Its Python-backend stub must sit inside the backend folder, so a backends folder is assembled once per machine in a
cache directory (the wheel's folder stays untouched). On an appliance image `EDGECV_TRITONSERVER` may point at a
system Triton instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from contracts.errors import EdgecvError


class TritonNotInstalledError(EdgecvError):
    """No usable tritonserver binary (or its Python backend) on this machine."""


@dataclass(frozen=True)
class TritonInstallation:
    binary: Path
    backends: Path
    library_path: Path | None

    def environment(self) -> dict[str, str]:
        """The server's environment: its bundled libraries, and this venv first on PATH so the Python stub finds
        this environment's packages (the stub ignores PYTHONPATH)."""
        env = dict(os.environ)
        if self.library_path is not None:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                p for p in (str(self.library_path), env.get("LD_LIBRARY_PATH", "")) if p)
        env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        env.pop("PYTHONPATH", None)
        return env


def _pytriton_root() -> Path:
    try:
        import pytriton
    except ImportError as exc:
        raise TritonNotInstalledError("nvidia-pytriton is not installed (it ships the tritonserver binary): "
                                 "run `make venv`") from exc
    return Path(pytriton.__file__).resolve().parent


def locate(cache_dir: Path | None = None) -> TritonInstallation:
    """The tritonserver binary, a ready backends folder, and the libraries it needs."""
    override = os.environ.get("EDGECV_TRITONSERVER")
    if override:
        binary = Path(override)
        if not binary.is_file():
            raise TritonNotInstalledError(f"EDGECV_TRITONSERVER={override} is not a file")
        return TritonInstallation(binary, Path(os.environ.get("EDGECV_TRITON_BACKENDS",
                                                              "/opt/tritonserver/backends")), None)
    root = _pytriton_root() / "tritonserver"
    binary = root / "bin" / "tritonserver"
    libs = root.parent.parent / "nvidia_pytriton.libs"
    stub = root / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}" / \
        "triton_python_backend_stub"
    if not binary.is_file() or not stub.is_file():
        raise TritonNotInstalledError(f"tritonserver or its Python {sys.version_info.major}.{sys.version_info.minor} "
                                 f"stub missing under {root}")
    cache_dir = Path(cache_dir or os.environ.get("EDGECV_CACHE", Path.home() / ".cache" / "edgecv"))
    backends = cache_dir / "triton-backends"
    python_backend = backends / "python"
    if not (python_backend / "triton_python_backend_stub").is_file():
        staging = backends.with_name(backends.name + f".partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(root / "backends", staging)
        shutil.copy2(stub, staging / "python" / "triton_python_backend_stub")
        shutil.rmtree(backends, ignore_errors=True)
        staging.rename(backends)
    return TritonInstallation(binary, backends, libs if libs.is_dir() else None)
