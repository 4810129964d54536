"""Artifact build: the project wheel (`pip wheel . --no-deps`, on a clean copy of the tree), a constraints file
pinning the runtime dependency closure as installed here, and the recipes rendered with their artifact URIs
(bucket filled in) and SHA-256 digests.

Layout of `--out DIR`:
    DIR/s3/edgecv/artifacts/<wheel>, DIR/s3/edgecv/artifacts/constraints.txt   (upload DIR/s3 to the bucket root)
    DIR/recipes/<ComponentName>-<ComponentVersion>.json                         (what CreateComponentVersion takes)
    DIR/artifacts.json                                                          (uri, file, sha256 hex, bytes)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from contracts.errors import EdgecvError
from greengrass_components import ARTIFACT_BUCKET_PLACEHOLDER, RECIPES_DIR
from greengrass_components.recipe import Recipe
from greengrass_components.validate import validate, validate_directory

PROJECT = "edgecv"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACT_PREFIX = "edgecv/artifacts"
BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


class ArtifactBuildError(EdgecvError):
    """The wheel could not be built, or the recipes do not match what was built."""


@dataclass(frozen=True)
class BuiltArtifact:
    uri: str
    path: Path
    sha256: str
    size: int

    @property
    def digest(self) -> str:
        """The form Greengrass records in a recipe's `Digest`: base64 of the raw SHA-256."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


@dataclass(frozen=True)
class BuildResult:
    artifacts: list[BuiltArtifact]
    recipes: dict[str, Path]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def runtime_pins(project: str = PROJECT) -> list[str]:
    """`name==version` for the project's runtime dependency closure as installed in this environment (extras
    left out; environment markers evaluated for this interpreter and platform)."""
    from packaging.requirements import Requirement as PackagingRequirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    todo = [project]
    while todo:
        name = todo.pop()
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError as exc:
            raise ArtifactBuildError(f"{name} is required but not installed in {sys.prefix}") from exc
        for text in requires:
            requirement = PackagingRequirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            key = canonicalize_name(requirement.name)
            if key in pins:
                continue
            try:
                pins[key] = metadata.version(requirement.name)
            except metadata.PackageNotFoundError as exc:
                raise ArtifactBuildError(f"{requirement.name} (needed by {name}) is not installed") from exc
            todo.append(requirement.name)
            for extra in requirement.extras:
                todo.extend(_extra_requirements(requirement.name, extra, pins))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _extra_requirements(name: str, extra: str, pins: dict[str, str]) -> Iterable[str]:
    """Distributions an extra (`tritonclient[grpc]`) adds: returned to be walked like any other."""
    from packaging.requirements import Requirement as PackagingRequirement
    from packaging.utils import canonicalize_name

    for text in metadata.requires(name) or []:
        requirement = PackagingRequirement(text)
        if requirement.marker is None or not requirement.marker.evaluate({"extra": extra}) \
                or requirement.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(requirement.name)
        if key not in pins:
            pins[key] = metadata.version(requirement.name)
            yield requirement.name


COPY_IGNORE = (".git", ".venv", ".edgecv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
               ".ruff_cache", ".hypothesis", "cdk.out", "node_modules", "*.pyc")


def build_wheel(out_dir: Path, project_root: Path = PROJECT_ROOT,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Path:
    """`pip wheel . --no-deps` on a clean copy of the tree: setuptools' in-tree `build/` keeps files that were
    deleted since the last build (they would ship), and other builds may share it."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(f"{PROJECT}-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="edgecv-wheel-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(project_root, source, ignore=shutil.ignore_patterns(*COPY_IGNORE), symlinks=True)
        result = run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                      "--quiet", "-w", str(out_dir)], capture_output=True, text=True, cwd=tmp)
    wheels = sorted(out_dir.glob(f"{PROJECT}-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        tail = " ".join((result.stderr or result.stdout or "").strip().splitlines()[-1:])
        raise ArtifactBuildError(f"pip wheel failed (exit {result.returncode}): {tail or 'no wheel written'}")
    return wheels[0]


def render_recipe(recipe: Recipe, files: dict[str, BuiltArtifact], bucket: str) -> Recipe:
    """The recipe with each artifact's bucket filled in and its digest recorded; every artifact must be built."""
    data = recipe.model_dump(mode="json", exclude_none=True)
    for manifest in data["Manifests"]:
        for artifact in manifest.get("Artifacts", []):
            name = artifact["URI"].rstrip("/").rsplit("/", 1)[-1]
            built = files.get(name)
            if built is None:
                raise ArtifactBuildError(f"{recipe.ComponentName} lists artifact {name!r}, which the build did not "
                                         f"produce ({', '.join(sorted(files))}); update the recipe")
            artifact["URI"] = built.uri.replace(ARTIFACT_BUCKET_PLACEHOLDER, bucket)
            artifact["Digest"] = built.digest
            artifact["Algorithm"] = "SHA-256"
    return Recipe.model_validate(data)


def build(out: Path, bucket: str = ARTIFACT_BUCKET_PLACEHOLDER, recipes_dir: Path = RECIPES_DIR,
          project_root: Path = PROJECT_ROOT,
          run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> BuildResult:
    if bucket != ARTIFACT_BUCKET_PLACEHOLDER and not re.match(BUCKET_NAME, bucket):
        raise ArtifactBuildError(f"{bucket!r} is not an S3 bucket name")
    recipes = validate_directory(recipes_dir)
    out = Path(out)
    artifact_dir = out / "s3" / ARTIFACT_PREFIX
    wheel = build_wheel(artifact_dir, project_root, run)
    constraints = artifact_dir / "constraints.txt"
    constraints.write_text("# runtime dependency closure of the edgecv wheel, pinned as built\n"
                           + "\n".join(runtime_pins()) + "\n")
    built = {}
    for path in (wheel, constraints):
        uri = f"s3://{ARTIFACT_BUCKET_PLACEHOLDER}/{ARTIFACT_PREFIX}/{path.name}"
        built[path.name] = BuiltArtifact(uri.replace(ARTIFACT_BUCKET_PLACEHOLDER, bucket), path,
                                         sha256_file(path), path.stat().st_size)
    rendered = {name: render_recipe(recipe, built, bucket) for name, recipe in recipes.items()}
    problems = validate(rendered)
    if problems:
        raise ArtifactBuildError(f"rendered recipes do not validate: {problems[0]}")
    recipe_dir = out / "recipes"
    recipe_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, recipe in rendered.items():
        path = recipe_dir / f"{name}-{recipe.ComponentVersion}.json"
        path.write_text(recipe.dump())
        written[name] = path
    (out / "artifacts.json").write_text(json.dumps(
        [{"uri": a.uri, "file": str(a.path.relative_to(out)), "sha256": a.sha256, "bytes": a.size}
         for a in built.values()], indent=2) + "\n")
    return BuildResult(list(built.values()), written)
