"""The uploader against a real S3 (moto server on 127.0.0.1): link down, link up, restart mid-drain, wrong bucket."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from contracts.predictions import DetectedPerson, FramePrediction
from contracts.samples import HardNegativeSample, SampleReason
from edge_appliance.capture import CaptureConfig, SampleCapture
from edge_appliance.ports import free_port
from edge_appliance.sample_buffer import DiskSampleStore
from edge_appliance.uploader import LinkState, Uploader, UploaderConfig, make_s3_client

pytestmark = pytest.mark.integration

BUCKET = "edgecv-landing"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class Crash(BaseException):
    """The uploader's process dying mid-drain."""


class CrashingClient:
    """Passes calls to a real client, and dies right after the n-th successful put_object."""

    def __init__(self, client: Any, die_after_puts: int) -> None:
        self._client, self._left = client, die_after_puts

    def head_object(self, **kw: Any) -> Any:
        return self._client.head_object(**kw)

    def put_object(self, **kw: Any) -> Any:
        out = self._client.put_object(**kw)
        self._left -= 1
        if self._left == 0:
            raise Crash
        return out


def _wait_for(cond: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def moto_later(port: int) -> Iterator[Callable[[], ThreadedMotoServer]]:
    """Starts a moto server on `port` when called (the link coming up); stops it at teardown."""
    servers: list[ThreadedMotoServer] = []

    def start() -> ThreadedMotoServer:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        servers.append(server)
        # moto's state lives in this process and outlives a server: start from an empty account
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
        return server

    yield start
    for server in servers:
        server.stop()


def _fill(store: DiskSampleStore, n: int, start: int = 0) -> None:
    ids = iter(range(start, start + n))
    capture = SampleCapture(store, CaptureConfig(site_id="site-1", queue_size=64),
                            new_id=lambda: f"sample-{next(ids):06d}")
    capture.start()
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        frame = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
        pred = FramePrediction(people=[DetectedPerson(bbox=[5, 5, 20, 40], score=0.9)], model_versions={"ocr": "1"})
        capture.put_nowait(frame, pred, camera_id=f"cam{i % 2}", frame_id=i, reasons=[SampleReason.LOW_CONFIDENCE_READ],
                           priority=float(i % 4), captured_at=1000.0 + i)
    capture.stop()
    assert capture.counters().outcomes == {"stored": n}


def _objects(client: Any) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.mark.slow
def test_fill_while_down_then_drain_exactly_once_and_survive_a_restart(
        tmp_path: Path, port: int, moto_later: Callable[[], ThreadedMotoServer]) -> None:
    endpoint = f"http://127.0.0.1:{port}"
    config = UploaderConfig(bucket=BUCKET, backoff_base_s=0.05, backoff_max_s=0.2, idle_poll_s=0.05)
    store = DiskSampleStore(tmp_path / "buffer", cap_bytes=50 * 1024 * 1024)
    store.open()
    _fill(store, 20)

    # link down: nothing listens on the endpoint yet
    uploader = Uploader(store, make_s3_client(endpoint, connect_timeout_s=0.5, **CREDS), config)
    uploader.start()
    _wait_for(lambda: uploader.counters().link_down >= 3, "the uploader to see the link down")
    assert uploader.link_state is LinkState.DOWN
    assert len(store) == 20 and uploader.counters().uploaded_samples == 0

    # link up: the landing bucket appears on the endpoint
    moto_later()
    admin = make_s3_client(endpoint, **CREDS)
    admin.create_bucket(Bucket=BUCKET)
    uploader.wake()
    _wait_for(lambda: len(store) == 0, "the buffer to drain")
    uploader.stop()
    assert uploader.link_state is LinkState.UP
    keys = _objects(admin)
    assert len(keys) == len(set(keys)) == 40
    counters = uploader.counters()
    assert counters.uploaded_samples == 20 and counters.retried_samples >= 1
    assert counters.uploaded_bytes == sum(o["Size"] for o in admin.list_objects_v2(Bucket=BUCKET)["Contents"])

    # restart mid-drain: the first uploader dies after 7 puts (3 whole samples + a frame without its record)
    _fill(store, 10, start=100)
    with pytest.raises(Crash):
        Uploader(store, CrashingClient(make_s3_client(endpoint, **CREDS), 7), config).drain_once()
    assert len(_objects(admin)) == 40 + 7
    reopened = DiskSampleStore(tmp_path / "buffer", cap_bytes=50 * 1024 * 1024)
    assert reopened.open().samples == 7
    again = Uploader(reopened, make_s3_client(endpoint, **CREDS), config)
    report = again.drain_once()
    assert report.outcomes == {"uploaded": 7} and len(reopened) == 0
    keys = _objects(admin)
    assert len(keys) == len(set(keys)) == 60
    records = [k for k in keys if k.endswith("/sample.json")]
    assert len(records) == 30
    for key in records:
        s = HardNegativeSample.model_validate_json(admin.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        assert key == f"{s.key_prefix()}/sample.json" and s.people_blurred == 1 and s.site_id == "site-1"
        assert admin.head_object(Bucket=BUCKET, Key=f"{s.key_prefix()}/frame.jpg")["ContentLength"] > 0


def test_crash_after_the_record_before_the_local_delete_is_not_uploaded_twice(
        tmp_path: Path, port: int, moto_later: Callable[[], ThreadedMotoServer]) -> None:
    endpoint = f"http://127.0.0.1:{port}"
    moto_later()
    admin = make_s3_client(endpoint, **CREDS)
    admin.create_bucket(Bucket=BUCKET)
    config = UploaderConfig(bucket=BUCKET)
    store = DiskSampleStore(tmp_path / "buffer")
    store.open()
    _fill(store, 3)
    with pytest.raises(Crash):  # dies after the 2nd sample.json, before its local delete
        Uploader(store, CrashingClient(make_s3_client(endpoint, **CREDS), 4), config).drain_once()
    reopened = DiskSampleStore(tmp_path / "buffer")
    reopened.open()
    assert len(reopened) == 2
    again = Uploader(reopened, make_s3_client(endpoint, **CREDS), config)
    assert again.drain_once().outcomes == {"already_present": 1, "uploaded": 1}
    keys = _objects(admin)
    assert len(keys) == len(set(keys)) == 6 and len(reopened) == 0


def test_wrong_bucket_is_counted_not_raised(tmp_path: Path, port: int,
                                            moto_later: Callable[[], ThreadedMotoServer]) -> None:
    endpoint = f"http://127.0.0.1:{port}"
    moto_later()
    store = DiskSampleStore(tmp_path / "buffer")
    store.open()
    _fill(store, 2)
    uploader = Uploader(store, make_s3_client(endpoint, **CREDS), UploaderConfig(bucket="no-such-bucket"),
                        sleep=lambda _s: None)
    for _ in range(3):
        uploader.step()
    assert uploader.link_state is LinkState.REFUSED
    assert uploader.counters().refused == 3 and len(store) == 2
