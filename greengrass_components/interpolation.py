"""Recipe variables: find and replace `{configuration:/path}`, `{artifacts:path}`, `{artifacts:decompressedPath}`,
`{work:path}`, `{kernel:rootPath}`, `{iot:thingName}` and their cross-component forms
(`{com.example.Dep:configuration:/path}`, allowed for direct dependencies only), the way the nucleus does:
a scalar is written as text, an object or list as compact JSON. Unlike the nucleus (which logs and leaves the
placeholder in place) an unresolved variable is an error here."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contracts.errors import EdgecvError

PLACEHOLDER = re.compile(r"\{(?:(?P<component>[A-Za-z0-9._-]+):)?"
                         r"(?P<namespace>configuration|artifacts|work|kernel|iot):(?P<key>[^{}]*)\}")
SYSTEM_KEYS = {"artifacts": {"path", "decompressedPath"}, "work": {"path"}, "kernel": {"rootPath"},
               "iot": {"thingName"}}


class InterpolationError(EdgecvError):
    """A recipe variable names a key, namespace or component it may not read, or that does not exist."""


@dataclass(frozen=True)
class Variable:
    text: str
    component: str | None
    namespace: str
    key: str


def variables(text: str) -> list[Variable]:
    return [Variable(m.group(0), m.group("component"), m.group("namespace"), m.group("key"))
            for m in PLACEHOLDER.finditer(text)]


def json_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901 lookup; KeyError when the path does not exist."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    node = document
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(pointer)
    return node


def has_pointer(document: Any, pointer: str) -> bool:
    try:
        json_pointer(document, pointer)
    except KeyError:
        return False
    return True


def render(value: Any) -> str:
    """How the nucleus writes a configuration value into a script: text for scalars, compact JSON otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(value)


@dataclass(frozen=True)
class ComponentPaths:
    """What one deployed component's variables resolve to on this device."""

    configuration: Mapping[str, Any]
    work_path: str
    artifacts_path: str
    decompressed_path: str


@dataclass(frozen=True)
class Scope:
    """The component whose scripts are interpolated, its direct dependencies, and the device's facts."""

    component: str
    dependencies: frozenset[str]
    components: Mapping[str, ComponentPaths]
    thing_name: str
    kernel_root: str

    def resolve(self, variable: Variable) -> str:
        target = variable.component or self.component
        if variable.component is not None and variable.component != self.component \
                and variable.component not in self.dependencies:
            raise InterpolationError(f"{self.component}: {variable.text} reads {variable.component}, "
                                     "which is not a direct dependency")
        if variable.namespace == "iot":
            if variable.key != "thingName":
                raise InterpolationError(f"{self.component}: unknown variable {variable.text}")
            return self.thing_name
        if variable.namespace == "kernel":
            if variable.key != "rootPath":
                raise InterpolationError(f"{self.component}: unknown variable {variable.text}")
            return self.kernel_root
        paths = self.components.get(target)
        if paths is None:
            raise InterpolationError(f"{self.component}: {variable.text} names {target}, which is not deployed")
        if variable.namespace == "configuration":
            try:
                return render(json_pointer(paths.configuration, variable.key))
            except KeyError as exc:
                raise InterpolationError(f"{self.component}: {variable.text}: no such key in {target}'s "
                                         "configuration") from exc
        lookup = {("work", "path"): paths.work_path, ("artifacts", "path"): paths.artifacts_path,
                  ("artifacts", "decompressedPath"): paths.decompressed_path}
        try:
            return lookup[(variable.namespace, variable.key)]
        except KeyError as exc:
            raise InterpolationError(f"{self.component}: unknown variable {variable.text}") from exc

    def interpolate(self, text: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.resolve(Variable(m.group(0), m.group("component"),
                                                               m.group("namespace"), m.group("key"))), text)
