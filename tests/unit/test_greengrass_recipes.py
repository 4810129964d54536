"""The recipe model and validator: the shipped recipes pass, and a broken recipe of each kind is refused with a
reason that names what is wrong."""

import copy
import json
import re

import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from greengrass_components import RECIPES_DIR
from greengrass_components.recipe import Recipe, RecipeError, load_recipes, parse_recipe
from greengrass_components.semver import Requirement, Version, VersionError
from greengrass_components.validate import (
    RecipeValidationError,
    dependency_order,
    validate,
    validate_directory,
)

NAMES = ("com.edgecv.Triton", "com.edgecv.Ingest", "com.edgecv.OtaAgent")


@pytest.fixture
def raw():
    """The shipped recipes as plain JSON, by component name (mutate freely)."""
    return {name: json.loads((RECIPES_DIR / f"{name}.json").read_text()) for name in NAMES}


def problems_of(raw_recipes):
    return [str(p) for p in validate({n: Recipe.model_validate(r) for n, r in raw_recipes.items()})]


def only_problem(raw_recipes):
    """The first problem, after checking that every problem found is that same one (once per manifest)."""
    problems = problems_of(raw_recipes)
    assert problems, "the broken recipe was accepted"
    assert len({re.sub(r"linux-\w+\.", "", p) for p in problems}) == 1, problems
    return problems[0]


def run_scripts(recipe):
    return [m["Lifecycle"]["Run"] for m in recipe["Manifests"]]


def test_the_shipped_recipes_validate_and_start_in_dependency_order():
    recipes = validate_directory(RECIPES_DIR)
    assert set(recipes) == set(NAMES)
    order = dependency_order(recipes)
    assert order.index("com.edgecv.Triton") < order.index("com.edgecv.Ingest")
    assert order.index("com.edgecv.Triton") < order.index("com.edgecv.OtaAgent")
    for recipe in recipes.values():
        assert recipe.RecipeFormatVersion == "2020-01-25"
        platforms = {(m.Platform.os.value, m.Platform.architecture.value) for m in recipe.Manifests}
        assert {("linux", "amd64"), ("linux", "aarch64")} <= platforms
        for manifest in recipe.Manifests:
            assert "{artifacts:path}/edgecv-" in manifest.Lifecycle.Install.Script
            assert manifest.Lifecycle.Run.Script.count("{work:path}/venv/bin/python -m edge_appliance.") == 1


def test_dependency_types_are_chosen_per_component():
    recipes = validate_directory(RECIPES_DIR)
    assert recipes["com.edgecv.Ingest"].ComponentDependencies["com.edgecv.Triton"].DependencyType.value == "SOFT"
    assert recipes["com.edgecv.OtaAgent"].ComponentDependencies["com.edgecv.Triton"].DependencyType.value == "HARD"


