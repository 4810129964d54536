"""How jobs reach the agent and reports leave it: the `JobChannel` interface and the AWS IoT Jobs MQTT protocol.

Two implementations: `mqtt_channel.MqttJobChannel` (awsiotsdk `IotJobsClientV2` over MQTT5) and
`greengrass_channel.GreengrassJobChannel` (the same MQTT topics through Greengrass IPC's
`publish_to_iot_core` / `subscribe_to_iot_core`). The latter speaks the protocol with `JobsRequester`
below; topic and payload shapes follow https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from contracts.jobs import JobStatusReport
from edge_appliance.ota.errors import ChannelError, ReportRefusedError

Listener = Callable[[str, bytes], None]


class JobExecution(BaseModel):
    """One job execution handed to this thing (status IN_PROGRESS once started)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str = Field(min_length=1, max_length=64)
    document: dict[str, Any]
    status: str = "IN_PROGRESS"
    version_number: int | None = None
    execution_number: int | None = None


class JobChannel(Protocol):
    def next_job(self, timeout_s: float) -> JobExecution | None:
        """Start the next pending job (or return the one in progress); wait up to `timeout_s` for one."""
        ...

    def report(self, report: JobStatusReport) -> None:
        """Send the job's terminal status; ReportRefusedError when the cloud rejects it, ChannelError when no
        answer came (then it is sent again later)."""
        ...

    def close(self) -> None: ...


def jobs_prefix(thing_name: str) -> str:
    return f"$aws/things/{thing_name}/jobs"


def start_next_topic(thing_name: str) -> str:
    return f"{jobs_prefix(thing_name)}/start-next"


def update_topic(thing_name: str, job_id: str) -> str:
    return f"{jobs_prefix(thing_name)}/{job_id}/update"


def notify_next_topic(thing_name: str) -> str:
    return f"{jobs_prefix(thing_name)}/notify-next"


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching with `+` (one level) and `#` (the rest)."""
    parts, levels = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(parts) == len(levels)


def execution_from_payload(execution: dict[str, Any]) -> JobExecution:
    return JobExecution(job_id=execution["jobId"], document=execution.get("jobDocument") or {},
                        status=execution.get("status", "IN_PROGRESS"),
                        version_number=execution.get("versionNumber"),
                        execution_number=execution.get("executionNumber"))


class PubSub(Protocol):
    """The little a transport must offer to speak the Jobs protocol by hand."""

    def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, topic_filter: str, listener: Listener) -> None: ...


class JobsRequester:
    """Request/response over plain publish/subscribe: correlate `.../accepted|rejected` by `clientToken`."""

    def __init__(self, pubsub: PubSub, thing_name: str, timeout_s: float = 10.0) -> None:
        self.pubsub = pubsub
        self.thing_name = thing_name
        self.timeout_s = timeout_s
        self._waiting: dict[str, tuple[threading.Event, list[tuple[str, dict[str, Any]]]]] = {}
        self._lock = threading.Lock()
        self._next_changed = threading.Event()
        prefix = jobs_prefix(thing_name)
        pubsub.subscribe(f"{prefix}/start-next/+", self._on_response)
        pubsub.subscribe(f"{prefix}/+/update/+", self._on_response)
        pubsub.subscribe(f"{prefix}/notify-next", self._on_notify)

    def request(self, topic: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Publish `body` to `topic`; return ('accepted' | 'rejected', the reply)."""
        token = uuid.uuid4().hex
        event, box = threading.Event(), []
        with self._lock:
            self._waiting[token] = (event, box)
        try:
            self.pubsub.publish(topic, json.dumps({**body, "clientToken": token}).encode())
            if not event.wait(self.timeout_s):
                raise ChannelError(f"no reply on {topic}/accepted|rejected within {self.timeout_s:g} s")
        finally:
            with self._lock:
                self._waiting.pop(token, None)
        return box[0]

    def wait_for_notification(self, timeout_s: float) -> bool:
        notified = self._next_changed.wait(timeout_s)
        self._next_changed.clear()
        return notified

    def _on_response(self, topic: str, payload: bytes) -> None:
        kind = topic.rsplit("/", 1)[-1]
        if kind not in ("accepted", "rejected"):
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return
        with self._lock:
            waiter = self._waiting.get(body.get("clientToken", ""))
        if waiter is not None:
            waiter[1].append((kind, body))
            waiter[0].set()

    def _on_notify(self, topic: str, payload: bytes) -> None:
        self._next_changed.set()


class ProtocolJobChannel:
    """A `JobChannel` speaking the Jobs MQTT protocol by hand over any `PubSub`."""

    def __init__(self, pubsub: PubSub, thing_name: str, timeout_s: float = 10.0) -> None:
        self.thing_name = thing_name
        self.requester = JobsRequester(pubsub, thing_name, timeout_s)

    def next_job(self, timeout_s: float) -> JobExecution | None:
        job = self._start_next()
        if job is None and self.requester.wait_for_notification(timeout_s):
            job = self._start_next()
        return job

    def _start_next(self) -> JobExecution | None:
        kind, body = self.requester.request(start_next_topic(self.thing_name), {})
        if kind == "rejected":
            raise ChannelError(f"start-next was rejected: {body.get('code')}: {body.get('message')}")
        execution = body.get("execution")
        return execution_from_payload(execution) if execution else None

    def report(self, report: JobStatusReport) -> None:
        kind, body = self.requester.request(update_topic(self.thing_name, report.job_id),
                                            {"status": report.outcome.value,
                                             "statusDetails": report.status_details()})
        if kind == "rejected":
            raise ReportRefusedError(f"the update of job {report.job_id} was rejected: "
                               f"{body.get('code')}: {body.get('message')}")

    def close(self) -> None:
        pass
