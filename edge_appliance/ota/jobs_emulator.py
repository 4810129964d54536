"""A local stand-in for the AWS IoT Jobs *device side*, which moto does not implement.

Jobs are created with moto's IoT `create_job` (the cloud side, as in AWS); this emulator answers the
device-side MQTT topics of https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html
(`start-next`, `{jobId}/update`, `{jobId}/get`, `get`, and publishes `notify-next`) from those jobs.

    store = MotoJobStore(boto3.client("iot", endpoint_url=moto_url), moto_backend=backend_or_None)
    core = JobsEmulatorCore(store)                           # protocol only: topic + payload in, replies out
    with MqttJobsEmulator(core, broker.host, broker.port):   # on a local Mosquitto
        ...

Execution statuses live in the store; with `moto_backend` (moto running in this process, e.g.
`ThreadedMotoServer`) they are written through to moto so `describe_job_execution` shows them to the
cloud side. That reaches into moto's models (private API; moto is pinned).
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from edge_appliance.ota.mqtt import connect, disconnect, publish, subscribe

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "CANCELED", "REMOVED", "TIMED_OUT"})
ALLOWED_UPDATES = {"QUEUED": {"IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"},
                   "IN_PROGRESS": {"IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"}}
Message = tuple[str, bytes]
log = logging.getLogger(__name__)


_DETAIL_KEY = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
MAX_DETAILS, MAX_DETAIL_VALUE = 10, 1024


def status_details_problem(details: object) -> str | None:
    """What AWS IoT Jobs would refuse in a statusDetails map (keys, value length, control characters)."""
    if not isinstance(details, dict):
        return "statusDetails must be an object"
    if len(details) > MAX_DETAILS:
        return f"statusDetails has {len(details)} entries, at most {MAX_DETAILS}"
    for key, value in details.items():
        if not _DETAIL_KEY.match(str(key)):
            return f"statusDetails key {key!r} does not match [a-zA-Z0-9:_-]{{1,128}}"
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_DETAIL_VALUE:
            return f"statusDetails[{key}] must be a string of 1 to {MAX_DETAIL_VALUE} characters"
        if any(unicodedata.category(c).startswith("C") for c in value):
            return f"statusDetails[{key}] holds a control character"
    return None


@dataclass(frozen=True)
class Execution:
    job_id: str
    thing_name: str
    status: str = "QUEUED"
    status_details: dict[str, str] = field(default_factory=dict)
    queued_at: int = 0
    started_at: int | None = None
    last_updated_at: int = 0
    version_number: int = 1
    execution_number: int = 1


class JobStore(ABC):
    """Job executions per thing: public template methods over private hooks (memory, moto)."""

    def __init__(self) -> None:
        self._overlay: dict[tuple[str, str], Execution] = {}
        self._lock = threading.RLock()

    def executions(self, thing_name: str) -> list[Execution]:
        with self._lock:
            found = {e.job_id: e for e in self._list(thing_name)}
            found.update({job: e for (job, thing), e in self._overlay.items() if thing == thing_name})
            return sorted(found.values(), key=lambda e: (e.queued_at, e.job_id))

    def next_pending(self, thing_name: str) -> Execution | None:
        """The execution in progress, else the oldest queued one (what start-next and notify-next name)."""
        executions = self.executions(thing_name)
        return next((e for e in executions if e.status == "IN_PROGRESS"),
                    next((e for e in executions if e.status == "QUEUED"), None))

    def get(self, job_id: str, thing_name: str) -> Execution | None:
        return next((e for e in self.executions(thing_name) if e.job_id == job_id), None)

    def put(self, execution: Execution) -> None:
        with self._lock:
            self._overlay[(execution.job_id, execution.thing_name)] = execution
            self._written(execution)

    def document(self, job_id: str) -> dict[str, Any]:
        return self._document(job_id)

    @abstractmethod
    def _list(self, thing_name: str) -> list[Execution]: ...

    @abstractmethod
    def _document(self, job_id: str) -> dict[str, Any]: ...

    def _written(self, execution: Execution) -> None:
        """Hook: mirror a status change somewhere else (nothing by default)."""
        return None


class MemoryJobStore(JobStore):
    def __init__(self) -> None:
        super().__init__()
        self._documents: dict[str, dict[str, Any]] = {}
        self._queued: list[Execution] = []

    def create_job(self, job_id: str, document: dict[str, Any], things: list[str], at: int = 0) -> None:
        self._documents[job_id] = document
        self._queued.extend(Execution(job_id, thing, queued_at=at or len(self._queued)) for thing in things)

    def _list(self, thing_name: str) -> list[Execution]:
        return [e for e in self._queued if e.thing_name == thing_name]

    def _document(self, job_id: str) -> dict[str, Any]:
        return self._documents[job_id]


class MotoJobStore(JobStore):
    """Jobs as moto's IoT control plane holds them (`create_job` targeting thing ARNs)."""

    def __init__(self, iot_client: Any, moto_backend: Any | None = None) -> None:
        super().__init__()
        self.iot = iot_client
        self.backend = moto_backend
        self._documents: dict[str, dict[str, Any]] = {}

    def _list(self, thing_name: str) -> list[Execution]:
        summaries = self.iot.list_job_executions_for_thing(thingName=thing_name).get("executionSummaries", [])
        out = []
        for s in summaries:
            summary = s["jobExecutionSummary"]
            queued = summary.get("queuedAt")
            out.append(Execution(job_id=s["jobId"], thing_name=thing_name, status=summary.get("status", "QUEUED"),
                                 queued_at=int(queued.timestamp()) if queued else 0))
        return out

    def _document(self, job_id: str) -> dict[str, Any]:
        if job_id not in self._documents:
            self._documents[job_id] = json.loads(self.iot.get_job_document(jobId=job_id)["document"])
        return self._documents[job_id]

    def _written(self, execution: Execution) -> None:
        if self.backend is None:
            return
        fake = self.backend.job_executions.get((execution.job_id, execution.thing_name))
        if fake is not None:
            fake.status = execution.status
            fake.status_details_map = dict(execution.status_details)


