"""Lambda code without Docker: a local bundling hook (`cdk.ILocalBundling`).

The asset holds the `lambdas` and `contracts` packages plus `edgecv/kms_signer.py`, copied from the
repository. With `LambdaDependencies.PIP` it also pip-installs manylinux wheels for the runtime's
Python (pydantic, cryptography, numpy, pillow; boto3 ships with the runtime, Powertools comes as AWS's own layer).
The asset hash is computed here over exactly the files copied, so unrelated edits do not re-deploy.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from cdk.config import LambdaDependencies

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("lambdas", "contracts")
SOURCE_FILES = ("edgecv/__init__.py", "edgecv/kms_signer.py")
# The Lambda Python 3.11 runtime is Amazon Linux 2 (glibc 2.26): only manylinux2014 wheels run there. Pillow 13 ships
# none (manylinux_2_28 only), so the Lambdas pin the last Pillow that does; they use nothing newer of it.
RUNTIME_REQUIREMENTS = ("pydantic==2.14.3", "cryptography==50.0.2", "numpy==1.26.4", "pillow==12.2.0")
_SKIP_PARTS = {"__pycache__", "localcloud"}  # the local cloud (moto, emulators) never ships


class BundlingError(RuntimeError):
    """The Lambda asset could not be built."""


def source_files(root: Path = REPO_ROOT) -> list[Path]:
    files = [root / f for f in SOURCE_FILES]
    for package in SOURCE_PACKAGES:
        files.extend(p for p in sorted((root / package).rglob("*.py")) if not _SKIP_PARTS & set(p.parts))
    return files


def source_hash(deps: LambdaDependencies, root: Path = REPO_ROOT) -> str:
    h = hashlib.sha256(f"{deps.value}|{'|'.join(RUNTIME_REQUIREMENTS)}".encode())
    for path in source_files(root):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@jsii.implements(cdk.ILocalBundling)
class LocalBundler:
    def __init__(self, deps: LambdaDependencies, root: Path = REPO_ROOT) -> None:
        self._deps = deps
        self._root = root

    def try_bundle(self, output_dir: str, *_: object, **__: object) -> bool:
        out = Path(output_dir)
        for path in source_files(self._root):
            target = out / path.relative_to(self._root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        if self._deps is LambdaDependencies.PIP:
            cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(out),
                   "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
                   "--only-binary=:all:", *RUNTIME_REQUIREMENTS]
            try:
                subprocess.run(cmd, check=True, capture_output=True, text=True)
            except subprocess.CalledProcessError as exc:
                raise BundlingError(f"pip could not fetch the Lambda dependencies: {exc.stderr.strip()[-300:]}") \
                    from exc
        return True


def lambda_code(deps: LambdaDependencies) -> lambda_.Code:
    """One asset shared by every function (each gets its own handler)."""
    return lambda_.Code.from_asset(
        str(REPO_ROOT / "lambdas"),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=source_hash(deps),
        bundling=cdk.BundlingOptions(
            image=lambda_.Runtime.PYTHON_3_11.bundling_image,
            local=LocalBundler(deps),
            command=["bash", "-c", "echo 'local bundling only' && exit 1"],
        ),
    )
