"""Shared by the OTA unit and integration tests: model folders, signed bundles, job documents, a fake web."""

from __future__ import annotations

import email.message
import hashlib
import http.client
import io
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from contracts.bundles import Lineage, LocalSigner, ModelSource, TrustedKey, build_bundle, public_key_pem
from contracts.jobs import JobDocument, SmokeExpectations

MODEL = "detector"


def model_dir(root: Path, version: int, payload: bytes | None = None, name: str = MODEL) -> Path:
    folder = root / f"src-{name}-{version}" / name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(f'name: "{name}"\nbackend: "python"\n')
    (folder / str(version) / "model.onnx").write_bytes(payload or f"{name} weights v{version}".encode() * 64)
    return folder


def make_bundle(root: Path, signer: LocalSigner, version: int, *, rollback: bool = False, device_class: str = "cpu",
                accuracy: float = 0.95, payload: bytes | None = None, name: str = MODEL) -> Path:
    out = root / f"{name}-{version}{'-rollback' if rollback else ''}-{device_class}.tar.gz"
    build_bundle([ModelSource(model_dir(root, version, payload, name), version)], device_class, signer, out,
                 lineage=Lineage(code_commit="abc123", training_job_id=f"job-{version}",
                                 eval_metrics={"accuracy": accuracy}),
                 rollback=rollback, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def job_for(bundle: Path, url: str, targets: dict[str, int], *, rollback: bool = False, ring: int = 0,
            device_class: str = "cpu", smoke: SmokeExpectations | None = None) -> JobDocument:
    return JobDocument(rollout_id="rollout-1", ring=ring, device_class=device_class, bundle_url=url,
                       bundle_sha256=sha256(bundle), bundle_size=bundle.stat().st_size, targets=targets,
                       rollback=rollback, smoke=smoke or SmokeExpectations(frames=8))


def write_key(path: Path, signer: LocalSigner) -> Path:
    path.write_bytes(public_key_pem(signer.public_key()))
    return path


def trusted(signer: LocalSigner) -> list[TrustedKey]:
    return [TrustedKey(signer.public_key(), "test")]


class _Response(io.RawIOBase):
    def __init__(self, status: int, headers: dict[str, str], body: bytes, cut_after: int | None) -> None:
        self.status = status
        self.headers = email.message.Message()
        for k, v in headers.items():
            self.headers[k] = v
        self._body, self._pos, self._cut = body, 0, cut_after

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if self._cut is not None and self._pos >= self._cut:
            raise http.client.IncompleteRead(b"")
        end = len(self._body) if n < 0 else self._pos + n
        if self._cut is not None:
            end = min(end, self._cut)
        chunk = self._body[self._pos:end]
        self._pos += len(chunk)
        return chunk


@dataclass
class FakeWeb:
    """An `opener` for `Downloader`: serves registered files with Range support; cuts connections on demand."""

    files: dict[str, bytes] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list, repr=False)  # byte counts after which the next requests die
    ignore_range: bool = False
    requests: list[str | None] = field(default_factory=list)

    def add(self, path: Path) -> str:
        url = f"http://bundles.test/{path.name}"
        self.files[url] = path.read_bytes()
        return url

    def __call__(self, request: urllib.request.Request, timeout: float = 0) -> _Response:
        url = request.full_url
        wanted = request.get_header("Range")
        self.requests.append(wanted)
        if url not in self.files:
            raise urllib.error.HTTPError(url, 404, "Not Found", email.message.Message(), None)
        body = self.files[url]
        cut = self.cuts.pop(0) if self.cuts else None
        match = re.match(r"bytes=(\d+)-", wanted or "")
        if match and not self.ignore_range:
            start = int(match.group(1))
            headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
            return _Response(206, headers, body[start:], cut)
        return _Response(200, {"Content-Length": str(len(body))}, body, cut)


def dump(doc: JobDocument) -> str:
    return json.dumps(doc.model_dump(mode="json"))



class FakeGreengrassIpc:
    """A `GreengrassCoreIPCClientV2` stand-in built on the SDK's real model types, wired to a jobs emulator core.

    Publishes go to the core; its replies (and notify-next, polled on a thread) reach the subscribers
    on another thread, as the nucleus would deliver them.
    """

    def __init__(self, core, poll_s: float = 0.05) -> None:  # type: ignore[no-untyped-def]
        import queue
        import threading

        self.core = core
        self.published: list[tuple[str, bytes]] = []
        self._subs: list[tuple[str, object]] = []
        self._outbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._stop = threading.Event()
        self._poll_s = poll_s
        self._thread = threading.Thread(target=self._deliver, daemon=True)
        self._thread.start()

    def publish_to_iot_core(self, *, topic_name: str, qos: str, payload: bytes, **_: object):  # type: ignore[no-untyped-def]
        from awsiot.greengrasscoreipc.model import QOS, PublishToIoTCoreResponse

        assert qos in (QOS.AT_MOST_ONCE, QOS.AT_LEAST_ONCE)
        self.published.append((topic_name, payload))
        for reply in self.core.handle(topic_name, payload):
            self._outbox.put(reply)
        return PublishToIoTCoreResponse()

    def subscribe_to_iot_core(self, *, topic_name: str, qos: str, on_stream_event, **_: object):  # type: ignore[no-untyped-def]
        from awsiot.greengrasscoreipc.model import QOS, SubscribeToIoTCoreResponse

        assert qos in (QOS.AT_MOST_ONCE, QOS.AT_LEAST_ONCE)
        entry = (topic_name, on_stream_event)
        self._subs.append(entry)
        subs = self._subs

        class Operation:
            def close(self) -> None:
                if entry in subs:
                    subs.remove(entry)

        return SubscribeToIoTCoreResponse(), Operation()

    def _deliver(self) -> None:
        import queue

        from awsiot.greengrasscoreipc.model import IoTCoreMessage, MQTTMessage

        from edge_appliance.ota.channel import topic_matches

        while not self._stop.is_set():
            try:
                messages = [self._outbox.get(timeout=self._poll_s)]
            except queue.Empty:
                messages = []
            messages += self.core.notifications()
            for topic, payload in messages:
                for topic_filter, callback in list(self._subs):
                    if topic_matches(topic_filter, topic):
                        callback(IoTCoreMessage(message=MQTTMessage(topic_name=topic, payload=payload)))  # type: ignore[operator]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
