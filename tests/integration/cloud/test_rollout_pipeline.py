"""The rollout state machine end to end on moto's interpreter, real handlers in-process, a simulated fleet:
a healthy release goes ring by ring to every device; a canary regression halts, rolls back, raises an incident."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("moto.server")

from contracts.bundles import ModelSource, build_bundle
from contracts.jobs import JobDocument
from edgecv.kms_signer import KmsSigner
from lambdas.common.events import Release
from lambdas.localcloud.cloud import LocalCloud, ring_group
from lambdas.localcloud.fleet_emulator import DeviceResponse, SimulatedFleet

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "damage_classifier"
DEVICES = {"canary": ["site-a-box1"], "ring10": ["site-b-box1", "site-c-box1"], "ring50": ["site-d-box1"],
           "ring100": ["site-e-box1", "site-f-box1"]}
REGRESSED = 4


def regressed_at(thing: str, ring: str, document: JobDocument) -> DeviceResponse:
    """Version 4 loads and passes its smoke test, but its confidence collapses in the field."""
    if document.targets.get(MODEL) == REGRESSED:
        return DeviceResponse(confidence=0.31)
    return DeviceResponse()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, SimulatedFleet, dict]]:
    work = tmp_path_factory.mktemp("localcloud")
    with LocalCloud(work) as local:
        fleet = SimulatedFleet(local.client("iot"), local.client("cloudwatch"),
                               {ring_group(r): things for r, things in DEVICES.items()}, behaviour=regressed_at)
        fleet.provision({MODEL: 2})
        local.install(executions=fleet)
        releases = {v: publish(local, work, v) for v in (2, 3, 4)}
        yield local, fleet, releases


def publish(local: LocalCloud, work: Path, version: int) -> dict:
    model = work / "models" / MODEL / str(version)
    model.mkdir(parents=True)
    (model / "model.onnx").write_bytes(f"weights {version}".encode())
    signer = KmsSigner(local.client("kms"), local.settings.signing_key_id)
    out = work / f"{MODEL}-{version}.tar.gz"
    build_bundle([ModelSource(model.parent, version)], "cpu", signer, out)
    data = out.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    key = f"bundles/{MODEL}/{version}/bundle.tar.gz"
    local.client("s3").put_object(Bucket=local.settings.artifacts_bucket, Key=key, Body=data, Metadata={"sha256": sha})
    return Release(bucket=local.settings.artifacts_bucket, key=key, sha256=sha, size=len(data), model_name=MODEL,
                   version=version, device_class="cpu", signer_key_id=signer.key_id).model_dump(mode="json")


def rollout_input(rollout_id: str, release: dict, previous: dict) -> dict:
    return {"rollout_id": rollout_id, "release": release, "previous": previous,
            "rings": [ring_group(r) for r in DEVICES],
            "config": {"bake_seconds": 1, "max_bakes": 2, "job_timeout_minutes": 10}}


def test_healthy_release_goes_ring_by_ring(cloud: tuple[LocalCloud, SimulatedFleet, dict]) -> None:
    local, fleet, releases = cloud
    started = time.monotonic()
    result = local.run("rollout", "roll-v3", rollout_input("roll-v3", releases[3], releases[2]))
    print(f"\nrollout state machine, 4 rings: {time.monotonic() - started:.1f} s")
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [s for s in result.states if s == "StartRing"] == ["StartRing"] * 4
    assert result.output["progress"]["done"] is True
    assert all(serving == {MODEL: 3} for serving in fleet.serving.values())
    assert local.incidents() == []


def test_canary_regression_halts_rolls_back_and_raises_an_incident(
        cloud: tuple[LocalCloud, SimulatedFleet, dict]) -> None:
    local, fleet, releases = cloud
    started = time.monotonic()
    result = local.run("rollout", "roll-v4", rollout_input("roll-v4", releases[4], releases[3]))
    print(f"\nrollout state machine, canary halt + rollback: {time.monotonic() - started:.1f} s")
    assert result.status == "FAILED" and result.error == "RolloutHalted"
    assert result.states.count("StartRing") == 1  # stopped at the canary
    assert result.states[-4:] == ["SignRollback", "RollbackRings", "RaiseIncident", "RolloutHalted"]
    incidents = local.incidents()
    assert len(incidents) == 1
    detail = incidents[0]["detail"]
    assert detail["ring"] == ring_group("canary") and detail["version"] == 4 and detail["rolled_back_to"] == 3
    assert "confidence" in detail["reasons"][0]
    fleet.poll()  # the devices answer the rollback job
    assert fleet.serving["site-a-box1"] == {MODEL: 3}
    assert all(fleet.serving[t] == {MODEL: 3} for r in ("ring10", "ring50", "ring100") for t in DEVICES[r])
    rollback_doc = JobDocument.model_validate_json(
        local.client("iot").get_job_document(jobId="edgecv-roll-v4-rb0")["document"])
    assert rollback_doc.rollback and rollback_doc.targets == {MODEL: 3}


def test_a_malformed_rollout_input_fails_with_one_clear_line(cloud: tuple[LocalCloud, SimulatedFleet, dict]) -> None:
    local, _, releases = cloud
    bad = rollout_input("roll-bad", releases[3], releases[2])
    bad["release"]["sha256"] = "not-a-digest"
    result = local.run("rollout", "roll-bad", bad)
    assert result.status == "FAILED" and result.error == "BadEventError"
    assert result.states == ["PlanRollout"]
    assert "release.sha256" in json.loads(result.cause)["errorMessage"]
