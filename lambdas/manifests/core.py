"""Validate a truck manifest the transport management system dropped in the landing bucket; curate or park it.

The TMS integration writes one `edgecv-manifest/1` object per truck to `manifests/<site>/<name>.json` in the
landing bucket (the `edgecv-tms-manifest-writer` policy allows exactly that). S3 notifies this function. A
valid manifest is copied to the same key in the curated bucket, where the teacher reads a site's labels against
it (`edgecv.jobs.label_samples`); a malformed one is moved to `parked/manifests/...` with a reason record.
Either way the landing object is then deleted. S3 delivers events at least once: a key already handled (gone
from landing) is reported as such and changes nothing.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from contracts.annotations import TruckManifest
from lambdas.common.deps import Deps
from lambdas.common.s3io import is_missing

MANIFEST_KEY = re.compile(r"^manifests/(?P<site>[A-Za-z0-9._-]{1,64})/(?P<name>[A-Za-z0-9._-]{1,128})\.json$")
MAX_BYTES = 1 << 20  # a truck manifest is a few KiB; anything near this is not one


class FeedOutcome(StrEnum):
    CURATED = "curated"
    PARKED = "parked"
    ALREADY_HANDLED = "already_handled"


class FeedResult(BaseModel):
    key: str
    outcome: FeedOutcome
    reason: str = ""


def parked_key(key: str) -> str:
    return f"parked/{key}"


def _problem(key: str, size: int, body: bytes | None) -> str | None:
    if not MANIFEST_KEY.match(key):
        return "not manifests/<site>/<name>.json"
    if size > MAX_BYTES or body is None:
        return f"{size} bytes, more than a truck manifest's {MAX_BYTES}"
    try:
        TruckManifest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        return f"not edgecv-manifest/1: {where}: {first['msg']}"
    return None


def feed_manifest(key: str, deps: Deps) -> FeedResult:
    s3, st = deps.aws("s3"), deps.settings
    try:
        head = s3.head_object(Bucket=st.landing_bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return FeedResult(key=key, outcome=FeedOutcome.ALREADY_HANDLED)
        raise
    size = int(head["ContentLength"])
    body = s3.get_object(Bucket=st.landing_bucket, Key=key)["Body"].read() if size <= MAX_BYTES else None
    problem = _problem(key, size, body)
    if problem is None:
        s3.put_object(Bucket=st.curated_bucket, Key=key, Body=body, ContentType="application/json")
        result = FeedResult(key=key, outcome=FeedOutcome.CURATED)
    else:
        s3.copy_object(Bucket=st.landing_bucket, Key=parked_key(key), CopySource={"Bucket": st.landing_bucket,
                                                                                  "Key": key})
        s3.put_object(Bucket=st.landing_bucket, Key=f"{parked_key(key)}.reason.json",
                      Body=json.dumps({"key": key, "reason": problem}).encode(), ContentType="application/json")
        result = FeedResult(key=key, outcome=FeedOutcome.PARKED, reason=problem)
    s3.delete_object(Bucket=st.landing_bucket, Key=key)
    return result


def feed_event(keys: list[str], deps: Deps) -> list[dict[str, Any]]:
    """Every manifest of one S3 notification; one bad manifest never stops the others."""
    return [feed_manifest(key, deps).model_dump(mode="json") for key in keys]
