from __future__ import annotations

import logging
import random
import time
from typing import Any

import botocore.exceptions
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.samples import HardNegativeSample
from edge_appliance.sample_buffer import MemorySampleStore, SampleStore, record_bytes
from edge_appliance.uploader import (
    LinkState,
    Uploader,
    UploaderConfig,
    UploadOutcome,
    backoff_delay,
    make_s3_client,
)
from tests.sample_factory import jpeg, sample

BUCKET = "landing"
CONFIG = UploaderConfig(bucket=BUCKET, backoff_base_s=1.0, backoff_max_s=60.0, idle_poll_s=0.05)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class FakeS3:
    """A dict-backed S3 with switchable failures; records every call."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: Exception | None = None
        self.crash_after_put: int | None = None
        self.puts = 0

    def _check(self, op: str, key: str) -> None:
        self.calls.append((op, key))
        if self.fail is not None:
            raise self.fail

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        self._check("head", Key)
        if Key not in self.objects:
            raise botocore.exceptions.ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"ContentLength": len(self.objects[Key])}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:  # noqa: N803
        self._check("put", Key)
        self.objects[Key] = Body
        self.puts += 1
        if self.crash_after_put is not None and self.puts >= self.crash_after_put:
            raise Crash
        return {}


def _down() -> Exception:
    return botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def _no_bucket() -> Exception:
    return botocore.exceptions.ClientError({"Error": {"Code": "NoSuchBucket", "Message": "nope"}}, "PutObject")


def _filled(n: int, priorities: list[float] | None = None) -> tuple[SampleStore, list[HardNegativeSample]]:
    store = MemorySampleStore()
    store.open()
    samples = [sample(i, (priorities or [1.0] * n)[i]) for i in range(n)]
    for s in samples:
        store.put(s, jpeg(s.frame_id))
    return store, samples


def _uploader(store: SampleStore, s3: FakeS3, **kw: Any) -> Uploader:
    return Uploader(store, s3, CONFIG, sleep=lambda _s: None, clock=lambda: 0.0, rng=random.Random(0), **kw)


def test_uploads_frame_then_record_then_removes_locally() -> None:
    store, samples = _filled(3)
    s3 = FakeS3()
    up = _uploader(store, s3)
    report = up.drain_once()
    assert report.outcomes == {"uploaded": 3} and report.stopped_by is None
    assert len(store) == 0
    for s in samples:
        prefix = s.key_prefix()
        assert s3.objects[f"{prefix}/frame.jpg"] == jpeg(s.frame_id)
        assert HardNegativeSample.model_validate_json(s3.objects[f"{prefix}/sample.json"]) == s
        puts = [k for op, k in s3.calls if op == "put" and k.startswith(prefix)]
        assert puts == [f"{prefix}/frame.jpg", f"{prefix}/sample.json"]
    c = up.counters()
    assert c.uploaded_samples == 3 and c.uploaded_bytes == sum(len(v) for v in s3.objects.values())
    assert up.link_state is LinkState.UP


def test_most_informative_first() -> None:
    store, samples = _filled(3, [1.0, 5.0, 3.0])
    s3 = FakeS3()
    _uploader(store, s3).drain_once()
    records = [k for op, k in s3.calls if op == "put" and k.endswith("sample.json")]
    assert records == [f"{samples[i].key_prefix()}/sample.json" for i in (1, 2, 0)]


def test_sample_already_in_the_bucket_is_not_uploaded_again() -> None:
    store, samples = _filled(2)
    s3 = FakeS3()
    s3.objects[f"{samples[0].key_prefix()}/sample.json"] = b"{}"
    up = _uploader(store, s3)
    assert up.drain_once().outcomes == {"already_present": 1, "uploaded": 1}
    assert not [k for op, k in s3.calls if op == "put" and k.startswith(samples[0].key_prefix())]
    assert len(store) == 0 and up.counters().already_present == 1


def test_link_down_keeps_samples_backs_off_and_counts_retries(caplog: pytest.LogCaptureFixture) -> None:
    store, samples = _filled(3)
    s3 = FakeS3()
    s3.fail = _down()
    up = _uploader(store, s3)
    with caplog.at_level(logging.WARNING, logger="edge_appliance.uploader"):
        delays = [up.step() for _ in range(6)]
    assert len(store) == 3 and s3.objects == {}
    assert up.link_state is LinkState.DOWN and up.consecutive_failures == 6
    assert len([r for r in caplog.records if "link down" in r.getMessage()]) == 1
    for n, d in enumerate(delays, start=1):
        step = min(CONFIG.backoff_max_s, CONFIG.backoff_base_s * 2 ** (n - 1))
        assert step / 2 <= d <= step
    c = up.counters()
    assert c.link_down == 6 and c.failed_samples == 6 and c.uploaded_samples == 0
    s3.fail = None
    assert up.step() == CONFIG.idle_poll_s  # drained in one pass, then idle
    assert len(store) == 0 and up.consecutive_failures == 0 and up.link_state is LinkState.UP
    c = up.counters()
    assert c.uploaded_samples == 3 and c.retried_samples == 1  # only the first in line was ever tried
    assert c.retried_bytes == len(jpeg(0)) + len(record_bytes(samples[0]))


def test_refused_bucket_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    store, _ = _filled(2)
    s3 = FakeS3()
    s3.fail = _no_bucket()
    up = _uploader(store, s3)
    with caplog.at_level(logging.ERROR, logger="edge_appliance.uploader"):
        reports = [up.drain_once() for _ in range(3)]
    assert all(r.stopped_by is UploadOutcome.REFUSED for r in reports)
    assert up.link_state is LinkState.REFUSED and up.counters().refused == 3
    (line,) = [r.getMessage() for r in caplog.records]
    assert "refused" in line and "NoSuchBucket" in line and "\n" not in line
    assert len(store) == 2


def test_transient_server_errors_count_as_link_down() -> None:
    store, _ = _filled(1)
    s3 = FakeS3()
    s3.fail = botocore.exceptions.ClientError({"Error": {"Code": "SlowDown"}}, "PutObject")
    up = _uploader(store, s3)
    assert up.drain_once().stopped_by is UploadOutcome.LINK_DOWN


def test_restart_between_the_two_objects_and_after_the_record_never_duplicates() -> None:
    store, samples = _filled(3)
    s3 = FakeS3()
    s3.crash_after_put = 1  # dies right after the first frame.jpg
    with pytest.raises(Crash):
        _uploader(store, s3).drain_once()
    assert len(store) == 3
    s3.crash_after_put = 5  # puts are counted across runs: dies after the 2nd sample.json, before the local delete
    with pytest.raises(Crash):
        _uploader(store, s3).drain_once()
    assert len(store) == 2
    s3.crash_after_put = None
    up = _uploader(store, s3)
    assert up.drain_once().outcomes == {"already_present": 1, "uploaded": 1}
    assert len(store) == 0
    assert sorted(s3.objects) == sorted(f"{s.key_prefix()}/{name}" for s in samples
                                        for name in ("frame.jpg", "sample.json"))
    records = [k for op, k in s3.calls if op == "put" and k.endswith("sample.json")]
    assert len(records) == len(set(records)) == 3


def test_gone_sample_is_skipped() -> None:
    store, samples = _filled(1)
    up = _uploader(store, FakeS3())
    (entry,) = store.pending()
    store.remove(samples[0].sample_id)
    assert up.upload_one(entry) is UploadOutcome.GONE


def test_thread_drains_and_stops() -> None:
    store, _ = _filled(5)
    s3 = FakeS3()
    up = Uploader(store, s3, CONFIG)
    up.start()
    deadline = time.monotonic() + 30
    while len(store) and time.monotonic() < deadline:
        time.sleep(0.01)
    up.stop()
    assert len(store) == 0 and up.counters().uploaded_samples == 5


@given(failures=st.integers(1, 40), base=st.floats(0.01, 10), cap=st.floats(0.1, 600), seed=st.integers(0, 99))
def test_backoff_is_bounded_and_grows(failures: int, base: float, cap: float, seed: int) -> None:
    rng = random.Random(seed)
    step = min(cap, base * 2 ** (failures - 1))
    d = backoff_delay(failures, base, cap, rng)
    assert step / 2 <= d <= step <= cap
    assert backoff_delay(failures + 1, base, cap, random.Random(seed)) >= step / 2


def test_client_factory_does_not_retry_on_its_own() -> None:
    client = make_s3_client("http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="y")
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


def test_thread_survives_an_unexpected_error() -> None:
    store, _ = _filled(2)
    s3 = FakeS3()
    s3.fail = RuntimeError("bug in a client plugin")
    slept: list[float] = []
    up = Uploader(store, s3, CONFIG, sleep=slept.append, rng=random.Random(0))
    up.start()
    deadline = time.monotonic() + 30
    while up.counters().unexpected_errors < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    s3.fail = None
    while len(store) and time.monotonic() < deadline:
        time.sleep(0.01)
    up.stop()
    assert up.counters().unexpected_errors >= 3 and len(store) == 0
    for n, d in enumerate(slept[:3], start=1):  # it backed off, it did not spin
        step = CONFIG.backoff_base_s * 2 ** (n - 1)
        assert step / 2 <= d <= step
