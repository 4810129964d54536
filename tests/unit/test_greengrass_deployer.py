"""The local deployer's planning (no processes): configuration updates, dependency closure and order, recipe
variables, and the checks on merged configurations; and the artifact build with an injected pip."""

import base64
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_appliance.ota.config import AgentConfig
from edge_appliance.site import SiteConfig
from edgecv.local_greengrass import (
    ConfigurationUpdate,
    LocalDeployError,
    SiteGroup,
    effective_configuration,
    load_group_recipes,
    merge,
    plan_group,
    plan_site,
    reset,
)
from greengrass_components import ARTIFACT_BUCKET_PLACEHOLDER, RECIPES_DIR
from greengrass_components.build import ArtifactBuildError, build, runtime_pins
from greengrass_components.recipe import load_recipe

LINUX = ("linux", "amd64")


def group(components=None, sites=None, **extra):
    return SiteGroup.model_validate({"group": "ring-0", "components": components or {"com.edgecv.Ingest": {}},
                                     "sites": sites or {"site-a": {}}, **extra})


def triton_ports(grpc, http=None, metrics=None):
    return {"com.edgecv.Triton": {"configurationUpdate": {"merge": {
        "grpcPort": grpc, "httpPort": http or grpc - 1, "metricsPort": metrics or grpc + 1}}}}


@pytest.fixture(scope="module")
def recipes():
    return load_group_recipes()


def test_merge_is_deep_for_objects_and_replaces_the_rest():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert merge(base, {"a": {"c": [3]}, "e": None}) == {"a": {"b": 1, "c": [3]}, "d": "x", "e": None}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}, "inputs are not modified"


def test_reset_goes_back_to_the_default_or_removes():
    default = {"a": {"b": 1}, "k": 2}
    config = {"a": {"b": 5, "new": 1}, "k": 3}
    assert reset(config, default, "/a/b") == {"a": {"b": 1, "new": 1}, "k": 3}
    assert reset(config, default, "/a/new") == {"a": {"b": 5}, "k": 3}
    assert reset(config, default, "") == default


def test_updates_apply_reset_then_merge_in_order():
    default = {"port": 1, "site": {"id": "x", "cams": ["a"]}}
    group_update = ConfigurationUpdate(merge={"port": 2, "site": {"cams": ["b", "c"]}})
    site_update = ConfigurationUpdate(reset=["/port"], merge='{"site": {"id": "s"}}')
    assert effective_configuration(default, [group_update, site_update]) == {
        "port": 1, "site": {"id": "s", "cams": ["b", "c"]}}


json_objects = st.recursive(st.integers() | st.text(max_size=3),
                            lambda inner: st.dictionaries(st.sampled_from("abc"), inner, max_size=3), max_leaves=8)


@given(st.dictionaries(st.sampled_from("abc"), json_objects, max_size=3),
       st.dictionaries(st.sampled_from("abc"), json_objects, max_size=3))
def test_resetting_every_key_a_merge_touched_restores_the_default(default, patch):
    merged = merge(default, patch)
    for key in patch:
        merged = reset(merged, default, f"/{key}")
    assert merged == default


def test_a_root_component_pulls_in_its_dependencies_in_start_order(recipes, tmp_path):
    plan = plan_site(group(), "site-a", recipes, tmp_path, LINUX)
    assert [c.name for c in plan.components] == ["com.edgecv.Triton", "com.edgecv.Ingest"]
    assert plan.left_to_aws == ["aws.greengrass.TokenExchangeService"]
    ingest = plan.component("com.edgecv.Ingest")
    assert ingest.dependencies == ("com.edgecv.Triton",) and ingest.hard_dependencies == ()
    everything = plan_site(group({"com.edgecv.OtaAgent": {}, "com.edgecv.Ingest": {}}), "site-a", recipes,
                           tmp_path, LINUX)
    names = [c.name for c in everything.components]
    assert names[0] == "com.edgecv.Triton" and set(names) == {"com.edgecv.Triton", "com.edgecv.Ingest",
                                                             "com.edgecv.OtaAgent"}
    assert everything.component("com.edgecv.OtaAgent").hard_dependencies == ("com.edgecv.Triton",)


