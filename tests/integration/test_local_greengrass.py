"""The local Greengrass deployer with real processes: start order and readiness, restarts (HARD dependents follow),
stop in reverse with Shutdown scripts, nothing left behind (also a child in its own session, and on errors); and
Triton + Ingest for one site from the shipped recipes until the site's telemetry shows decided frames."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.telemetry import SiteTelemetry
from edge_appliance.ports import free_ports
from edgecv.local_greengrass import (
    ComponentState,
    LocalDeployError,
    LocalDeployment,
    SiteGroup,
    alive,
    deploy_group,
    load_group_recipes,
    plan_site,
)

pytestmark = pytest.mark.integration

# A server that starts a grandchild in its own session (as the Triton supervisor starts tritonserver) and records
# its pid; SIGTERM makes it exit without stopping the grandchild, which the deployer must still clean up.
SERVER = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
open("grandchild.pid", "w").write(str(child.pid))
open("ready", "w").write("1")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(0.1)
"""


def recipe(name, run, deps=None, config=None, shutdown=None):
    lifecycle = {"Run": {"Script": run}}
    if shutdown:
        lifecycle["Shutdown"] = {"Script": shutdown, "Timeout": 10}
    return {
        "RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": "1.0.0",
        "ComponentDescription": "test component", "ComponentPublisher": "tests",
        "ComponentDependencies": {d: {"VersionRequirement": "^1.0.0", "DependencyType": kind}
                                  for d, kind in (deps or {}).items()},
        "ComponentConfiguration": {"DefaultConfiguration": config or {}},
        "Manifests": [{"Platform": {"os": "linux", "architecture": arch}, "Lifecycle": lifecycle}
                      for arch in ("amd64", "aarch64")],
    }


