"""A local stand-in for a Greengrass v2 deployment to a site group: reads the SAME recipes, merges the group's and
each site's configuration updates (`reset` then `merge`, as a deployment's `configurationUpdate` does), resolves
dependency order, interpolates recipe variables, and runs each component's Run lifecycle as a process per site.

What differs from a nucleus, on purpose:
- Install is skipped: the current virtual environment is the runtime. `{work:path}/venv` is a symlink to it, so
  the Run scripts are the recipe's own, unchanged.
- A dependency must be *ready* before its dependents start (Triton: gRPC server and the pipeline model ready),
  where the nucleus only waits for RUNNING.
- AWS-provided components (`aws.greengrass.TokenExchangeService`, ...) are not run; processes get AWS settings from
  this environment (a moto endpoint locally). There is no IPC socket: a component that needs IPC fails clearly.
- Stop runs in reverse dependency order: SIGTERM to the Run process group, SIGKILL after a timeout, then any
  leftover descendant (also those in their own session, like tritonserver), then the Shutdown script.

Group file (`edgecv-greengrass-group/1`):
    {"format": "edgecv-greengrass-group/1", "group": "ring-0",
     "components": {"com.edgecv.Ingest": {"componentVersion": "1.0.0",
                                          "configurationUpdate": {"merge": {...}, "reset": ["/path"]}}},
     "sites": {"site-a": {"com.edgecv.Triton": {"configurationUpdate": {"merge": {"grpcPort": 18001}}}}}}
`components` are the deployment's root components (dependencies are added, as Greengrass does); `sites` maps each
thing name to its own updates, applied after the group's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.errors import EdgecvError, first_validation_error
from greengrass_components import RECIPES_DIR
from greengrass_components.interpolation import (
    ComponentPaths,
    InterpolationError,
    Scope,
    json_pointer,
)
from greengrass_components.recipe import DependencyKind, Recipe, RecipeError, load_recipes
from greengrass_components.validate import (
    AWS_COMPONENTS,
    RecipeValidationError,
    Validator,
    by_name,
    dependency_order,
)

log = logging.getLogger(__name__)

GROUP_FORMAT = "edgecv-greengrass-group/1"
MAX_RESTARTS = 3  # the nucleus marks a component BROKEN after three failed starts
THING_NAME = r"^[A-Za-z0-9:_-]{1,128}$"


class LocalDeployError(EdgecvError):
    """The group file, the recipes or a component's process keeps a local deployment from running."""


# ------------------------------------------------------------------------------------------------- group file
class ConfigurationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reset: list[str] = Field(default_factory=list, title="JSON pointers set back to the recipe's default")
    merge: dict[str, Any] = Field(default_factory=dict, title="deep-merged over the configuration")

    @field_validator("merge", mode="before")
    @classmethod
    def _json_string(cls, value: Any) -> Any:
        # CreateDeployment takes `merge` as a JSON string; accept that form too
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("reset")
    @classmethod
    def _pointers(cls, value: list[str]) -> list[str]:
        for pointer in value:
            if pointer and not pointer.startswith("/"):
                raise ValueError(f"{pointer!r} is not a JSON pointer")
        return value


class ComponentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    componentVersion: str | None = None  # noqa: N815 (Greengrass's field name)
    configurationUpdate: ConfigurationUpdate | None = None  # noqa: N815


class SiteGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["edgecv-greengrass-group/1"] = GROUP_FORMAT
    group: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    components: dict[str, ComponentUpdate] = Field(min_length=1, title="the deployment's root components")
    sites: dict[str, dict[str, ComponentUpdate]] = Field(min_length=1, title="thing name -> per-site updates")
    interpolateComponentConfiguration: bool = Field(  # noqa: N815
        default=True, title="resolve {iot:thingName}, {work:path}... inside configuration values, as the nucleus "
                            "does when its interpolateComponentConfiguration is on")

    @field_validator("sites")
    @classmethod
    def _thing_names(cls, value: dict[str, dict[str, ComponentUpdate]]) -> dict[str, dict[str, ComponentUpdate]]:
        import re

        for thing in value:
            if not re.match(THING_NAME, thing):
                raise ValueError(f"{thing!r} is not a thing name")
        return value

    @classmethod
    def load(cls, path: Path) -> SiteGroup:
        try:
            return cls.model_validate_json(Path(path).read_text())
        except OSError as exc:
            raise LocalDeployError(f"cannot read group file {path}: {exc.strerror or exc}") from exc
        except ValidationError as exc:
            raise LocalDeployError(f"{path}: {first_validation_error(exc, '(top)')}") from exc