def test_site_overrides_reach_the_run_scripts_and_the_ingest_config(recipes, tmp_path):
    sites = {"site-a": {**triton_ports(18001), "com.edgecv.Ingest": {"configurationUpdate": {"merge": {"site": {
        "triton_url": "127.0.0.1:18001", "triton_metrics_url": "http://127.0.0.1:18002/metrics",
        "cameras": [{"camera_id": "door-7", "source": "synthetic:/seq"}]}}}}},
             "site-b": {}}
    plans = plan_group(group(sites=sites), tmp_path, recipes, LINUX)
    a, b = plans
    triton = a.component("com.edgecv.Triton")
    assert "--grpc-port 18001 --http-port 18000 --metrics-port 18002" in triton.run
    assert f"{triton.work_dir}/venv/bin/python -m edge_appliance.triton_service" in triton.run
    assert f"--repository {tmp_path.resolve()}/site-a/work/com.edgecv.Triton/repository" in triton.run
    ingest = a.component("com.edgecv.Ingest")
    site = SiteConfig.model_validate_json(ingest.env["EDGECV_SITE_CONFIG"])
    assert site.site_id == "site-a" and site.triton_url == "127.0.0.1:18001"
    assert str(site.data_dir) == f"{ingest.work_dir}/data" and site.cameras[0].camera_id == "door-7"
    assert SiteConfig.model_validate_json(b.component("com.edgecv.Ingest").env["EDGECV_SITE_CONFIG"]).site_id \
        == "site-b"
    assert "--grpc-port 8001 " in b.component("com.edgecv.Triton").run
    assert ingest.log_path == tmp_path.resolve() / "site-a" / "logs" / "com.edgecv.Ingest.log"


def test_the_ota_agent_reads_tritons_port_and_repository(recipes, tmp_path):
    plan = plan_site(group({"com.edgecv.OtaAgent": {}}, {"site-a": triton_ports(18001)}), "site-a", recipes,
                     tmp_path, LINUX)
    agent = plan.component("com.edgecv.OtaAgent")
    triton = plan.component("com.edgecv.Triton")
    assert "--triton-url 127.0.0.1:18001" in agent.run
    assert f"--repository {triton.work_dir}/repository" in agent.run
    config = AgentConfig.model_validate_json(agent.env["EDGECV_AGENT_CONFIG"])
    assert config.thing_name == "site-a" and config.root == agent.work_dir / "agent"
    assert str(config.trusted_keys[0]).startswith(str(plan.root))


@pytest.mark.parametrize("sites, reason", [
    ({"site-a": triton_ports(18001)}, "port 8001 is none of the ports its dependencies declare"),
    ({"site-a": {"com.edgecv.Ingest": {"configurationUpdate": {"merge": {"site": {"triton_url": "10.1.1.1:8001"}}}}}},
     "is not a loopback address"),
    ({"site-a": {"com.edgecv.Nope": {}}}, "com.edgecv.Nope has no recipe here"),
    ({"site-a": {"com.edgecv.Triton": {"componentVersion": "2.0.0"}}}, "com.edgecv.Triton 2.0.0 is wanted"),
    ({"site-a": {"com.edgecv.Ingest": {"configurationUpdate": {"merge": {"site": {"site_id": "{configuration:/x}"}}}}}},
     "no such key"),
])
def test_a_site_that_cannot_run_is_refused_before_anything_starts(recipes, tmp_path, sites, reason):
    with pytest.raises(LocalDeployError, match=r"^site site-a: |has no recipe|is wanted") as info:
        plan_group(group(sites=sites), tmp_path, recipes, LINUX)
    assert reason in str(info.value)
    assert not (tmp_path / "site-a").exists()


def test_a_platform_without_a_manifest_is_refused(recipes, tmp_path):
    with pytest.raises(LocalDeployError, match="no manifest with a Run step for linux/sparc"):
        plan_site(group(), "site-a", recipes, tmp_path, ("linux", "sparc"))


