"""The job channel contract over both transports with jobs created in moto's IoT (`create_job`):

- mqtt: awsiotsdk `IotJobsClientV2` over MQTT5 <-> a local Mosquitto <-> the jobs emulator;
- greengrass: `GreengrassJobChannel` over a fake IPC client (no nucleus can run here) <-> the same emulator.

Then the whole agent, served over the MQTT channel, installs a version from a moto job and the cloud
reads SUCCEEDED with the agent's figures from `describe_job_execution`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.bundles import LocalSigner
from contracts.jobs import JobOutcome, JobStatusReport
from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.greengrass_channel import GreengrassJobChannel
from edge_appliance.ota.jobs_emulator import JobsEmulatorCore, MotoJobStore, MqttJobsEmulator
from edge_appliance.ota.model_server import FakeModelServer
from edge_appliance.ota.mosquitto import Mosquitto, mosquitto_binary
from edge_appliance.ota.mqtt import connect, disconnect
from edge_appliance.ota.mqtt_channel import MqttJobChannel
from edge_appliance.ota.runner import serve
from edge_appliance.ports import free_port
from tests.integration.ota.conftest import FlakyFileServer
from tests.ota_channel_contract import SCENARIOS, THING, Harness
from tests.ota_support import MODEL, FakeGreengrassIpc, job_for, make_bundle, trusted, write_key

pytestmark = [pytest.mark.integration]
needs_mosquitto = pytest.mark.skipif(mosquitto_binary() is None,
                                     reason="mosquitto is not installed (apt-get install -y mosquitto)")


@pytest.fixture
def moto_iot(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iot.models import iot_backends
    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        iot = boto3.client("iot", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
        iot.create_thing(thingName=THING)
        yield iot, iot_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    finally:
        server.stop()
        iot_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].reset()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "mosquitto") as running:
        yield running


def cloud(iot: Any, backend: Any) -> tuple[MotoJobStore, Callable[[str, dict], None],
                                           Callable[[str], tuple[str, dict[str, str]]]]:
    store = MotoJobStore(iot, moto_backend=backend)
    arn = iot.describe_thing(thingName=THING)["thingArn"]

    def create_job(job_id: str, document: dict) -> None:
        iot.create_job(jobId=job_id, targets=[arn], document=json.dumps(document))

    def execution(job_id: str) -> tuple[str, dict[str, str]]:
        got = iot.describe_job_execution(jobId=job_id, thingName=THING)["execution"]
        return got["status"], got.get("statusDetails", {}).get("detailsMap", {})

    return store, create_job, execution


@pytest.fixture(params=["mqtt", "greengrass"])
def harness(request: pytest.FixtureRequest, moto_iot: tuple[Any, Any]) -> Iterator[Harness]:
    iot, backend = moto_iot
    store, create_job, execution = cloud(iot, backend)
    core = JobsEmulatorCore(store)
    with contextlib.ExitStack() as cleanup:  # every close runs, even when an earlier one raises
        if request.param == "mqtt":
            if mosquitto_binary() is None:
                pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
            broker = Mosquitto(request.getfixturevalue("tmp_path") / "mosquitto").start()
            cleanup.callback(broker.stop)
            emulator = MqttJobsEmulator(core, broker.host, broker.port, things=(THING,), poll_s=0.1).start()
            cleanup.callback(emulator.stop)
            count = iter(range(100))

            def channel() -> MqttJobChannel:
                client = connect(broker.host, broker.port, f"{THING}-{next(count)}")
                cleanup.callback(disconnect, client)
                made = MqttJobChannel(client, THING, timeout_s=5)
                cleanup.callback(made.close)
                return made
        else:
            def channel() -> GreengrassJobChannel:  # type: ignore[misc]
                ipc = FakeGreengrassIpc(core)
                cleanup.callback(ipc.close)
                return GreengrassJobChannel(ipc, THING, timeout_s=5)
        yield Harness(channel, create_job, execution)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_channel_contract(scenario: Callable[[Harness], None], harness: Harness) -> None:
    scenario(harness)


@needs_mosquitto
@pytest.mark.slow
def test_agent_served_over_mqtt_installs_a_moto_job(tmp_path: Path, moto_iot: tuple[Any, Any], broker: Mosquitto,
                                                    file_server: FlakyFileServer) -> None:
    iot, backend = moto_iot
    store, create_job, execution = cloud(iot, backend)
    signer = LocalSigner.generate()
    bundle = make_bundle(file_server.folder, signer, 1)
    file_server.cuts = [len(bundle.read_bytes()) // 3]  # the link drops once mid-download
    config = AgentConfig(root=tmp_path / "agent", thing_name=THING,
                         trusted_keys=[write_key(tmp_path / "k.pem", signer)], download_backoff_s=0.01)
    server = FakeModelServer(tmp_path / "repository")
    with MqttJobsEmulator(JobsEmulatorCore(store), broker.host, broker.port, things=(THING,), poll_s=0.1):
        client = connect(broker.host, broker.port, THING)
        channel = MqttJobChannel(client, THING, timeout_s=5)
        agent = OtaAgent(config, trusted(signer), server, Downloader(max_bytes=1 << 30, backoff_s=0.01),
                         channel.report)
        stop = threading.Event()
        worker = threading.Thread(target=serve, args=(agent, channel, stop), kwargs={"wait_s": 0.5}, daemon=True)
        worker.start()
        try:
            create_job("ota-1", job_for(bundle, file_server.url(bundle.name), {MODEL: 1}).model_dump(mode="json"))
            deadline = threading.Event()
            for _ in range(100):
                if execution("ota-1")[0] not in ("QUEUED", "IN_PROGRESS"):
                    break
                deadline.wait(0.1)
        finally:
            stop.set()
            worker.join(10)
            channel.close()
            disconnect(client)
    status, details = execution("ota-1")
    assert status == "SUCCEEDED", details
    report = JobStatusReport.from_status_details("ota-1", THING, details)
    assert report.outcome is JobOutcome.SUCCEEDED and report.serving == {MODEL: 1}
    assert report.figures.download_resumes == 1
    assert server.serving_versions() == {MODEL: 1}


@needs_mosquitto
@pytest.mark.slow
def test_serve_process_over_mqtt(tmp_path: Path, moto_iot: tuple[Any, Any], broker: Mosquitto,
                                 file_server: FlakyFileServer) -> None:
    """`python -m edge_appliance.ota serve --channel mqtt` as its own process (the recipe's command line, with the
    fake model server instead of Triton); SIGTERM ends it cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    iot, backend = moto_iot
    store, create_job, execution = cloud(iot, backend)
    signer = LocalSigner.generate()
    bundle = make_bundle(file_server.folder, signer, 1)
    (tmp_path / "agent.json").write_text(json.dumps({"root": str(tmp_path / "agent"), "thing_name": THING,
                                                     "trusted_keys": [str(write_key(tmp_path / "k.pem", signer))]}))
    repo = Path(__file__).resolve().parents[3]
    with MqttJobsEmulator(JobsEmulatorCore(store), broker.host, broker.port, things=(THING,), poll_s=0.1):
        process = subprocess.Popen([sys.executable, "-m", "edge_appliance.ota", "serve", "--config",
                                    str(tmp_path / "agent.json"), "--channel", "mqtt", "--mqtt",
                                    f"{broker.host}:{broker.port}", "--fake-server", str(tmp_path / "srv"),
                                    "--wait-s", "0.5"], cwd=repo, env=dict(os.environ), stderr=subprocess.PIPE)
        try:
            create_job("ota-1", job_for(bundle, file_server.url(bundle.name), {MODEL: 1}).model_dump(mode="json"))
            deadline = time.monotonic() + 60
            while execution("ota-1")[0] in ("QUEUED", "IN_PROGRESS") and time.monotonic() < deadline:
                time.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, process.stderr.read().decode()[-2000:] if process.stderr else ""
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            if process.stderr:
                process.stderr.close()
    assert execution("ota-1")[0] == "SUCCEEDED"
    state = json.loads((tmp_path / "srv" / "server.json").read_text())
    assert state["serving"] == {MODEL: 1}