def test_ota_agent_may_only_use_its_own_jobs_topics():
    access = validate_directory(RECIPES_DIR)["com.edgecv.OtaAgent"].default_configuration["accessControl"]
    assert set(access) == {"aws.greengrass.ipc.mqttproxy"}
    for policy in access["aws.greengrass.ipc.mqttproxy"].values():
        for resource in policy["resources"]:
            assert resource.startswith("$aws/things/{iot:thingName}/jobs/")


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: r["com.edgecv.Triton"].update(RecipeFormatVersion="2021-01-01"), "RecipeFormatVersion"),
    (lambda r: r["com.edgecv.Triton"].update(ComponentVersion="1.0"), "not a semantic version"),
    (lambda r: r["com.edgecv.Ingest"]["ComponentDependencies"].update(
        {"com.edgecv.Missing": {"VersionRequirement": "^1.0.0"}}), "com.edgecv.Missing is neither a recipe"),
    (lambda r: r["com.edgecv.Ingest"]["ComponentDependencies"]["com.edgecv.Triton"].update(
        VersionRequirement=">=2.0.0"), "is not satisfied by com.edgecv.Triton 1.0.0"),
    (lambda r: r["com.edgecv.Ingest"]["ComponentDependencies"]["com.edgecv.Triton"].update(
        VersionRequirement="latest"), "not a semantic version"),
    (lambda r: [run.update(Script=run["Script"].replace("{configuration:/grpcPort}", "{configuration:/grpcPorts}"))
                for run in run_scripts(r["com.edgecv.Triton"])], "{configuration:/grpcPorts} is not in"),
    (lambda r: [run["Setenv"].update(EDGECV_SITE_CONFIG="{configuration:/sites}")
                for run in run_scripts(r["com.edgecv.Ingest"])], "{configuration:/sites} is not in"),
    (lambda r: [run.update(Script=run["Script"].replace("{com.edgecv.Triton:configuration:/grpcPort}",
                                                        "{com.edgecv.Triton:configuration:/port}"))
                for run in run_scripts(r["com.edgecv.OtaAgent"])], "is not in com.edgecv.Triton's configuration"),
    (lambda r: [run.update(Script=run["Script"] + " {com.edgecv.Ingest:work:path}")
                for run in run_scripts(r["com.edgecv.OtaAgent"])], "not a direct dependency"),
    (lambda r: [run.update(Script=run["Script"] + " {work:home}") for run in run_scripts(r["com.edgecv.Triton"])],
     "unknown recipe variable {work:home}"),
    (lambda r: [m["Lifecycle"]["Install"].update(Script=m["Lifecycle"]["Install"]["Script"].replace(
        "edgecv-0.1.0-py3-none-any.whl", "edgecv-9.9.9-py3-none-any.whl"))
        for m in r["com.edgecv.Triton"]["Manifests"]], "uses artifact 'edgecv-9.9.9-py3-none-any.whl'"),
    (lambda r: r["com.edgecv.Triton"].update(Manifests=r["com.edgecv.Triton"]["Manifests"][:1]),
     "no manifest for linux/aarch64"),
    (lambda r: r["com.edgecv.Triton"].setdefault("ComponentDependencies", {}).update(
        {"com.edgecv.Ingest": {"VersionRequirement": "^1.0.0"}}), "dependency cycle"),
])
def test_a_broken_recipe_is_refused_with_its_reason(raw, mutate, reason):
    mutate(raw)
    assert reason in only_problem(raw)


def mqtt_policies(raw_recipes, name):
    return raw_recipes[name]["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"][
        "aws.greengrass.ipc.mqttproxy"]


@pytest.mark.parametrize("mutate, reason", [
    (lambda p: p.update(operations=["*"]), "wildcard operation"),
    (lambda p: p.update(operations=["aws.greengrass#PublishToTopic"]), "is not an operation of"),
    (lambda p: p.update(resources=["#"]), "grants everything"),
    (lambda p: p.update(resources=["$aws/things/+/jobs/start-next"]), "not scoped to {iot:thingName}"),
    (lambda p: p.update(resources=["$aws/things/{iot:thingName}/#"]), "multi-level wildcard"),
    (lambda p: p.update(resources=[]), "non-empty lists"),
    (lambda p: p.update(extra="x"), "only policyDescription, operations and resources"),
])
def test_over_broad_ipc_access_is_refused(raw, mutate, reason):
    policies = mqtt_policies(raw, "com.edgecv.OtaAgent")
    mutate(next(iter(policies.values())))
    assert reason in only_problem(raw)


def test_an_unknown_ipc_service_is_refused(raw):
    access = raw["com.edgecv.Ingest"]["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"]
    access["aws.greengrass.ipc.everything"] = access.pop("aws.greengrass.ipc.mqttproxy")
    assert "unknown IPC service 'aws.greengrass.ipc.everything'" in only_problem(raw)


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: r["com.edgecv.Ingest"]["ComponentConfiguration"]["DefaultConfiguration"]["site"].update(
        triton_url="10.0.0.5:8001"), "is not a loopback address"),
    (lambda r: r["com.edgecv.Ingest"]["ComponentConfiguration"]["DefaultConfiguration"]["site"].update(
        triton_url="0.0.0.0:8001"), "listens on all interfaces"),
    (lambda r: [run.update(Script=run["Script"] + " --grpc-address 0.0.0.0")
                for run in run_scripts(r["com.edgecv.Triton"])], "binds to all interfaces"),
    (lambda r: r["com.edgecv.Triton"]["ComponentConfiguration"]["DefaultConfiguration"].update(grpcPort=9001),
     "port 8001 is none of the ports its dependencies declare"),
])
def test_servers_stay_on_loopback_and_ports_agree(raw, mutate, reason):
    mutate(raw)
    assert reason in problems_of(raw)[0]