@pytest.mark.parametrize("text, reason", [
    ('{"group": "g", "components": {}, "sites": {"a": {}}}', "components"),
    ('{"group": "g", "components": {"c": {}}, "sites": {"bad name!": {}}}', "not a thing name"),
    ('{"group": "g", "components": {"c": {"configurationUpdate": {"reset": ["x"]}}}, "sites": {"a": {}}}',
     "not a JSON pointer"),
    ('{"group": "g", "components": {"c": {}}, "sites": {"a": {}}, "format": "other/1"}', "format"),
    ("not json", "Invalid JSON"),
])
def test_a_bad_group_file_is_one_clear_line(tmp_path, text, reason):
    path = tmp_path / "group.json"
    path.write_text(text)
    with pytest.raises(LocalDeployError) as info:
        SiteGroup.load(path)
    assert reason in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------ artifact build
def fake_pip(wheel_name="edgecv-0.1.0-py3-none-any.whl", code=0):
    def run(cmd, **_):
        assert cmd[1:6] == ["-m", "pip", "wheel", cmd[4], "--no-deps"]
        out = cmd[cmd.index("-w") + 1]
        if code == 0:
            (Path(out) / wheel_name).write_bytes(b"wheel bytes")
        return subprocess.CompletedProcess(cmd, code, "", "ERROR: boom" if code else "")
    return run


def test_build_fills_in_bucket_and_digests(tmp_path):
    result = build(tmp_path, bucket="edgecv-artifacts-1", run=fake_pip())
    wheel = next(a for a in result.artifacts if a.uri.endswith(".whl"))
    assert wheel.sha256 == hashlib.sha256(b"wheel bytes").hexdigest()
    rendered = load_recipe(result.recipes["com.edgecv.Ingest"])
    source = load_recipe(RECIPES_DIR / "com.edgecv.Ingest.json")
    for manifest in rendered.Manifests:
        uris = {a.URI: a for a in manifest.Artifacts}
        art = uris["s3://edgecv-artifacts-1/edgecv/artifacts/edgecv-0.1.0-py3-none-any.whl"]
        assert art.Algorithm == "SHA-256" and base64.b64decode(art.Digest).hex() == wheel.sha256
    assert rendered.Manifests[0].Lifecycle == source.Manifests[0].Lifecycle
    constraints = (tmp_path / "s3/edgecv/artifacts/constraints.txt").read_text().splitlines()
    assert "numpy==1.26.4" in constraints and "tritonclient==2.73.0" in constraints
    listed = json.loads((tmp_path / "artifacts.json").read_text())
    assert {a["sha256"] for a in listed} == {a.sha256 for a in result.artifacts}
    assert all(ARTIFACT_BUCKET_PLACEHOLDER not in p.read_text() for p in result.recipes.values())


def test_build_refuses_a_wheel_the_recipes_do_not_name(tmp_path):
    reason = re.escape("edgecv-0.1.0-py3-none-any.whl', which the build did not produce")
    with pytest.raises(ArtifactBuildError, match=reason):
        build(tmp_path, run=fake_pip("edgecv-0.2.0-py3-none-any.whl"))


def test_build_reports_pip_failures_and_bad_buckets(tmp_path):
    with pytest.raises(ArtifactBuildError, match="pip wheel failed \\(exit 1\\): ERROR: boom"):
        build(tmp_path, run=fake_pip(code=1))
    with pytest.raises(ArtifactBuildError, match="not an S3 bucket name"):
        build(tmp_path, bucket="Bad_Bucket", run=fake_pip())


def test_runtime_pins_leave_out_extras_and_include_the_closure():
    pins = dict(p.split("==") for p in runtime_pins())
    assert "torch" not in pins and "pytest" not in pins and "aws-cdk-lib" not in pins
    assert {"pydantic", "pydantic-core", "grpcio", "awscrt", "botocore"} <= set(pins)
