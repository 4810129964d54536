"""The simulated device and fleet of `edgecv simulate rollout`: each device's outcome comes from the real OTA agent."""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.bundles import LocalSigner
from contracts.jobs import JobDocument, JobOutcome
from edgecv.simulate.device import DeviceFault, Profiles, SharedVerifier, SimDevice, VersionProfile
from edgecv.simulate.fleet import SimFleet, deal, exact_share
from edgecv.simulate.runner import ring_sizes
from edgecv.simulate.shards import LocalShard, ShardSpec
from lambdas.common import fleet_metrics as fm
from tests.ota_support import MODEL, make_bundle, trusted

BAD_SMOKE = 7  # a version whose smoke accuracy is under the manifest's floor


profiles = Profiles({4: VersionProfile(confidence=0.35), BAD_SMOKE: VersionProfile(smoke_accuracy=0.5)},
                    default=VersionProfile(confidence=0.9))


class Bundles:
    """Signed bundles served from memory, and the job documents that name them."""

    def __init__(self, root: Path, signer: LocalSigner) -> None:
        self.root, self.signer, self.served, self._docs = root, signer, {}, {}

    def job(self, version: int, *, rollback: bool = False, ring: int = 0) -> str:
        path = make_bundle(self.root, self.signer, version, rollback=rollback)
        data = path.read_bytes()
        url = f"http://bundles.test/{path.name}"
        self.served[url] = data
        return JobDocument(rollout_id="sim", ring=ring, device_class="cpu", bundle_url=f"{url}?X-Amz-Signature=x",
                           bundle_sha256=hashlib.sha256(data).hexdigest(), bundle_size=len(data),
                           targets={MODEL: version}, rollback=rollback).model_dump_json()


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture
def bundles(tmp_path: Path, signer: LocalSigner) -> Bundles:
    (tmp_path / "bundles").mkdir()
    return Bundles(tmp_path / "bundles", signer)


def device(tmp_path: Path, signer: LocalSigner, bundles: Bundles, name: str = "site-1",
           verifier: SharedVerifier | None = None, serving: int = 2) -> SimDevice:
    return SimDevice.create(name, "edgecv-ring-canary", tmp_path / name, trusted(signer), {MODEL: serving},
                            bundles.served, profiles, download_attempts=5, verifier=verifier)


def test_a_healthy_job_switches_the_device_and_is_reported_succeeded(tmp_path: Path, signer: LocalSigner,
                                                                     bundles: Bundles) -> None:
    d = device(tmp_path, signer, bundles)
    report = d.handle("job-3", bundles.job(3))
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED, report
    assert d.serving == {MODEL: 3} and report.serving == {MODEL: 3}
    assert [h[MODEL] for h in d.server.history] == [2, 3]
    assert d.reports == [report]


def test_a_flaky_download_retries_and_succeeds_below_the_attempt_limit(tmp_path: Path, signer: LocalSigner,
                                                                        bundles: Bundles) -> None:
    d = device(tmp_path, signer, bundles)
    report = d.handle("job-3", bundles.job(3), download_failures=4)
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED
    assert d.web.requests == 5 and d.backoff.seconds > 0  # the real Downloader backed off between attempts


def test_a_device_that_exhausts_its_retries_reports_failed_and_keeps_serving(tmp_path: Path, signer: LocalSigner,
                                                                              bundles: Bundles) -> None:
    d = device(tmp_path, signer, bundles)
    report = d.handle("job-3", bundles.job(3), download_failures=5)
    assert report is not None and (report.outcome, report.reason) == (JobOutcome.FAILED, "download_failed")
    assert d.serving == {MODEL: 2} and not d.ever_served(MODEL, 3)


def test_anti_rollback_refuses_an_older_version_unless_the_rollback_is_signed(tmp_path: Path, signer: LocalSigner,
                                                                              bundles: Bundles) -> None:
    d = device(tmp_path, signer, bundles, serving=4)
    refused = d.handle("job-old", bundles.job(3))
    assert refused is not None and (refused.outcome, refused.reason) == (JobOutcome.REJECTED, "not_newer")
    assert d.serving == {MODEL: 4}
    back = d.handle("job-rb", bundles.job(3, rollback=True))
    assert back is not None and back.outcome is JobOutcome.SUCCEEDED
    assert d.serving == {MODEL: 3}