@dataclass
class JobsEmulatorCore:
    """The Jobs device-side protocol: one request in, the replies (and notifications) out."""

    store: JobStore
    clock: Callable[[], float] = time.time
    _last_next: dict[str, str | None] = field(default_factory=dict)

    def handle(self, topic: str, payload: bytes) -> list[Message]:
        parts = topic.split("/")
        if len(parts) < 4 or parts[:2] != ["$aws", "things"] or parts[3] != "jobs":
            return []
        thing, rest = parts[2], parts[4:]
        try:
            request = json.loads(payload or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return [(f"{topic}/rejected", self._error("InvalidRequest", "the payload is not a JSON object", {}))]
        if rest == ["start-next"]:
            return self._start_next(topic, thing, request)
        if len(rest) == 2 and rest[1] == "update":
            return self._update(topic, thing, rest[0], request)
        if len(rest) == 2 and rest[1] == "get":
            return self._describe(topic, thing, rest[0], request)
        if rest == ["get"]:
            return self._pending(topic, thing, request)
        return []

    def notifications(self, things: list[str] | None = None) -> list[Message]:
        """notify-next for every thing whose next pending job changed since the last call."""
        out = []
        for thing in things if things is not None else list(self._last_next):
            nxt = self.store.next_pending(thing)
            key = nxt.job_id if nxt else None
            if thing in self._last_next and self._last_next[thing] == key:
                continue
            self._last_next[thing] = key
            body: dict[str, Any] = {"timestamp": int(self.clock())}
            if nxt is not None:
                body["execution"] = self._execution(nxt, with_document=True)
            out.append((f"$aws/things/{thing}/jobs/notify-next", json.dumps(body).encode()))
        return out

    def watch(self, thing: str) -> None:
        self._last_next.setdefault(thing, None)

    # -- operations --------------------------------------------------------------------------------
    def _start_next(self, topic: str, thing: str, request: dict[str, Any]) -> list[Message]:
        self.watch(thing)
        nxt = self.store.next_pending(thing)
        body: dict[str, Any] = {"timestamp": int(self.clock()), "clientToken": request.get("clientToken")}
        if nxt is not None:
            if nxt.status == "QUEUED":
                now = int(self.clock())
                nxt = replace(nxt, status="IN_PROGRESS", started_at=now, last_updated_at=now,
                              version_number=nxt.version_number + 1,
                              status_details=dict(request.get("statusDetails") or {}))
                self.store.put(nxt)
            body["execution"] = self._execution(nxt, with_document=True)
        return [(f"{topic}/accepted", json.dumps(body).encode()), *self.notifications([thing])]

    def _update(self, topic: str, thing: str, job_id: str, request: dict[str, Any]) -> list[Message]:
        current = self.store.get(job_id, thing)
        if current is None:
            return [(f"{topic}/rejected", self._error("ResourceNotFound", f"no job {job_id} for {thing}", request))]
        status = request.get("status")
        details = request.get("statusDetails") or {}
        problem = status_details_problem(details)
        if problem:
            return [(f"{topic}/rejected", self._error("InvalidRequest", problem, request))]
        if status not in ALLOWED_UPDATES.get(current.status, set()):
            return [(f"{topic}/rejected", self._error(
                "InvalidStateTransition", f"cannot go from {current.status} to {status}", request))]
        expected = request.get("expectedVersion")
        if expected is not None and int(expected) != current.version_number:
            return [(f"{topic}/rejected", self._error("VersionMismatch", "expectedVersion differs", request))]
        now = int(self.clock())
        updated = replace(current, status=status, status_details=dict(details), last_updated_at=now,
                          version_number=current.version_number + 1)
        self.store.put(updated)
        body = {"timestamp": now, "clientToken": request.get("clientToken"),
                "executionState": {"status": updated.status, "statusDetails": updated.status_details,
                                   "versionNumber": updated.version_number}}
        return [(f"{topic}/accepted", json.dumps(body).encode()), *self.notifications([thing])]

    def _describe(self, topic: str, thing: str, job_id: str, request: dict[str, Any]) -> list[Message]:
        execution = self.store.next_pending(thing) if job_id == "$next" else self.store.get(job_id, thing)
        if execution is None:
            return [(f"{topic}/rejected", self._error("ResourceNotFound", f"no job {job_id} for {thing}", request))]
        body = {"timestamp": int(self.clock()), "clientToken": request.get("clientToken"),
                "execution": self._execution(execution, with_document=request.get("includeJobDocument", True))}
        return [(f"{topic}/accepted", json.dumps(body).encode())]

    def _pending(self, topic: str, thing: str, request: dict[str, Any]) -> list[Message]:
        executions = self.store.executions(thing)

        def summary(e: Execution) -> dict[str, Any]:
            return {"jobId": e.job_id, "queuedAt": e.queued_at, "startedAt": e.started_at,
                    "lastUpdatedAt": e.last_updated_at, "versionNumber": e.version_number,
                    "executionNumber": e.execution_number}

        body = {"timestamp": int(self.clock()), "clientToken": request.get("clientToken"),
                "inProgressJobs": [summary(e) for e in executions if e.status == "IN_PROGRESS"],
                "queuedJobs": [summary(e) for e in executions if e.status == "QUEUED"]}
        return [(f"{topic}/accepted", json.dumps(body).encode())]

    def _execution(self, e: Execution, with_document: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"jobId": e.job_id, "thingName": e.thing_name, "status": e.status,
                                "statusDetails": e.status_details, "queuedAt": e.queued_at,
                                "lastUpdatedAt": e.last_updated_at, "versionNumber": e.version_number,
                                "executionNumber": e.execution_number}
        if e.started_at is not None:
            data["startedAt"] = e.started_at
        if with_document:
            data["jobDocument"] = self.store.document(e.job_id)
        return data

    def _error(self, code: str, message: str, request: dict[str, Any]) -> bytes:
        return json.dumps({"code": code, "message": message, "clientToken": request.get("clientToken"),
                           "timestamp": int(self.clock())}).encode()


class MqttJobsEmulator:
    """Runs a `JobsEmulatorCore` on an MQTT broker: requests in, replies out, notify-next polled."""

    def __init__(self, core: JobsEmulatorCore, host: str, port: int, things: tuple[str, ...] = (),
                 poll_s: float = 0.2) -> None:
        self.core = core
        self.host, self.port = host, port
        self.poll_s = poll_s
        for thing in things:
            core.watch(thing)
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = None

    def start(self) -> MqttJobsEmulator:
        self._client = connect(self.host, self.port, "edgecv-jobs-emulator",
                               on_message=lambda topic, payload: self._inbox.put((topic, payload)))
        subscribe(self._client, "$aws/things/+/jobs/#")
        self._thread = threading.Thread(target=self._serve, name="jobs-emulator", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            poll_due = time.monotonic() >= next_poll
            if poll_due:
                next_poll = time.monotonic() + self.poll_s
            try:
                self._step(poll_due)
            except Exception:  # one failed request (store unreachable, broker hiccup) must not end the emulator
                log.exception("jobs emulator: request failed")

    def _step(self, poll_due: bool) -> None:
        try:
            topic, payload = self._inbox.get(timeout=self.poll_s)
            replies = self.core.handle(topic, payload)
        except queue.Empty:
            replies = []
        if poll_due:
            replies += self.core.notifications()
        for reply_topic, body in replies:
            publish(self._client, reply_topic, body)  # type: ignore[arg-type]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._client is not None:
            disconnect(self._client)
            self._client = None

    def __enter__(self) -> MqttJobsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
