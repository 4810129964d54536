"""A pydantic model of the Greengrass v2 component recipe subset these components use (RecipeFormatVersion
2020-01-25, JSON). Where the Greengrass schema is closed the model is too (`extra="forbid"`); the component's own
`DefaultConfiguration` is free-form apart from `accessControl`, which Greengrass itself interprets."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.errors import EdgecvError

RECIPE_FORMAT_VERSION = "2020-01-25"
COMPONENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class RecipeError(EdgecvError):
    """A recipe file is missing, not JSON, or does not fit the recipe schema."""


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DependencyKind(StrEnum):
    HARD = "HARD"  # the dependent restarts when the dependency changes state
    SOFT = "SOFT"  # the dependent keeps running when the dependency restarts


class Dependency(_Closed):
    VersionRequirement: str = Field(min_length=1)
    DependencyType: DependencyKind = DependencyKind.HARD


class Step(_Closed):
    """One lifecycle step in its object form (a bare string is the same as `{"Script": ...}`)."""

    Script: str = Field(min_length=1)
    RequiresPrivilege: bool = False
    Skipif: str | None = None
    Timeout: int | None = Field(default=None, ge=1, le=86_400, title="seconds (Greengrass default: 120 for Install)")
    Setenv: dict[str, str] = Field(default_factory=dict)


class LifecycleSpec(_Closed):
    Setenv: dict[str, str] = Field(default_factory=dict)
    Bootstrap: Step | None = None
    Install: Step | None = None
    Startup: Step | None = None
    Run: Step | None = None
    Shutdown: Step | None = None
    Recover: Step | None = None

    @field_validator("Bootstrap", "Install", "Startup", "Run", "Shutdown", "Recover", mode="before")
    @classmethod
    def _string_is_script(cls, value: Any) -> Any:
        return {"Script": value} if isinstance(value, str) else value

    def steps(self) -> dict[str, Step]:
        return {name: step for name in ("Bootstrap", "Install", "Startup", "Run", "Shutdown", "Recover")
                if (step := getattr(self, name)) is not None}


class Os(StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"
    DARWIN = "darwin"
    ANY = "*"


class Architecture(StrEnum):
    AMD64 = "amd64"
    AARCH64 = "aarch64"
    ARMV7L = "armv7l"
    X86 = "x86"
    ARM = "arm"
    ANY = "*"


class PlatformSpec(_Closed):
    os: Os = Os.ANY
    architecture: Architecture = Architecture.ANY


class ArtifactPermission(_Closed):
    Read: str = Field(default="OWNER", pattern="^(NONE|OWNER|ALL)$")
    Execute: str = Field(default="NONE", pattern="^(NONE|OWNER|ALL)$")


class Artifact(_Closed):
    URI: str = Field(pattern=r"^(s3|greengrass|docker|https?)://.+")
    Unarchive: str = Field(default="NONE", pattern="^(NONE|ZIP)$")
    Permission: ArtifactPermission = Field(default_factory=lambda: ArtifactPermission())
    Digest: str | None = Field(default=None, title="base64 of the artifact's SHA-256, as Greengrass records it")
    Algorithm: str | None = Field(default=None, pattern="^SHA-256$")

    @property
    def file_name(self) -> str:
        return self.URI.rstrip("/").rsplit("/", 1)[-1]


class Manifest(_Closed):
    Name: str | None = None
    Platform: PlatformSpec = Field(default_factory=lambda: PlatformSpec())
    Lifecycle: LifecycleSpec | None = None
    Selections: list[str] | None = None
    Artifacts: list[Artifact] = Field(default_factory=list)


class ConfigurationSpec(_Closed):
    DefaultConfiguration: dict[str, Any] = Field(default_factory=dict)


class Recipe(_Closed):
    RecipeFormatVersion: str
    ComponentName: str = Field(pattern=COMPONENT_NAME)
    ComponentVersion: str
    ComponentType: str | None = Field(default=None, pattern=r"^aws\.greengrass\.(generic|lambda|plugin|nucleus)$")
    ComponentDescription: str = Field(min_length=1)
    ComponentPublisher: str = Field(min_length=1)
    ComponentConfiguration: ConfigurationSpec = Field(default_factory=lambda: ConfigurationSpec())
    ComponentDependencies: dict[str, Dependency] = Field(default_factory=dict)
    Manifests: list[Manifest] = Field(min_length=1)
    Lifecycle: dict[str, Any] | None = Field(default=None, title="global lifecycle (selection keys); unused here")

    @property
    def default_configuration(self) -> dict[str, Any]:
        return self.ComponentConfiguration.DefaultConfiguration

    def manifest_for(self, os: str, architecture: str) -> Manifest | None:
        """The first manifest whose platform matches, as the nucleus picks it."""
        for manifest in self.Manifests:
            p = manifest.Platform
            if p.os in (Os.ANY, os) and p.architecture in (Architecture.ANY, architecture):
                return manifest
        return None

    def dump(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True, exclude_defaults=False), indent=2) + "\n"


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top)"
    return f"{where}: {first['msg']}"


def parse_recipe(text: str, source: str = "recipe") -> Recipe:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecipeError(f"{source}: not JSON: {exc}") from exc
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(f"{source}: {_first_error(exc)}") from exc


def load_recipe(path: Path) -> Recipe:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from exc
    return parse_recipe(text, str(path))


def load_recipes(directory: Path) -> dict[Path, Recipe]:
    """Every `*.json` recipe in `directory`, by path (sorted)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecipeError(f"recipe folder not found: {directory}")
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise RecipeError(f"no recipes (*.json) in {directory}")
    return {path: load_recipe(path) for path in paths}