def test_a_version_failing_its_smoke_test_is_never_served(tmp_path: Path, signer: LocalSigner,
                                                          bundles: Bundles) -> None:
    d = device(tmp_path, signer, bundles)
    report = d.handle("job-bad", bundles.job(BAD_SMOKE))
    assert report is not None and (report.outcome, report.reason) == (JobOutcome.FAILED, "smoke_failed")
    assert not d.ever_served(MODEL, BAD_SMOKE) and d.serving == {MODEL: 2}


def test_the_shared_verifier_runs_once_per_input_and_gives_every_device_its_own_verdict(
        tmp_path: Path, signer: LocalSigner, bundles: Bundles) -> None:
    verifier = SharedVerifier()
    job = bundles.job(3)
    fleet = [device(tmp_path, signer, bundles, f"site-{i}", verifier) for i in range(3)]
    assert all(d.handle("job-3", job).outcome is JobOutcome.SUCCEEDED for d in fleet)  # type: ignore[union-attr]
    assert verifier.runs == 1
    newer = device(tmp_path, signer, bundles, "site-newer", verifier, serving=5)
    refused = newer.handle("job-3", job)
    assert refused is not None and refused.reason == "not_newer"  # another installed version: verified again
    again = device(tmp_path, signer, bundles, "site-newer-2", verifier, serving=5).handle("job-3", job)
    assert again is not None and again.reason == "not_newer"
    assert verifier.runs == 2


@given(st.integers(min_value=4, max_value=200_000))
def test_rings_cover_the_fleet_canary_first(devices: int) -> None:
    sizes = ring_sizes(devices)
    assert len(sizes) == 4 and sum(sizes) == devices and min(sizes) >= 1
    assert sizes[0] == max(1, math.ceil(devices * 0.01))
    if devices >= 100:
        assert sum(sizes[:2]) == round(devices * 0.10) and sum(sizes[:3]) == round(devices * 0.50)


@given(st.lists(st.integers(), unique=True, max_size=300), st.floats(min_value=0.0, max_value=1.0))
def test_exact_share_picks_the_rounded_count(things: list[int], rate: float) -> None:
    names = [str(t) for t in things]
    picked = exact_share(random.Random(1), names, rate)
    assert len(picked) == round(rate * len(names)) and picked <= set(names)


# ---- the fleet against fake IoT / CloudWatch clients ---------------------------------------------------------------

class _Pages:
    def __init__(self, jobs: list[dict]) -> None:
        self.jobs = jobs

    def paginate(self) -> list[dict]:
        return [{"jobs": self.jobs}]


class FakeIot:
    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, str, str]] = {}  # id -> (group, document, status)

    def add(self, job_id: str, group: str, document: str, status: str = "IN_PROGRESS") -> None:
        self.jobs[job_id] = (group, document, status)

    def get_paginator(self, name: str) -> _Pages:
        assert name == "list_jobs"
        return _Pages([{"jobId": j, "status": s} for j, (_, _, s) in self.jobs.items()])

    def describe_job(self, jobId: str) -> dict:  # noqa: N803 - boto3's spelling
        return {"job": {"targets": [f"arn:aws:iot:us-east-1:1:thinggroup/{self.jobs[jobId][0]}"]}}

    def get_job_document(self, jobId: str) -> dict:  # noqa: N803
        return {"document": self.jobs[jobId][1]}


class FakeCloudWatch:
    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []

    def put_metric_data(self, Namespace: str, MetricData: list[dict]) -> None:  # noqa: N803
        assert Namespace == fm.NAMESPACE and len(MetricData) <= 1000
        self.data.extend(MetricData)

    def stat(self, metric: str, version: int) -> dict[str, float]:
        sets = [d["StatisticValues"] for d in self.data if d["MetricName"] == metric
                and {"Name": fm.DIM_MODEL_VERSION, "Value": str(version)} in d["Dimensions"]]
        return {k: sum(s[k] for s in sets) for k in ("SampleCount", "Sum")}


