"""The job channel contract over Greengrass IPC (a fake IPC client with the SDK's real model types) and an
in-memory jobs store; the same scenarios run over MQTT + moto in tests/integration/ota/test_channels.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from edge_appliance.ota.channel import topic_matches
from edge_appliance.ota.greengrass_channel import GreengrassJobChannel
from edge_appliance.ota.jobs_emulator import JobsEmulatorCore, MemoryJobStore
from tests.ota_channel_contract import SCENARIOS, THING, Harness
from tests.ota_support import FakeGreengrassIpc


@pytest.fixture
def harness() -> Iterator[Harness]:
    store = MemoryJobStore()
    core = JobsEmulatorCore(store)
    ipcs: list[FakeGreengrassIpc] = []

    def channel() -> GreengrassJobChannel:
        ipcs.append(FakeGreengrassIpc(core))
        return GreengrassJobChannel(ipcs[-1], THING, timeout_s=5)

    def execution(job_id: str) -> tuple[str, dict[str, str]]:
        e = store.get(job_id, THING)
        assert e is not None
        return e.status, e.status_details

    yield Harness(channel, lambda job_id, doc: store.create_job(job_id, doc, [THING]), execution)
    for ipc in ipcs:
        ipc.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_greengrass_channel(scenario: Callable[[Harness], None], harness: Harness) -> None:
    scenario(harness)


def test_greengrass_channel_speaks_the_aws_topics(harness: Harness) -> None:
    channel = harness.channel()
    harness.create_job("job-a", {"n": 1})
    channel.next_job(1)
    topic, payload = channel.pubsub.ipc.published[-1]  # type: ignore[attr-defined]
    assert topic == f"$aws/things/{THING}/jobs/start-next" and "clientToken" in json.loads(payload)


@pytest.mark.parametrize(("topic_filter", "topic", "match"), [
    ("$aws/things/t/jobs/+/update/+", "$aws/things/t/jobs/j1/update/accepted", True),
    ("$aws/things/t/jobs/+/update/+", "$aws/things/t/jobs/j1/update", False),
    ("$aws/things/+/jobs/#", "$aws/things/t/jobs/start-next", True),
    ("$aws/things/t/jobs/notify-next", "$aws/things/u/jobs/notify-next", False)])
def test_topic_filters(topic_filter: str, topic: str, match: bool) -> None:
    assert topic_matches(topic_filter, topic) is match


def test_emulator_rejects_garbage_and_unknown_jobs() -> None:
    core = JobsEmulatorCore(MemoryJobStore())
    (topic, body), = core.handle(f"$aws/things/{THING}/jobs/start-next", b"[1]")
    assert topic.endswith("/rejected") and json.loads(body)["code"] == "InvalidRequest"
    (topic, body), = core.handle(f"$aws/things/{THING}/jobs/nope/update", b'{"status": "SUCCEEDED"}')
    assert json.loads(body)["code"] == "ResourceNotFound"
    assert core.handle("some/other/topic", b"{}") == []
