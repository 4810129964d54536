"""delete_for_good: every version of one key goes (a plain delete on a versioned bucket only hides it); other keys,
even ones the key is a prefix of, stay."""

from __future__ import annotations

import pytest

from lambdas.common.deps import Deps
from lambdas.common.s3io import delete_for_good, exists


@pytest.mark.parametrize("versioned", [True, False])
def test_every_version_of_the_key_and_nothing_else(deps: Deps, versioned: bool) -> None:
    s3, bucket = deps.aws("s3"), deps.settings.curated_bucket
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="samples/a/frame.jpg", Body=body)
    s3.put_object(Bucket=bucket, Key="samples/a/frame.jpg.bak", Body=b"other")
    assert delete_for_good(s3, bucket, "samples/a/frame.jpg") == (2 if versioned else 1)
    listed = s3.list_object_versions(Bucket=bucket, Prefix="samples/a/frame.jpg")
    assert [v["Key"] for v in listed.get("Versions", [])] == ["samples/a/frame.jpg.bak"]
    assert not listed.get("DeleteMarkers")
    assert not exists(s3, bucket, "samples/a/frame.jpg") and exists(s3, bucket, "samples/a/frame.jpg.bak")
    assert delete_for_good(s3, bucket, "samples/a/frame.jpg") == 0  # again: nothing left, no error
