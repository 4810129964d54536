"""Checks a set of recipes the way a deployment would need them to hold, plus this project's own rules:

- RecipeFormatVersion 2020-01-25 and semver component versions;
- dependencies name a component of the set (or a known AWS-provided component), their version requirements are
  satisfied, and there are no cycles;
- every recipe variable in a lifecycle script or Setenv is known, and every `{configuration:/path}` (also the
  cross-component form, for direct dependencies) exists in the configuration; `{artifacts:path}/FILE` names an
  artifact of the manifest;
- `accessControl` uses known IPC services and operations, no wildcard operation, no catch-all resource, and IoT Core
  topics scoped to the device's own `{iot:thingName}`;
- servers bind to loopback only, and loopback addresses a component uses are ports its dependencies declare;
- a Linux manifest for amd64 and aarch64, each with a Run step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.errors import EdgecvError
from greengrass_components.interpolation import SYSTEM_KEYS, Variable, has_pointer, variables
from greengrass_components.recipe import RECIPE_FORMAT_VERSION, Architecture, Os, Recipe, load_recipes
from greengrass_components.semver import Requirement, Version, VersionError

# Components AWS provides (public components); a recipe may depend on them without their recipe being here.
AWS_COMPONENTS = frozenset({
    "aws.greengrass.Nucleus", "aws.greengrass.TokenExchangeService", "aws.greengrass.ShadowManager",
    "aws.greengrass.LogManager", "aws.greengrass.Cli", "aws.greengrass.SecretManager",
    "aws.greengrass.clientdevices.Auth", "aws.greengrass.clientdevices.mqtt.Moquette",
})

# IPC services and their operations that `accessControl` may grant (Greengrass v2 IPC authorization).
IPC_OPERATIONS: dict[str, frozenset[str]] = {
    "aws.greengrass.ipc.pubsub": frozenset({"aws.greengrass#PublishToTopic", "aws.greengrass#SubscribeToTopic"}),
    "aws.greengrass.ipc.mqttproxy": frozenset({"aws.greengrass#PublishToIoTCore",
                                               "aws.greengrass#SubscribeToIoTCore"}),
    "aws.greengrass.ShadowManager": frozenset({"aws.greengrass#GetThingShadow", "aws.greengrass#UpdateThingShadow",
                                               "aws.greengrass#DeleteThingShadow",
                                               "aws.greengrass#ListNamedShadowsForThing"}),
    "aws.greengrass.SecretManager": frozenset({"aws.greengrass#GetSecretValue"}),
    "aws.greengrass.ipc.componentmetrics": frozenset({"aws.greengrass#PutComponentMetric"}),
    "aws.greengrass.ipc.lifecycle": frozenset({"aws.greengrass#PauseComponent", "aws.greengrass#ResumeComponent"}),
    "aws.greengrass.Cli": frozenset({"aws.greengrass#CreateLocalDeployment", "aws.greengrass#CancelLocalDeployment",
                                     "aws.greengrass#GetLocalDeploymentStatus",
                                     "aws.greengrass#ListLocalDeployments", "aws.greengrass#ListComponents",
                                     "aws.greengrass#GetComponentDetails", "aws.greengrass#RestartComponent",
                                     "aws.greengrass#StopComponent"}),
    "aws.greengrass.clientdevices.Auth": frozenset({"aws.greengrass#VerifyClientDeviceIdentity",
                                                    "aws.greengrass#GetClientDeviceAuthToken",
                                                    "aws.greengrass#AuthorizeClientDeviceAction",
                                                    "aws.greengrass#SubscribeToCertificateUpdates"}),
}
TOPIC_SERVICES = frozenset({"aws.greengrass.ipc.pubsub", "aws.greengrass.ipc.mqttproxy"})
REQUIRED_PLATFORMS = ((Os.LINUX, Architecture.AMD64), (Os.LINUX, Architecture.AARCH64))
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Configuration keys that name an address something listens on or connects to on the box.
ADDRESS_KEY = re.compile(r"(address|host|bind|_url|Url|URL)$")
EGRESS_KEYS = frozenset({"endpoint_url"})  # cloud endpoints (S3 through moto locally, None in AWS)
ANY_ADDRESS = re.compile(r"(?<![\d.])0\.0\.0\.0(?![\d.])|\[::\]|--[\w-]*address[= ]+::(?![\w:])")
HOST_PORT = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(\[[^\]]+\]|[^:/\s]+):(\d{1,5})(?:/.*)?$")
PORT_KEY = re.compile(r"[Pp]ort$")


class RecipeValidationError(EdgecvError):
    """A recipe set breaks a Greengrass rule or one of this project's rules."""