def test_configuration_values_may_only_use_device_variables(raw):
    raw["com.edgecv.Ingest"]["ComponentConfiguration"]["DefaultConfiguration"]["site"]["site_id"] = \
        "{configuration:/telemetryTopic}"
    assert "cannot be resolved inside configuration" in only_problem(raw)


@pytest.mark.parametrize("edit, reason", [
    (lambda r: r.update(Bogus=1), "Bogus: Extra inputs are not permitted"),
    (lambda r: r.pop("ComponentName"), "ComponentName: Field required"),
    (lambda r: r["Manifests"][0]["Platform"].update(architecture="sparc"), "architecture"),
    (lambda r: r["Manifests"][0]["Lifecycle"].update(Restart="x"), "Restart: Extra inputs are not permitted"),
    (lambda r: r["Manifests"][0]["Artifacts"][0].update(URI="ftp://host/file"), "URI"),
])
def test_the_recipe_schema_is_closed_where_greengrass_is(raw, edit, reason):
    recipe = copy.deepcopy(raw["com.edgecv.Triton"])
    edit(recipe)
    with pytest.raises(RecipeError, match=r"^recipe: ") as info:
        parse_recipe(json.dumps(recipe))
    assert reason in str(info.value)


def test_a_lifecycle_step_may_be_a_bare_script(raw):
    recipe = raw["com.edgecv.Triton"]
    recipe["Manifests"][0]["Lifecycle"]["Run"] = "echo hi"
    assert Recipe.model_validate(recipe).Manifests[0].Lifecycle.Run.Script == "echo hi"


def test_not_json_and_missing_folder_are_one_line_errors(tmp_path):
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(RecipeError, match="not JSON"):
        load_recipes(tmp_path)
    with pytest.raises(RecipeError, match="recipe folder not found"):
        load_recipes(tmp_path / "absent")


def test_the_same_component_twice_is_refused(tmp_path, raw):
    for i in range(2):
        (tmp_path / f"t{i}.json").write_text(json.dumps(raw["com.edgecv.Triton"]))
    with pytest.raises(RecipeValidationError, match="defined twice"):
        validate_directory(tmp_path)


@pytest.mark.parametrize("requirement, version, ok", [
    (">=1.0.0 <2.0.0", "1.0.0", True), (">=1.0.0 <2.0.0", "1.9.3", True), (">=1.0.0 <2.0.0", "2.0.0", False),
    ("^2.0.0", "2.7.1", True), ("^2.0.0", "3.0.0", False), ("^0.2.0", "0.2.5", True), ("^0.2.0", "0.3.0", False),
    ("~1.2.0", "1.2.9", True), ("~1.2.0", "1.3.0", False), ("1.2.3", "1.2.3", True), ("=1.2.3", "1.2.4", False),
    ("<1.0.0 || >=3.0.0", "3.1.0", True), ("<1.0.0 || >=3.0.0", "2.0.0", False),
    (">=1.0.0", "1.0.0-rc.1", False), (">1.0.0-rc.1", "1.0.0-rc.2", True),
])
def test_version_requirements(requirement, version, ok):
    assert Requirement.parse(requirement).satisfied_by(Version.parse(version)) is ok


@pytest.mark.parametrize("bad", ["1", "1.0", "01.0.0", "v1.0.0", "1.0.0.0", ""])
def test_bad_versions_are_refused(bad):
    with pytest.raises(VersionError):
        Version.parse(bad)


def test_cli_validate_prints_one_line_per_recipe_and_one_line_on_error(tmp_path, raw):
    runner = CliRunner()
    ok = runner.invoke(app, ["greengrass", "validate"])
    assert ok.exit_code == 0, ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("ok com.edgecv.") for line in lines)
    raw["com.edgecv.Ingest"]["ComponentDependencies"]["com.edgecv.Triton"]["VersionRequirement"] = "^2.0.0"
    for name, recipe in raw.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(recipe))
    bad = runner.invoke(app, ["greengrass", "validate", str(tmp_path)])
    assert bad.exit_code == 1 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: com.edgecv.Ingest: dependency com.edgecv.Triton '^2.0.0' is not satisfied")