# ------------------------------------------------------------------------------------------------ configuration
def merge(base: Any, patch: Any) -> Any:
    """Deep merge: objects merge key by key, anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base.get(key), value) if key in base else value
        return out
    return patch


def reset(config: dict[str, Any], default: dict[str, Any], pointer: str) -> dict[str, Any]:
    """`pointer` back to its default value (removed when the default has none); "" resets everything."""
    if pointer == "":
        return json.loads(json.dumps(default))
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
    out = json.loads(json.dumps(config))
    node = out
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return out
        node = node[part]
    if not isinstance(node, dict):
        return out
    try:
        node[parts[-1]] = json.loads(json.dumps(json_pointer(default, pointer)))
    except KeyError:
        node.pop(parts[-1], None)
    return out


def effective_configuration(default: Mapping[str, Any], updates: list[ConfigurationUpdate]) -> dict[str, Any]:
    config = json.loads(json.dumps(default))
    for update in updates:
        for pointer in update.reset:
            config = reset(config, dict(default), pointer)
        config = merge(config, update.merge)
    return config


def interpolate_values(value: Any, scope: Scope) -> Any:
    if isinstance(value, str):
        return scope.interpolate(value)
    if isinstance(value, dict):
        return {k: interpolate_values(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_values(v, scope) for v in value]
    return value


# ------------------------------------------------------------------------------------------------------ plans
def device_platform() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64"}.get(machine, machine)
    return sys.platform if sys.platform != "linux" else "linux", arch


@dataclass(frozen=True)
class ComponentPlan:
    name: str
    version: str
    hard_dependencies: tuple[str, ...]
    dependencies: tuple[str, ...]
    configuration: dict[str, Any]
    run: str
    env: dict[str, str]
    shutdown: str | None
    shutdown_timeout_s: float
    work_dir: Path
    artifacts_dir: Path
    log_path: Path


@dataclass(frozen=True)
class SitePlan:
    thing_name: str
    root: Path
    components: list[ComponentPlan]
    left_to_aws: list[str] = field(default_factory=list)

    def component(self, name: str) -> ComponentPlan:
        for plan in self.components:
            if plan.name == name:
                return plan
        raise KeyError(name)


def _closure(roots: list[str], recipes: Mapping[str, Recipe]) -> tuple[set[str], set[str]]:
    """(components to run, AWS-provided ones left to the nucleus) reachable from the root components."""
    local, aws, todo = set(), set(), list(roots)
    while todo:
        name = todo.pop()
        if name in local or name in aws:
            continue
        if name in recipes:
            local.add(name)
            todo.extend(recipes[name].ComponentDependencies)
        elif name in AWS_COMPONENTS:
            aws.add(name)
        else:
            raise LocalDeployError(f"component {name} has no recipe here")
    return local, aws


def plan_site(group: SiteGroup, thing_name: str, recipes: Mapping[str, Recipe], root: Path,
              platform_: tuple[str, str] | None = None) -> SitePlan:
    """Everything needed to run one site, computed without starting anything."""
    os_name, arch = platform_ or device_platform()
    site_updates = group.sites[thing_name]
    for name in site_updates:
        if name not in recipes:
            raise LocalDeployError(f"site {thing_name}: component {name} has no recipe here")
    local, aws = _closure([*group.components, *site_updates], recipes)
    chosen = {name: recipes[name] for name in local}
    for name in chosen:
        for update in (group.components.get(name), site_updates.get(name)):
            if update and update.componentVersion and update.componentVersion != chosen[name].ComponentVersion:
                raise LocalDeployError(f"{name} {update.componentVersion} is wanted but the recipe here is "
                                       f"{chosen[name].ComponentVersion}")
    try:
        order = dependency_order(chosen)
    except RecipeValidationError as exc:
        raise LocalDeployError(str(exc)) from exc
    site_root = Path(root).resolve() / thing_name
    paths: dict[str, tuple[Path, Path]] = {
        name: (site_root / "work" / name,
               site_root / "packages" / "artifacts" / name / chosen[name].ComponentVersion) for name in order}

    def scope_for(name: str, configs: Mapping[str, Mapping[str, Any]]) -> Scope:
        components = {n: ComponentPaths(configs.get(n, {}), str(w), str(a), str(a) + "-unarchived")
                      for n, (w, a) in paths.items()}
        return Scope(name, frozenset(chosen[name].ComponentDependencies), components, thing_name, str(site_root))

    configs: dict[str, dict[str, Any]] = {}
    for name in order:
        updates = [u.configurationUpdate for u in (group.components.get(name), site_updates.get(name))
                   if u is not None and u.configurationUpdate is not None]
        config = effective_configuration(chosen[name].default_configuration, updates)
        if group.interpolateComponentConfiguration:
            try:
                config = interpolate_values(config, scope_for(name, {}))
            except InterpolationError as exc:
                raise LocalDeployError(f"site {thing_name}: {exc}") from exc
        configs[name] = config
    problems = Validator(chosen, configs, thing_name=thing_name).run()
    if problems:
        raise LocalDeployError(f"site {thing_name}: {problems[0]}")
    plans = []
    for name in order:
        recipe = chosen[name]
        manifest = recipe.manifest_for(os_name, arch)
        if manifest is None or manifest.Lifecycle is None or manifest.Lifecycle.Run is None:
            raise LocalDeployError(f"{name} has no manifest with a Run step for {os_name}/{arch}")
        scope = scope_for(name, configs)
        lifecycle = manifest.Lifecycle
        try:
            env = {k: scope.interpolate(v) for k, v in {**lifecycle.Setenv, **lifecycle.Run.Setenv}.items()}
            run = scope.interpolate(lifecycle.Run.Script)
            shutdown = scope.interpolate(lifecycle.Shutdown.Script) if lifecycle.Shutdown else None
        except InterpolationError as exc:
            raise LocalDeployError(f"site {thing_name}: {exc}") from exc
        deps = tuple(d for d in recipe.ComponentDependencies if d in chosen)
        plans.append(ComponentPlan(
            name=name, version=recipe.ComponentVersion, dependencies=deps,
            hard_dependencies=tuple(d for d in deps
                                    if recipe.ComponentDependencies[d].DependencyType is DependencyKind.HARD),
            configuration=configs[name], run=run, env=env, shutdown=shutdown,
            shutdown_timeout_s=float(lifecycle.Shutdown.Timeout or 15) if lifecycle.Shutdown else 0.0,
            work_dir=paths[name][0], artifacts_dir=paths[name][1], log_path=site_root / "logs" / f"{name}.log"))
    return SitePlan(thing_name, site_root, plans, sorted(aws))


def load_group_recipes(recipes_dir: Path = RECIPES_DIR) -> dict[str, Recipe]:
    try:
        return by_name(load_recipes(recipes_dir))
    except (RecipeError, RecipeValidationError) as exc:
        raise LocalDeployError(str(exc)) from exc


def plan_group(group: SiteGroup, root: Path, recipes: Mapping[str, Recipe] | None = None,
               platform_: tuple[str, str] | None = None) -> list[SitePlan]:
    recipes = recipes if recipes is not None else load_group_recipes()
    return [plan_site(group, thing, recipes, root, platform_) for thing in group.sites]


# ---------------------------------------------------------------------------------------------------- probes
Probe = Callable[[ComponentPlan], bool]


def triton_ready(plan: ComponentPlan) -> bool:
    """gRPC answers on loopback and the configured model (the pipeline ensemble) is ready."""
    from tritonclient.grpc import InferenceServerClient, InferenceServerException

    url = f"127.0.0.1:{plan.configuration['grpcPort']}"
    try:
        client = InferenceServerClient(url)
    except InferenceServerException:
        return False
    try:
        model = plan.configuration.get("readyModel")
        return bool(client.is_server_ready() and (model is None or client.is_model_ready(str(model))))
    except InferenceServerException:
        return False
    finally:
        client.close()


DEFAULT_PROBES: dict[str, Probe] = {"com.edgecv.Triton": triton_ready}


# --------------------------------------------------------------------------------------------------- processes
class ComponentState(StrEnum):
    INSTALLED = "INSTALLED"  # planned, not started
    STARTING = "STARTING"    # Run started, not ready yet
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    FINISHED = "FINISHED"    # Run exited 0 on its own
    ERRORED = "ERRORED"      # Run exited non-zero; restarted up to MAX_RESTARTS times
    BROKEN = "BROKEN"        # errored too often; left stopped
    STOPPED = "STOPPED"      # stopped by the deployer (local only)


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19]) if fields[0] != "Z" else None  # field 22 (starttime); zombies count as gone


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, start time) of every living descendant of `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        start = _start_time(child)
        if start is not None:
            found.append((child, start))
        todo.extend(children.get(child, []))
    return found


def alive(pid: int, start: int | None = None) -> bool:
    now = _start_time(pid)
    return now is not None and (start is None or now == start)


@dataclass
class RunningComponent:
    plan: ComponentPlan
    state: ComponentState = ComponentState.INSTALLED
    process: subprocess.Popen | None = None
    restarts: int = 0
    exit_code: int | None = None
    tree: list[tuple[int, int]] = field(default_factory=list)


class LocalDeployment:
    """One site's components as processes. Use as a context manager: everything is stopped on exit."""

    def __init__(self, plan: SitePlan, *, probes: Mapping[str, Probe] | None = None,
                 runtime_prefix: Path | None = None, ready_timeout_s: float = 120.0, stop_timeout_s: float = 30.0,
                 settle_s: float = 1.0, orphan_grace_s: float = 2.0, environ: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.probes = dict(DEFAULT_PROBES if probes is None else probes)
        self.runtime_prefix = Path(runtime_prefix or sys.prefix)
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.settle_s = settle_s
        self.orphan_grace_s = orphan_grace_s
        self.environ = dict(os.environ if environ is None else environ)
        self.sleep, self.clock = sleep, clock
        self.components = {p.name: RunningComponent(p) for p in plan.components}

    # ------------------------------------------------------------------------------------------------ start
    def start(self) -> LocalDeployment:
        try:
            for plan in self.plan.components:
                self._start(self.components[plan.name])
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self, plan: ComponentPlan) -> None:
        plan.work_dir.mkdir(parents=True, exist_ok=True)
        plan.artifacts_dir.mkdir(parents=True, exist_ok=True)
        plan.log_path.parent.mkdir(parents=True, exist_ok=True)
        if not (self.runtime_prefix / "bin" / "python").exists():
            raise LocalDeployError(f"{self.runtime_prefix} is not a Python environment (no bin/python)")
        venv = plan.work_dir / "venv"
        if venv.is_symlink() and venv.resolve() != self.runtime_prefix.resolve():
            venv.unlink()
        if not venv.exists():
            venv.symlink_to(self.runtime_prefix.resolve(), target_is_directory=True)
        elif not venv.is_symlink():
            raise LocalDeployError(f"{venv} exists and is not this deployer's link to the runtime")

    def _environment(self, plan: ComponentPlan) -> dict[str, str]:
        env = dict(self.environ)
        env.pop("PYTHONPATH", None)  # the runtime is the venv, as on a device
        env.update({"AWS_IOT_THING_NAME": self.plan.thing_name, "GG_COMPONENT_NAME": plan.name})
        env.update(plan.env)
        return env

    def _start(self, running: RunningComponent) -> None:
        plan = running.plan
        self._prepare(plan)
        with plan.log_path.open("ab") as logfile:
            logfile.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start {plan.name} {plan.version} "
                          f"(site {self.plan.thing_name})\n".encode())
            logfile.flush()
            running.process = subprocess.Popen(["/bin/sh", "-c", plan.run], cwd=plan.work_dir,
                                               env=self._environment(plan), stdout=logfile,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               start_new_session=True)
        running.state, running.exit_code, running.tree = ComponentState.STARTING, None, []
        log.info("%s/%s: started (pid %d, log %s)", self.plan.thing_name, plan.name, running.process.pid,
                 plan.log_path)
        self._wait_ready(running)

    def _wait_ready(self, running: RunningComponent) -> None:
        plan, process = running.plan, running.process
        assert process is not None
        probe = self.probes.get(plan.name)
        deadline = self.clock() + (self.ready_timeout_s if probe else self.settle_s)
        while True:
            code = process.poll()
            if code is not None:
                running.state, running.exit_code = ComponentState.ERRORED, code
                raise LocalDeployError(f"{self.plan.thing_name}/{plan.name} exited with code {code} before it "
                                       f"was ready: {self._last_log_line(plan)} (log: {plan.log_path})")
            if probe is not None and probe(plan):
                break
            if self.clock() >= deadline:
                if probe is None:
                    break  # alive for the settle time: good enough for a component without a probe
                raise LocalDeployError(f"{self.plan.thing_name}/{plan.name} not ready after "
                                       f"{self.ready_timeout_s:.0f} s (log: {plan.log_path})")
            self.sleep(0.2)
        running.state = ComponentState.RUNNING
        self._remember_tree(running)
        log.info("%s/%s: ready", self.plan.thing_name, plan.name)

    @staticmethod
    def _remember_tree(running: RunningComponent) -> None:
        """Note the Run process's descendants now: once it dies they are re-parented and no longer findable."""
        if running.process is None:
            return
        known = {(pid, start) for pid, start in running.tree if alive(pid, start)}
        running.tree = sorted(known | set(descendants(running.process.pid)))

    @staticmethod
    def _last_log_line(plan: ComponentPlan) -> str:
        try:
            lines = [line for line in plan.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1].strip()[:300] if lines else "no output"

    # ---------------------------------------------------------------------------------------------- watch
    def poll(self) -> dict[str, ComponentState]:
        """Notice exits: 0 -> FINISHED; otherwise ERRORED and restarted (with its HARD dependents), BROKEN after
        MAX_RESTARTS. Returns every component's state."""
        for plan in self.plan.components:
            running = self.components[plan.name]
            if running.state is not ComponentState.RUNNING or running.process is None:
                continue
            code = running.process.poll()
            if code is None:
                self._remember_tree(running)
                continue
            running.exit_code = code
            if code == 0:
                running.state = ComponentState.FINISHED
                continue
            running.state = ComponentState.ERRORED
            log.warning("%s/%s exited with code %d: %s", self.plan.thing_name, plan.name, code,
                        self._last_log_line(plan))
            self._restart(running)
        return self.states()

    def _restart(self, running: RunningComponent) -> None:
        if running.restarts >= MAX_RESTARTS:
            running.state = ComponentState.BROKEN
            return
        dependents = [self.components[p.name] for p in self.plan.components
                      if running.plan.name in p.hard_dependencies
                      and self.components[p.name].state is ComponentState.RUNNING]
        for dependent in reversed(dependents):
            self._stop(dependent)
        running.restarts += 1
        self._stop(running)
        try:
            self._start(running)
            for dependent in dependents:
                self._start(dependent)
        except LocalDeployError as exc:
            log.warning("restart failed: %s", exc)

    def states(self) -> dict[str, ComponentState]:
        return {name: running.state for name, running in self.components.items()}

    def pids(self) -> list[int]:
        """Every process this deployment started and their living descendants (what stop() must leave none of)."""
        pids = []
        for running in self.components.values():
            if running.process is not None and alive(running.process.pid):
                pids.append(running.process.pid)
                pids.extend(pid for pid, _ in descendants(running.process.pid))
            pids.extend(pid for pid, start in running.tree if alive(pid, start))
        return sorted(set(pids))

    # ----------------------------------------------------------------------------------------------- stop
    def stop(self) -> None:
        """Stop every component in reverse dependency order; safe to call twice."""
        for plan in reversed(self.plan.components):
            self._stop(self.components[plan.name])

    def _stop(self, running: RunningComponent) -> None:
        process = running.process
        if process is None:
            return
        self._remember_tree(running)
        if process.poll() is None:
            running.state = ComponentState.STOPPING
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s/%s did not stop in %.0f s; killing it", self.plan.thing_name, running.plan.name,
                            self.stop_timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything left in the Run process group
        self._reap_tree(running)
        running.exit_code = process.returncode
        running.process = None
        if running.state in (ComponentState.STOPPING, ComponentState.RUNNING, ComponentState.STARTING):
            running.state = ComponentState.STOPPED
        self._shutdown(running.plan)

    def _reap_tree(self, running: RunningComponent) -> None:
        """Descendants that outlived the Run process (tritonserver runs in its own session) are orphans nobody
        else will stop: SIGTERM, a short grace, then SIGKILL."""
        leftovers = [(pid, start) for pid, start in running.tree if alive(pid, start)]
        for pid, _ in leftovers:
            log.warning("%s/%s: stopping leftover process %d", self.plan.thing_name, running.plan.name, pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = self.clock() + self.orphan_grace_s
        while any(alive(pid, start) for pid, start in leftovers) and self.clock() < deadline:
            self.sleep(0.1)
        for pid, start in leftovers:
            if alive(pid, start):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        running.tree = [(pid, start) for pid, start in running.tree if alive(pid, start)]

    def _shutdown(self, plan: ComponentPlan) -> None:
        if not plan.shutdown:
            return
        with plan.log_path.open("ab") as logfile:
            try:
                subprocess.run(["/bin/sh", "-c", plan.shutdown], cwd=plan.work_dir, env=self._environment(plan),
                               stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               timeout=plan.shutdown_timeout_s, check=False)
            except subprocess.TimeoutExpired:
                log.warning("%s/%s: Shutdown script timed out", self.plan.thing_name, plan.name)

    def __enter__(self) -> LocalDeployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def deploy_group(group: SiteGroup, root: Path, recipes: Mapping[str, Recipe] | None = None,
                 **options: Any) -> Iterator[list[LocalDeployment]]:
    """Start every site of the group (one after the other); stop them all, in reverse, however the block ends."""
    deployments: list[LocalDeployment] = []
    try:
        for plan in plan_group(group, root, recipes):
            deployment = LocalDeployment(plan, **options)
            deployments.append(deployment)
            deployment.start()
        yield deployments
    finally:
        for deployment in reversed(deployments):
            deployment.stop()