@pytest.fixture
def fake_recipes(tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (tmp_path / "server.py").write_text(SERVER)
    log = tmp_path / "events.log"
    recipes = [
        recipe("com.t.Server", f"exec python3 {tmp_path}/server.py",
               shutdown=f"echo shutdown {{iot:thingName}} server >> {log}"),
        recipe("com.t.Hard", "echo $GREETING > greeting; exec sleep 600", {"com.t.Server": "HARD"},
               {"greeting": "hello"}, shutdown=f"echo shutdown hard >> {log}"),
        recipe("com.t.Soft", "exec sleep 600", {"com.t.Server": "SOFT"}, shutdown=f"echo shutdown soft >> {log}"),
    ]
    recipes[1]["Manifests"][0]["Lifecycle"]["Run"]["Setenv"] = {"GREETING": "{configuration:/greeting}"}
    recipes[1]["Manifests"][1]["Lifecycle"]["Run"]["Setenv"] = {"GREETING": "{configuration:/greeting}"}
    for r in recipes:
        (folder / f"{r['ComponentName']}.json").write_text(json.dumps(r))
    return load_group_recipes(folder), log


def server_probe(plan):
    return (plan.work_dir / "ready").exists()


def fake_group(**site):
    return SiteGroup.model_validate({"group": "t", "components": {"com.t.Hard": {}, "com.t.Soft": {}},
                                     "sites": {"site-t": site}})


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_start_restart_and_stop_leave_nothing_behind(fake_recipes, tmp_path):
    recipes, events = fake_recipes
    update = {"com.t.Hard": {"configurationUpdate": {"merge": {"greeting": "bonjour"}}}}
    plan = plan_site(fake_group(**update), "site-t", recipes, tmp_path / "gg")
    assert [c.name for c in plan.components] == ["com.t.Server", "com.t.Hard", "com.t.Soft"]
    deployment = LocalDeployment(plan, probes={"com.t.Server": server_probe}, stop_timeout_s=5, settle_s=0.3)
    with deployment:
        assert set(deployment.states().values()) == {ComponentState.RUNNING}
        server = plan.component("com.t.Server")
        grandchild = int((server.work_dir / "grandchild.pid").read_text())
        assert grandchild in deployment.pids()
        assert (plan.component("com.t.Hard").work_dir / "greeting").read_text().strip() == "bonjour"
        assert (server.work_dir / "venv").resolve() == Path(sys.prefix).resolve()

        hard_pid = deployment.components["com.t.Hard"].process.pid
        soft_pid = deployment.components["com.t.Soft"].process.pid
        os.kill(deployment.components["com.t.Server"].process.pid, signal.SIGKILL)
        assert wait_for(lambda: deployment.components["com.t.Server"].process.poll() is not None)
        states = deployment.poll()
        assert states["com.t.Server"] is ComponentState.RUNNING
        assert deployment.components["com.t.Server"].restarts == 1
        assert deployment.components["com.t.Hard"].process.pid != hard_pid, "a HARD dependent restarts too"
        assert deployment.components["com.t.Soft"].process.pid == soft_pid, "a SOFT dependent keeps running"
        assert not alive(grandchild), "the killed server's own-session child was cleaned up"
        running = deployment.pids()
    assert not any(alive(pid) for pid in running)
    assert deployment.pids() == []
    assert set(deployment.states().values()) == {ComponentState.STOPPED}
    lines = events.read_text().splitlines()
    # restart: hard then server; final stop: reverse start order
    assert lines == ["shutdown hard", "shutdown site-t server", "shutdown soft", "shutdown hard",
                     "shutdown site-t server"]
    assert "start com.t.Server" in (plan.root / "logs" / "com.t.Server.log").read_text()


def test_a_component_that_fails_to_start_stops_the_others_with_its_reason(fake_recipes, tmp_path):
    recipes, _ = fake_recipes
    broken = recipes["com.t.Hard"].model_dump(mode="json", exclude_none=True)
    for manifest in broken["Manifests"]:
        manifest["Lifecycle"]["Run"]["Script"] = "echo 'cannot open camera door-7' >&2; exit 3"
    recipes = {**recipes, "com.t.Hard": type(recipes["com.t.Hard"]).model_validate(broken)}
    plan = plan_site(fake_group(), "site-t", recipes, tmp_path / "gg")
    deployment = LocalDeployment(plan, probes={"com.t.Server": server_probe}, stop_timeout_s=5, settle_s=2)
    reason = re.escape("com.t.Hard exited with code 3 before it was ready: cannot open camera door-7")
    with pytest.raises(LocalDeployError, match=reason):
        deployment.start()
    assert deployment.pids() == []
    grandchild = int((plan.component("com.t.Server").work_dir / "grandchild.pid").read_text())
    assert not alive(grandchild)


def test_an_exception_inside_the_block_stops_every_site(fake_recipes, tmp_path):
    recipes, _ = fake_recipes
    site_group = SiteGroup.model_validate({"group": "t", "components": {"com.t.Soft": {}},
                                           "sites": {"site-1": {}, "site-2": {}}})
    seen = []
    with pytest.raises(RuntimeError, match="boom"), \
            deploy_group(site_group, tmp_path / "gg", recipes, probes={"com.t.Server": server_probe},
                         stop_timeout_s=5, settle_s=0.3) as deployments:
        assert [d.plan.thing_name for d in deployments] == ["site-1", "site-2"]
        seen = [pid for d in deployments for pid in d.pids()]
        assert len(seen) >= 6  # per site: server, its grandchild, soft
        raise RuntimeError("boom")
    assert seen and not any(alive(pid) for pid in seen)


# ------------------------------------------------------------------------------------ the real components
@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    from training.synth.sequences import write_sequence

    return write_sequence(tmp_path_factory.mktemp("gg-seq") / "seq", seed=31, passes=1, fps=15)


def telemetry(path):
    if not path.exists():
        return []
    return [SiteTelemetry.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_triton_ingest_and_ota_agent_for_one_site_from_the_shipped_recipes(one_pass, tmp_path):
    from contracts.bundles import LocalSigner, write_key_pair
    from edge_appliance.ota.mosquitto import Mosquitto, mosquitto_binary

    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    grpc, http, metrics = free_ports(3)
    _, public_key = write_key_pair(tmp_path / "keys", LocalSigner.generate())
    broker = Mosquitto(tmp_path / "mosquitto").start()
    group_file = tmp_path / "group.json"
    group_file.write_text(json.dumps({
        "format": "edgecv-greengrass-group/1", "group": "ring-0",
        "components": {"com.edgecv.Ingest": {"componentVersion": "1.0.0"}, "com.edgecv.OtaAgent": {}},
        "sites": {"site-a": {
            "com.edgecv.Triton": {"configurationUpdate": {"merge": {
                "grpcPort": grpc, "httpPort": http, "metricsPort": metrics, "healthIntervalSeconds": 1}}},
            "com.edgecv.Ingest": {"configurationUpdate": {"merge": {"site": {
                "triton_url": f"127.0.0.1:{grpc}", "triton_metrics_url": f"http://127.0.0.1:{metrics}/metrics",
                "cameras": [{"camera_id": "door-7", "source": f"synthetic:{one_pass}", "fps": 15, "loops": None,
                             "overload": "block", "manifest": str(one_pass / "manifest.json")}],
                "upload": None, "telemetry_interval_s": 1.0}}}},
            "com.edgecv.OtaAgent": {"configurationUpdate": {"merge": {
                "agent": {"trusted_keys": [str(public_key)]},
                "channel": "mqtt", "channelOptions": f"--mqtt 127.0.0.1:{broker.port}"}}}}},
    }))
    site_group = SiteGroup.load(group_file)
    try:
        with deploy_group(site_group, tmp_path / "gg", load_group_recipes(), stop_timeout_s=30) as deployments:
            (site,) = deployments
            assert list(site.states().values()) == [ComponentState.RUNNING] * 3
            assert next(iter(site.states())) == "com.edgecv.Triton"
            ingest = site.plan.component("com.edgecv.Ingest")
            records = ingest.work_dir / "data" / "telemetry.jsonl"
            assert wait_for(lambda: any(r.cameras["door-7"].frames_decided > 0 for r in telemetry(records)), 180), \
                (site.plan.root / "logs" / "com.edgecv.Ingest.log").read_text()[-2000:]
            states = site.poll()
            assert states["com.edgecv.Ingest"] is states["com.edgecv.OtaAgent"] is ComponentState.RUNNING, \
                (site.plan.root / "logs" / "com.edgecv.OtaAgent.log").read_text()[-2000:]
            agent = site.plan.component("com.edgecv.OtaAgent")
            triton = site.plan.component("com.edgecv.Triton")
            status = subprocess.run(
                [sys.executable, "-m", "edge_appliance.ota", "status", "--config", str(agent.work_dir / "agent.json"),
                 "--triton-url", f"127.0.0.1:{grpc}", "--repository", str(triton.work_dir / "repository"),
                 "--json"], capture_output=True, text=True, timeout=120)
            assert status.returncode == 0, status.stderr[-2000:]
            assert f"Triton serving on 127.0.0.1:{grpc}" in (site.plan.root / "logs" / "com.edgecv.Triton.log"
                                                             ).read_text()
            assert json.loads((triton.work_dir / "health.json").read_text())
            started = site.pids()
    finally:
        broker.stop()
    assert len(started) >= 4  # triton_service, tritonserver (own session), site ingest, OTA agent
    assert not any(alive(pid) for pid in started), "a component process outlived the deployment"
    assert site.pids() == []
    last = telemetry(records)[-1]
    assert last.site_id == "site-a" and last.model_versions == {"detector": "1", "ocr": "1",
                                                                "damage_classifier": "1"}
    assert last.cameras["door-7"].frames_decided > 0
    assert not (triton.work_dir / "health.json").exists(), "Triton's Shutdown script ran"


def test_every_interpolated_lifecycle_script_is_valid_sh(tmp_path):
    site_group = SiteGroup.model_validate({"group": "g", "components": {"com.edgecv.Ingest": {},
                                                                        "com.edgecv.OtaAgent": {}},
                                           "sites": {"site-a": {}}})
    recipes = load_group_recipes()
    plan = plan_site(site_group, "site-a", recipes, tmp_path, ("linux", "amd64"))
    scripts = [c.run for c in plan.components] + [c.shutdown for c in plan.components if c.shutdown]
    for name in ("com.edgecv.Triton", "com.edgecv.Ingest", "com.edgecv.OtaAgent"):
        install = recipes[name].manifest_for("linux", "aarch64").Lifecycle.Install.Script
        scripts.append(install.replace("{work:path}", "/w").replace("{artifacts:path}", "/a"))
    for script in scripts:
        result = subprocess.run(["/bin/sh", "-n", "-c", script], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (script, result.stderr)


@pytest.mark.slow
def test_build_writes_a_wheel_holding_what_the_run_scripts_start(tmp_path):
    import zipfile

    from greengrass_components.recipe import load_recipe

    result = subprocess.run([sys.executable, "-m", "edgecv.cli", "greengrass", "build", "--out", str(tmp_path),
                             "--bucket", "edgecv-artifacts-1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = (tmp_path / "s3" / "edgecv" / "artifacts").glob("edgecv-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"edge_appliance/triton_service.py", "edge_appliance/site.py", "edge_appliance/ota/__main__.py",
            "model_repository/detector/1/model.onnx", "greengrass_components/recipes/com.edgecv.Triton.json"} <= names
    for path in (tmp_path / "recipes").glob("*.json"):
        recipe = load_recipe(path)
        for manifest in recipe.Manifests:
            assert {a.URI.rsplit("/", 1)[-1] for a in manifest.Artifacts} == {wheel.name, "constraints.txt"}
            assert all(a.URI.startswith("s3://edgecv-artifacts-1/edgecv/artifacts/") and a.Digest
                       for a in manifest.Artifacts)
            assert f"{{artifacts:path}}/{wheel.name}" in manifest.Lifecycle.Install.Script


def test_cli_deploy_local_runs_and_stops_a_group(fake_recipes, tmp_path):
    group_file = tmp_path / "group.json"
    group_file.write_text(json.dumps({"group": "t", "components": {"com.t.Soft": {}}, "sites": {"site-t": {}}}))
    cmd = [sys.executable, "-m", "edgecv.cli", "greengrass", "deploy-local", "--group", str(group_file),
           "--root", str(tmp_path / "gg"), "--recipes", str(tmp_path / "recipes"), "--seconds", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"site site-t: running com.t.Server, com.t.Soft (logs: {tmp_path / 'gg'}/site-t/logs)" in result.stdout
    assert "site site-t: com.t.Server=RUNNING, com.t.Soft=RUNNING" in result.stdout
    grandchild = int((tmp_path / "gg" / "site-t" / "work" / "com.t.Server" / "grandchild.pid").read_text())
    assert not alive(grandchild)
    assert (tmp_path / "events.log").read_text().splitlines() == ["shutdown soft", "shutdown site-t server"]

    group_file.write_text(json.dumps({"group": "t", "components": {"com.t.Nope": {}}, "sites": {"site-t": {}}}))
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "error: component com.t.Nope has no recipe here"
