"""Small S3 helpers (JSON objects, existence, listing, folders, a training job's model) that raise the cloud plane's
own errors."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.errors import ArtifactMissingError

_MISSING = {"NoSuchKey", "404", "NotFound"}


def is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _MISSING


def get_bytes(s3: Any, bucket: str, key: str) -> bytes:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_missing(exc):
            raise ArtifactMissingError(f"s3://{bucket}/{key} does not exist") from exc
        raise


def get_json(s3: Any, bucket: str, key: str) -> Any:
    data = get_bytes(s3, bucket, key)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactMissingError(f"s3://{bucket}/{key} is not JSON: {exc}") from exc


def put_json(s3: Any, bucket: str, key: str, value: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(value, sort_keys=True).encode(),
                  ContentType="application/json")


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if is_missing(exc):
            return False
        raise


def delete_for_good(s3: Any, bucket: str, key: str) -> int:
    """Delete every version of `key` (and its delete markers): on a versioned bucket a plain delete only hides
    the object behind a marker. Returns how many versions went."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    versions = [v["VersionId"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if v["Key"] == key]
    for version in versions:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    return len(versions)


def has_keys(s3: Any, bucket: str, prefix: str) -> bool:
    """Whether any object lies under `prefix`."""
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("Contents"))


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ArtifactMissingError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def download_prefix(s3: Any, bucket: str, prefix: str, dest: Path) -> int:
    count = 0
    for key in list_keys(s3, bucket, prefix):
        rel = key[len(prefix):].lstrip("/")
        if not rel or ".." in Path(rel).parts:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        count += 1
    return count


def fetch_model(s3: Any, uri: str, dest: Path) -> Path:
    bucket, key = split_s3_uri(uri)
    archive = dest.parent / "model.tar.gz"
    s3.download_file(bucket, key, str(archive))
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest
