"""What the OTA agent needs from the model server, and an in-memory fake with injectable faults.

The real implementation drives Triton in explicit model-control mode: `load_beside` is a config
override whose `version_policy` is `specific [old, new]` (never unload-then-load), and `switch` is the
`pallet_pipeline` ensemble's own config change, its steps pinned to explicit versions (a step with
`model_version: -1` would follow the newest loaded version before its smoke test).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from contracts.jobs import SmokeCriteria, SmokeResult
from edge_appliance.model_store import precompile
from edge_appliance.ota.atomic import fsync_dir, write_atomic
from edge_appliance.ota.errors import ModelServerError

OPERATIONS = ("stage", "load_beside", "smoke_test", "switch", "retire")


@runtime_checkable
class ModelServer(Protocol):
    def serving_versions(self) -> dict[str, int]:
        """{model: version} the ensemble routes traffic to now."""
        ...

    def loaded_versions(self) -> dict[str, list[int]]:
        """{model: [versions]} loaded now (serving or candidate)."""
        ...

    def stage(self, model: str, version: int, files_dir: Path) -> None:
        """Place `files_dir/<version>/` (one model's folder of a verified bundle) into the repository."""
        ...

    def load_beside(self, model: str, versions: list[int]) -> None:
        """Load exactly `versions` of `model` (the serving one among them); never unload-then-load."""
        ...

    def smoke_test(self, candidate: dict[str, int], criteria: SmokeCriteria) -> SmokeResult:
        """Run held-out frames through the ensemble with `candidate` versions; measure, do not judge."""
        ...

    def switch(self, versions: dict[str, int]) -> None:
        """Pin the ensemble's steps to `versions` (every model the ensemble uses)."""
        ...

    def retire(self, model: str, keep: int | None) -> None:
        """Unload every version of `model` but `keep` (None: unload the model); files stay on disk."""
        ...


class FakeState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serving: dict[str, int] = Field(default_factory=dict)
    loaded: dict[str, list[int]] = Field(default_factory=dict)
    accuracy: dict[str, float] = Field(default_factory=dict, title="'model:version' -> smoke accuracy")
    latency_ms: dict[str, float] = Field(default_factory=dict, title="'model:version' -> smoke p99")
    fail_on: list[str] = Field(default_factory=list, title="operations that raise ModelServerError")
    calls: list[str] = Field(default_factory=list, title="what was asked, in order")


class FakeModelServer:
    """A model server in memory (or in a JSON file, so a killed agent's successor sees the same server).

    It enforces the contract a real Triton would punish: loading without the serving version is an
    unload-then-load, switching to a version not loaded fails requests, retiring the serving version
    takes the site down. Each raises ModelServerError.
    """

    def __init__(self, repository: Path, state_file: Path | None = None, state: FakeState | None = None) -> None:
        self.repository = Path(repository)
        self.state_file = state_file
        if state is None and state_file is not None and state_file.exists():
            state = FakeState.model_validate_json(state_file.read_bytes())
        self.state = state or FakeState()
        self._save()

    # -- test knobs ------------------------------------------------------------------------------
    def set_quality(self, model: str, version: int, accuracy: float, latency_ms: float = 5.0) -> None:
        self.state.accuracy[f"{model}:{version}"] = accuracy
        self.state.latency_ms[f"{model}:{version}"] = latency_ms
        self._save()

    def fail(self, *operations: str) -> None:
        unknown = set(operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}")
        self.state.fail_on = sorted(set(self.state.fail_on) | set(operations))
        self._save()

    def heal(self) -> None:
        self.state.fail_on = []
        self._save()

    # -- the protocol ----------------------------------------------------------------------------
    def serving_versions(self) -> dict[str, int]:
        return dict(self.state.serving)

    def loaded_versions(self) -> dict[str, list[int]]:
        return {m: sorted(v) for m, v in self.state.loaded.items() if v}

    def stage(self, model: str, version: int, files_dir: Path) -> None:
        self._call("stage", f"{model}:{version}")
        place_version(self.repository, model, version, files_dir,
                      loaded=version in self.state.loaded.get(model, []))

    def load_beside(self, model: str, versions: list[int]) -> None:
        self._call("load_beside", f"{model}:{sorted(versions)}")
        serving = self.state.serving.get(model)
        if serving is not None and serving not in versions:
            raise ModelServerError(f"loading {model} {versions} would unload serving v{serving}")
        missing = [v for v in versions if not (self.repository / model / str(v)).is_dir()]
        if missing:
            raise ModelServerError(f"{model} v{missing[0]} is not in the repository")
        self.state.loaded[model] = sorted(set(versions))
        self._save()

    def smoke_test(self, candidate: dict[str, int], criteria: SmokeCriteria) -> SmokeResult:
        self._call("smoke_test", json.dumps(candidate, sort_keys=True))
        for model, version in candidate.items():
            if version not in self.state.loaded.get(model, []):
                raise ModelServerError(f"{model} v{version} is not loaded")
        keys = [f"{m}:{v}" for m, v in candidate.items()]
        accuracy = min((self.state.accuracy.get(k, 1.0) for k in keys), default=1.0)
        latency = max((self.state.latency_ms.get(k, 5.0) for k in keys), default=5.0)
        return SmokeResult(frames=criteria.frames, accuracy=accuracy, latency_ms_p50=latency / 2,
                           latency_ms_p99=latency)

    def switch(self, versions: dict[str, int]) -> None:
        self._call("switch", json.dumps(versions, sort_keys=True))
        for model, version in versions.items():
            if version not in self.state.loaded.get(model, []):
                raise ModelServerError(f"cannot route to {model} v{version}: it is not loaded")
        self.state.serving = dict(versions)
        self._save()

    def retire(self, model: str, keep: int | None) -> None:
        self._call("retire", f"{model}:{keep}")
        serving = self.state.serving.get(model)
        if serving is not None and serving != keep:
            raise ModelServerError(f"retiring {model} down to {keep} would unload serving v{serving}")
        if keep is None:
            self.state.loaded.pop(model, None)
        else:
            self.state.loaded[model] = [keep]
        self._save()

    # -- internals -------------------------------------------------------------------------------
    def _call(self, operation: str, detail: str) -> None:
        self.state.calls.append(f"{operation} {detail}")
        self._save()
        if operation in self.state.fail_on:
            raise ModelServerError(f"{operation} failed (injected fault)")

    def _save(self) -> None:
        if self.state_file is not None:
            write_atomic(self.state_file, self.state.model_dump_json().encode())


def place_version(repository: Path, model: str, version: int, files_dir: Path, loaded: bool) -> Path:
    """Copy `files_dir/<version>/` to `repository/<model>/<version>/` (temp folder + rename).

    The same files already there is a no-op (a rollback to a retained version); other files under a
    loaded version are refused.
    """
    source = Path(files_dir) / str(version)
    if not source.is_dir():
        raise ModelServerError(f"{source} has no files for {model} v{version}")
    target = Path(repository) / model / str(version)
    if target.exists():
        if _same_tree(source, target):
            return target
        if loaded:
            raise ModelServerError(f"{model} v{version} is loaded with other files; refusing to overwrite")
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=target.parent))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        precompile(tmp)  # before Triton sees it: a stub writing __pycache__ later makes Triton reload the model
        tmp.rename(target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelServerError(f"cannot place {model} v{version} in {repository}: {exc.strerror or exc}") from exc
    fsync_dir(target.parent)
    return target


def _files(root: Path) -> list[Path]:
    """The files of a version folder, leaving out the bytecode cache written beside its Python files."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _same_tree(a: Path, b: Path) -> bool:
    files_a, files_b = _files(a), _files(b)
    return files_a == files_b and all((a / p).read_bytes() == (b / p).read_bytes() for p in files_a)
