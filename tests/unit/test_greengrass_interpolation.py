"""Recipe variables: found, resolved like the nucleus does (scalars as text, objects as compact JSON), and refused
when they read something a component may not or that does not exist."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greengrass_components.interpolation import (
    ComponentPaths,
    InterpolationError,
    Scope,
    json_pointer,
    render,
    variables,
)


def scope(component="com.x.App", dependencies=("com.x.Server",)):
    components = {
        "com.x.App": ComponentPaths({"port": 8001, "site": {"id": "a", "tags": [1, 2]}, "on": True, "ratio": 0.5,
                                     "a/b": "slash", "none": None},
                                    "/gg/work/com.x.App", "/gg/packages/artifacts/com.x.App/1.0.0",
                                    "/gg/packages/artifacts-unarchived/com.x.App/1.0.0"),
        "com.x.Server": ComponentPaths({"grpcPort": 9001}, "/gg/work/com.x.Server", "/gg/a/s", "/gg/u/s"),
        "com.x.Other": ComponentPaths({"secret": "s"}, "/gg/work/com.x.Other", "/gg/a/o", "/gg/u/o"),
    }
    return Scope(component, frozenset(dependencies), components, "site-7", "/gg")


@pytest.mark.parametrize("text, expected", [
    ("--port {configuration:/port}", "--port 8001"),
    ("{configuration:/site}", '{"id":"a","tags":[1,2]}'),
    ("{configuration:/site/tags}", "[1,2]"),
    ("{configuration:/site/tags/1}", "2"),
    ("{configuration:/on} {configuration:/ratio} {configuration:/none}", "true 0.5 null"),
    ("{configuration:/a~1b}", "slash"),
    ("{work:path}/venv/bin/python", "/gg/work/com.x.App/venv/bin/python"),
    ("{artifacts:path}/x.whl {artifacts:decompressedPath}", "/gg/packages/artifacts/com.x.App/1.0.0/x.whl "
                                                            "/gg/packages/artifacts-unarchived/com.x.App/1.0.0"),
    ("{iot:thingName} {kernel:rootPath}", "site-7 /gg"),
    ("127.0.0.1:{com.x.Server:configuration:/grpcPort} {com.x.Server:work:path}/repo",
     "127.0.0.1:9001 /gg/work/com.x.Server/repo"),
    ("printf '%s' \"$X\" {not:a/variable}", "printf '%s' \"$X\" {not:a/variable}"),
])
def test_variables_resolve_like_the_nucleus(text, expected):
    assert scope().interpolate(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("{configuration:/missing}", "no such key in com.x.App's configuration"),
    ("{configuration:/site/tags/7}", "no such key"),
    ("{com.x.Other:configuration:/secret}", "not a direct dependency"),
    ("{work:home}", "unknown variable"),
    ("{iot:thingArn}", "unknown variable"),
])
def test_unresolvable_variables_are_errors(text, reason):
    with pytest.raises(InterpolationError, match=reason):
        scope().interpolate(text)


def test_a_dependency_that_is_not_deployed_is_named():
    with pytest.raises(InterpolationError, match=r"com\.x\.Gone, which is not deployed"):
        scope(dependencies=("com.x.Gone",)).interpolate("{com.x.Gone:work:path}")


def test_inserted_values_are_not_interpolated_again():
    s = Scope("c", frozenset(), {"c": ComponentPaths({"v": "{iot:thingName}"}, "/w", "/a", "/u")}, "t", "/r")
    assert s.interpolate("{configuration:/v}") == "{iot:thingName}"


def test_variables_are_listed_with_their_parts():
    found = variables("a {configuration:/x/y} b {com.x.S:work:path} {iot:thingName}")
    assert [(v.component, v.namespace, v.key) for v in found] == [
        (None, "configuration", "/x/y"), ("com.x.S", "work", "path"), (None, "iot", "thingName")]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3), max_leaves=10)


@given(st.dictionaries(st.text(alphabet="abc/~", min_size=1, max_size=4), json_values, min_size=1, max_size=4))
def test_every_top_level_key_is_reachable_by_its_escaped_pointer(config):
    for key, value in config.items():
        pointer = "/" + key.replace("~", "~0").replace("/", "~1")
        assert json_pointer(config, pointer) == value
        rendered = render(value)
        assert rendered == value if isinstance(value, str) else json.loads(rendered) == value