def fleet_of(tmp_path: Path, signer: LocalSigner, bundles: Bundles, n: int, shards: int = 1,
             **kwargs: Any) -> tuple[SimFleet, FakeIot, FakeCloudWatch, dict[str, SimDevice]]:
    rings = {"edgecv-ring-canary": [f"site-{i}" for i in range(n)]}
    local = [LocalShard(ShardSpec.of(part, tmp_path / "fleet", trusted(signer), {MODEL: 2}, profiles))
             for part in deal(rings, shards)]
    iot, cw = FakeIot(), FakeCloudWatch()
    serving = {t: {MODEL: 2} for t in rings["edgecv-ring-canary"]}
    fleet = SimFleet(iot, cw, list(local), rings, profiles, serving=serving, bundles=bundles.served, **kwargs)
    return fleet, iot, cw, {t: d for shard in local for t, d in shard.devices.items()}


def test_offline_devices_never_answer_but_count_as_targeted(tmp_path: Path, signer: LocalSigner,
                                                            bundles: Bundles) -> None:
    fleet, iot, cw, devices = fleet_of(tmp_path, signer, bundles, 10, offline={"site-3", "site-7"})
    iot.add("r0", "edgecv-ring-canary", bundles.job(3))
    assert fleet.targeted("r0") == 10
    reports = fleet.reports("r0")
    assert sorted(r.thing_name for r in reports) == sorted(f"site-{i}" for i in range(10) if i not in (3, 7))
    assert {d.thing for d in fleet.jobs["r0"].deliveries if d.fault is DeviceFault.OFFLINE} == {"site-3", "site-7"}
    assert fleet.serving["site-3"] == devices["site-3"].serving == {MODEL: 2} and not devices["site-3"].reports
    confidence = cw.stat(fm.CONFIDENCE, 3)
    assert confidence["SampleCount"] == 8 and 0.8 < confidence["Sum"] / 8 < 1.0  # published by the 8 that answered


def test_flaky_downloads_hit_the_requested_share_and_some_devices_give_up(tmp_path: Path, signer: LocalSigner,
                                                                         bundles: Bundles) -> None:
    fleet, iot, _, devices = fleet_of(tmp_path, signer, bundles, 20, shards=3, fault_rate=0.5, seed=3)
    iot.add("r0", "edgecv-ring-canary", bundles.job(3))
    deliveries = fleet.jobs["r0"].deliveries if fleet.reports("r0") else []
    flaky = [d for d in deliveries if d.fault is DeviceFault.FLAKY_DOWNLOAD]
    assert len(flaky) == 10
    for d in deliveries:
        assert d.report is not None
        gave_up = d.download_failures >= fleet.download_attempts
        assert (d.report.outcome is JobOutcome.FAILED) == gave_up
        assert fleet.serving[d.thing] == devices[d.thing].serving == {MODEL: 2 if gave_up else 3}
        assert len(devices[d.thing].reports) == 1  # dealt to exactly one of the three shards


def test_a_canceled_job_is_not_delivered_and_a_job_is_delivered_once(tmp_path: Path, signer: LocalSigner,
                                                                     bundles: Bundles) -> None:
    fleet, iot, _, devices = fleet_of(tmp_path, signer, bundles, 3)
    iot.add("r0", "edgecv-ring-canary", bundles.job(4), status="CANCELED")
    iot.add("r1", "edgecv-ring-canary", bundles.job(3))
    fleet.poll()
    fleet.poll()
    assert "r0" not in fleet.jobs and fleet.reports("r0") == [] and fleet.targeted("r0") == 0
    assert all(len(d.reports) == 1 for d in devices.values())
    assert not any(s.ever_served for s in fleet.summary(MODEL, 4).values())
    assert all(s.ever_served and s.jobs == 1 for s in fleet.summary(MODEL, 3).values())


def test_health_follows_the_version_each_device_serves(tmp_path: Path, signer: LocalSigner, bundles: Bundles) -> None:
    fleet, iot, cw, _ = fleet_of(tmp_path, signer, bundles, 6, shards=2)
    iot.add("r0", "edgecv-ring-canary", bundles.job(4))
    fleet.poll()
    regressed = cw.stat(fm.CONFIDENCE, 4)
    assert regressed["SampleCount"] == 6 and regressed["Sum"] / 6 < 0.5
    assert cw.stat(fm.SMOKE_TEST_FAILURES, 4)["SampleCount"] == 0
    iot.add("r1", "edgecv-ring-canary", bundles.job(BAD_SMOKE))
    fleet.poll()
    assert cw.stat(fm.SMOKE_TEST_FAILURES, BAD_SMOKE) == {"SampleCount": 6, "Sum": 6}
