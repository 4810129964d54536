"""The TMS manifest feed: a valid manifest is curated, a malformed one parked with its reason, never lost."""

from __future__ import annotations

import json

import pytest

from contracts.annotations import ManifestPallet, TruckManifest
from contracts.pro import make_pro
from lambdas.common.context import LocalContext
from lambdas.common.deps import Deps
from lambdas.common.errors import BadEventError
from lambdas.manifests.core import FeedOutcome, feed_manifest
from lambdas.manifests.handler import handler

GOOD = TruckManifest(truck_id="TRK-9", door="D01",
                     pallets=[ManifestPallet(pro=make_pro("100200300"), dest="MEM")]).model_dump_json().encode()


def put(deps: Deps, key: str, body: bytes) -> None:
    deps.aws("s3").put_object(Bucket=deps.settings.landing_bucket, Key=key, Body=body)


def keys(deps: Deps, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in deps.aws("s3").list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_valid_manifest_is_curated_and_leaves_landing(deps: Deps) -> None:
    put(deps, "manifests/site1/TRK-9.json", GOOD)
    result = feed_manifest("manifests/site1/TRK-9.json", deps)
    assert result.outcome is FeedOutcome.CURATED
    assert keys(deps, deps.settings.curated_bucket) == ["manifests/site1/TRK-9.json"]
    assert keys(deps, deps.settings.landing_bucket) == []
    assert feed_manifest("manifests/site1/TRK-9.json", deps).outcome is FeedOutcome.ALREADY_HANDLED  # redelivery


@pytest.mark.parametrize(("key", "body", "reason"), [
    ("manifests/site1/TRK-1.json", b'{"format": "edgecv-manifest/1", "truck_id": "T"}', "not edgecv-manifest/1: "),
    ("manifests/site1/TRK-2.json", b"{not json", "not edgecv-manifest/1"),
    ("manifests/TRK-3.json", GOOD, "not manifests/<site>/<name>.json"),
])
def test_a_malformed_manifest_is_parked_with_its_reason(deps: Deps, key: str, body: bytes, reason: str) -> None:
    put(deps, key, body)
    result = feed_manifest(key, deps)
    assert result.outcome is FeedOutcome.PARKED and result.reason.startswith(reason)
    assert keys(deps, deps.settings.curated_bucket) == []
    assert keys(deps, deps.settings.landing_bucket) == [f"parked/{key}", f"parked/{key}.reason.json"]
    s3 = deps.aws("s3")
    assert s3.get_object(Bucket=deps.settings.landing_bucket, Key=f"parked/{key}")["Body"].read() == body
    record = json.loads(s3.get_object(Bucket=deps.settings.landing_bucket,
                                      Key=f"parked/{key}.reason.json")["Body"].read())
    assert record == {"key": key, "reason": result.reason}


def s3_event(*keys: str) -> dict:
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-24T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "TMS"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "r", "x-amz-id-2": "i"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "feed",
               "bucket": {"name": "t-landing", "ownerIdentity": {"principalId": "o"}, "arn": "arn:aws:s3:::t-landing"},
               "object": {"key": key, "size": 10, "eTag": "e", "sequencer": "0"}}} for key in keys]}


def test_one_notification_with_a_good_and_a_bad_manifest(deps: Deps) -> None:
    put(deps, "manifests/site1/TRK-9.json", GOOD)
    put(deps, "manifests/site1/broken.json", b"{")
    out = handler(s3_event("manifests/site1/TRK%2D9.json", "manifests/site1/broken.json"), LocalContext())
    assert [r["outcome"] for r in out["manifests"]] == ["curated", "parked"]
    assert keys(deps, deps.settings.curated_bucket) == ["manifests/site1/TRK-9.json"]


def test_a_malformed_notification_is_one_clear_error(deps: Deps) -> None:
    with pytest.raises(BadEventError, match="S3Notification"):
        handler({"Records": [{"s3": {}}]}, LocalContext())
    with pytest.raises(BadEventError, match="S3Notification"):
        handler({"Records": []}, LocalContext())