@dataclass(frozen=True)
class Problem:
    component: str
    message: str

    def __str__(self) -> str:
        return f"{self.component}: {self.message}"


def _walk(value: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _walk(child, f"{path}/{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk(child, f"{path}/{i}")


def _last_key(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def dependency_order(recipes: Mapping[str, Recipe]) -> list[str]:
    """Names in start order (dependencies first; ties by name). Raises on a cycle; ignores AWS components."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join((*trail[trail.index(name):], name))
            raise RecipeValidationError(f"dependency cycle: {cycle}")
        state[name] = "visiting"
        for dep in sorted(recipes[name].ComponentDependencies):
            if dep in recipes:
                visit(dep, (*trail, name))
        state[name] = "done"
        order.append(name)

    for name in sorted(recipes):
        visit(name, ())
    return order


class Validator:
    def __init__(self, recipes: Mapping[str, Recipe], configurations: Mapping[str, Mapping[str, Any]] | None = None,
                 *, thing_name: str | None = None) -> None:
        """`configurations` (default: each recipe's DefaultConfiguration) lets a deployer check merged configs;
        `thing_name`: the device they were interpolated for (its name then scopes a topic like {iot:thingName})."""
        self.recipes = dict(recipes)
        self.configs = {name: (configurations or {}).get(name, r.default_configuration)
                        for name, r in self.recipes.items()}
        self.thing_name = thing_name
        self.problems: list[Problem] = []

    def fail(self, component: str, message: str) -> None:
        self.problems.append(Problem(component, message))

    def run(self) -> list[Problem]:
        for name, recipe in self.recipes.items():
            self.check_header(name, recipe)
            self.check_dependencies(name, recipe)
            self.check_manifests(name, recipe)
            self.check_access_control(name, self.configs[name].get("accessControl"))
            self.check_configuration_variables(name)
            self.check_loopback(name, recipe)
        try:
            dependency_order(self.recipes)
        except RecipeValidationError as exc:
            self.fail("recipes", str(exc))
        return self.problems

    # ---------------------------------------------------------------------------------------------------- header
    def check_header(self, name: str, recipe: Recipe) -> None:
        if recipe.RecipeFormatVersion != RECIPE_FORMAT_VERSION:
            self.fail(name, f"RecipeFormatVersion {recipe.RecipeFormatVersion!r} is not {RECIPE_FORMAT_VERSION}")
        try:
            Version.parse(recipe.ComponentVersion)
        except VersionError as exc:
            self.fail(name, f"ComponentVersion: {exc}")

    def check_dependencies(self, name: str, recipe: Recipe) -> None:
        for dep, spec in recipe.ComponentDependencies.items():
            try:
                requirement = Requirement.parse(spec.VersionRequirement)
            except VersionError as exc:
                self.fail(name, f"dependency {dep}: {exc}")
                continue
            if dep == name:
                self.fail(name, "depends on itself")
            elif dep in self.recipes:
                try:
                    version = Version.parse(self.recipes[dep].ComponentVersion)
                except VersionError:
                    continue  # reported on the dependency itself
                if not requirement.satisfied_by(version):
                    self.fail(name, f"dependency {dep} {spec.VersionRequirement!r} is not satisfied by "
                                    f"{dep} {version}")
            elif dep not in AWS_COMPONENTS:
                self.fail(name, f"dependency {dep} is neither a recipe here nor a known AWS-provided component")

    # ------------------------------------------------------------------------------------------------ manifests
    def check_manifests(self, name: str, recipe: Recipe) -> None:
        for os_, arch in REQUIRED_PLATFORMS:
            manifest = recipe.manifest_for(os_.value, arch.value)
            if manifest is None:
                self.fail(name, f"no manifest for {os_.value}/{arch.value}")
            elif manifest.Lifecycle is None or manifest.Lifecycle.Run is None:
                self.fail(name, f"the {os_.value}/{arch.value} manifest has no Run step")
        for i, manifest in enumerate(recipe.Manifests):
            if manifest.Lifecycle is None:
                continue
            artifact_files = {a.file_name for a in manifest.Artifacts}
            texts = [("Setenv", v) for v in manifest.Lifecycle.Setenv.values()]
            for step_name, step in manifest.Lifecycle.steps().items():
                texts.append((step_name, step.Script))
                texts.extend((f"{step_name}.Setenv", v) for v in step.Setenv.values())
                if step.Skipif:
                    texts.append((f"{step_name}.Skipif", step.Skipif))
            where = manifest.Name or f"Manifests[{i}]"
            for place, text in texts:
                for variable in variables(text):
                    self.check_variable(name, recipe, f"{where}.{place}", variable)
                for file_name in re.findall(r"\{artifacts:path\}/([^\s\"';&|]+)", text):
                    if file_name not in artifact_files:
                        self.fail(name, f"{where}.{place} uses artifact {file_name!r}, which the manifest does "
                                        f"not list ({', '.join(sorted(artifact_files)) or 'none'})")

    def check_variable(self, name: str, recipe: Recipe, where: str, variable: Variable) -> None:
        target = variable.component or name
        if variable.component is not None and variable.component != name:
            if variable.component not in recipe.ComponentDependencies:
                self.fail(name, f"{where}: {variable.text} reads {variable.component}, not a direct dependency")
                return
            if variable.component not in self.recipes:
                self.fail(name, f"{where}: {variable.text} reads {variable.component}, whose recipe is not here")
                return
        if variable.namespace == "configuration":
            if not has_pointer(self.configs[target], variable.key):
                self.fail(name, f"{where}: {variable.text} is not in {target}'s configuration")
        elif variable.key not in SYSTEM_KEYS[variable.namespace]:
            self.fail(name, f"{where}: unknown recipe variable {variable.text}")

    def check_configuration_variables(self, name: str) -> None:
        """Variables inside configuration values (resolved when interpolateComponentConfiguration is on): only the
        device's own facts (`iot`, `work`, `kernel`, `artifacts`), never another configuration key."""
        for path, value in _walk(self.configs[name]):
            if not isinstance(value, str):
                continue
            for variable in variables(value):
                if variable.component is not None or variable.namespace == "configuration" \
                        or variable.key not in SYSTEM_KEYS[variable.namespace]:
                    self.fail(name, f"configuration {path}: {variable.text} cannot be resolved inside configuration")

    # -------------------------------------------------------------------------------------------- access control
    def check_access_control(self, name: str, access: Any) -> None:
        if access is None:
            return
        if not isinstance(access, Mapping):
            self.fail(name, "accessControl must be an object of IPC services")
            return
        seen: set[str] = set()
        for service, policies in access.items():
            operations = IPC_OPERATIONS.get(service)
            if operations is None:
                self.fail(name, f"accessControl: unknown IPC service {service!r}")
                continue
            if not isinstance(policies, Mapping) or not policies:
                self.fail(name, f"accessControl {service}: expected one or more named policies")
                continue
            for policy_id, policy in policies.items():
                where = f"accessControl {service} {policy_id}"
                if policy_id in seen:
                    self.fail(name, f"{where}: duplicate policy id")
                seen.add(policy_id)
                if not isinstance(policy, Mapping) or set(policy) - {"policyDescription", "operations", "resources"}:
                    self.fail(name, f"{where}: a policy has only policyDescription, operations and resources")
                    continue
                ops, resources = policy.get("operations"), policy.get("resources")
                if not isinstance(ops, list) or not ops or not isinstance(resources, list) or not resources:
                    self.fail(name, f"{where}: operations and resources must be non-empty lists")
                    continue
                for op in ops:
                    if op == "*":
                        self.fail(name, f"{where}: the wildcard operation '*' is not least privilege")
                    elif op not in operations:
                        self.fail(name, f"{where}: {op!r} is not an operation of {service}")
                for resource in resources:
                    self.check_resource(name, where, service, resource)

    def check_resource(self, name: str, where: str, service: str, resource: Any) -> None:
        if not isinstance(resource, str) or not resource.strip():
            self.fail(name, f"{where}: empty resource")
            return
        if resource.strip() in ("*", "#", "+", "+/#", "$aws/#"):
            self.fail(name, f"{where}: resource {resource!r} grants everything")
            return
        for variable in variables(resource):
            if variable.text != "{iot:thingName}":
                self.fail(name, f"{where}: only {{iot:thingName}} may appear in a resource, not {variable.text}")
        if service == "aws.greengrass.ipc.mqttproxy":
            levels = resource.split("/")
            if "{iot:thingName}" not in levels and (self.thing_name is None or self.thing_name not in levels):
                self.fail(name, f"{where}: IoT Core topic {resource!r} is not scoped to {{iot:thingName}}")
            elif resource.endswith("#") or "*" in resource:
                self.fail(name, f"{where}: topic {resource!r} ends in a multi-level wildcard; list the topics")

    # -------------------------------------------------------------------------------------------------- loopback
    def check_loopback(self, name: str, recipe: Recipe) -> None:
        scripts = [step.Script for m in recipe.Manifests if m.Lifecycle for step in m.Lifecycle.steps().values()]
        for script in scripts:
            if ANY_ADDRESS.search(script):
                self.fail(name, "a lifecycle script binds to all interfaces; bind to 127.0.0.1")
        allowed_ports = self._dependency_ports(recipe)
        for path, value in _walk(self.configs[name]):
            if not isinstance(value, str):
                continue
            if ANY_ADDRESS.search(value):
                self.fail(name, f"configuration {path}: {value!r} listens on all interfaces; use 127.0.0.1")
                continue
            key = _last_key(path)
            if not ADDRESS_KEY.search(key) or key in EGRESS_KEYS:
                continue
            match = HOST_PORT.match(value)
            host = match.group(1) if match else value.split("://")[-1].split("/")[0].split(":")[0]
            if host and host not in LOOPBACK_HOSTS:
                self.fail(name, f"configuration {path}: {value!r} is not a loopback address")
            elif match and allowed_ports and int(match.group(2)) not in allowed_ports:
                self.fail(name, f"configuration {path}: port {match.group(2)} is none of the ports its "
                                f"dependencies declare ({', '.join(str(p) for p in sorted(allowed_ports))})")

    def _dependency_ports(self, recipe: Recipe) -> set[int]:
        ports: set[int] = set()
        for dep in recipe.ComponentDependencies:
            if dep in self.configs:
                ports.update(v for path, v in _walk(self.configs[dep])
                             if PORT_KEY.search(_last_key(path)) and isinstance(v, int) and not isinstance(v, bool))
        return ports


def validate(recipes: Mapping[str, Recipe], configurations: Mapping[str, Mapping[str, Any]] | None = None,
             ) -> list[Problem]:
    return Validator(recipes, configurations).run()


def by_name(recipes: Mapping[Path, Recipe]) -> dict[str, Recipe]:
    named: dict[str, Recipe] = {}
    for path, recipe in recipes.items():
        if recipe.ComponentName in named:
            raise RecipeValidationError(f"{path}: component {recipe.ComponentName} is defined twice")
        named[recipe.ComponentName] = recipe
    return named


def validate_directory(directory: Path) -> dict[str, Recipe]:
    """Load and check every recipe in `directory`; raise RecipeValidationError with the first problem."""
    recipes = by_name(load_recipes(directory))
    problems = validate(recipes)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RecipeValidationError(f"{problems[0]}{more}")
    return recipes
