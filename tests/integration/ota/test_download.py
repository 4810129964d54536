"""The downloader against real servers: a local HTTP server that cuts the connection mid-transfer, and a
presigned S3 GET URL from moto's server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.errors import DownloadError
from edge_appliance.ports import free_port
from tests.integration.ota.conftest import FlakyFileServer

pytestmark = pytest.mark.integration
DATA = os.urandom(2_000_000)
SHA = hashlib.sha256(DATA).hexdigest()


def test_connection_cut_mid_transfer_is_resumed(file_server: FlakyFileServer, tmp_path: Path) -> None:
    (file_server.folder / "b.tar.gz").write_bytes(DATA)
    file_server.cuts = [700_000, 300_000]
    dest = tmp_path / "dl" / "b.tar.gz"
    result = Downloader(max_bytes=1 << 30, backoff_s=0.01).fetch(file_server.url("b.tar.gz"), dest, SHA, len(DATA))
    assert dest.read_bytes() == DATA
    assert file_server.ranges == [None, "bytes=700000-", "bytes=1000000-"]
    assert result.resumes == 2 and result.fetched_bytes == len(DATA)


def test_partial_file_is_resumed_by_the_next_process(file_server: FlakyFileServer, tmp_path: Path) -> None:
    (file_server.folder / "b.tar.gz").write_bytes(DATA)
    file_server.cuts = [500_000]
    dest = tmp_path / "dl" / "b.tar.gz"
    with pytest.raises(DownloadError, match="500000 of 2000000"):
        Downloader(max_bytes=1 << 30, attempts=1).fetch(file_server.url("b.tar.gz"), dest, SHA, len(DATA))
    result = Downloader(max_bytes=1 << 30).fetch(file_server.url("b.tar.gz"), dest, SHA, len(DATA))
    assert result.fetched_bytes == len(DATA) - 500_000 and dest.read_bytes() == DATA
    assert file_server.ranges[-1] == "bytes=500000-"


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_presigned_s3_url_with_range_resume(moto_s3: str, tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket="bundles")
    s3.put_object(Bucket="bundles", Key="detector/2.tar.gz", Body=DATA)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bundles", "Key": "detector/2.tar.gz"},
                                    ExpiresIn=600)
    dest = tmp_path / "dl" / "b.tar.gz"
    part = Downloader.partial_path(dest)
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA[:1_234_567])  # what a cut connection left behind
    result = Downloader(max_bytes=1 << 30).fetch(url, dest, SHA, len(DATA))
    assert dest.read_bytes() == DATA
    assert result.resumes == 1 and result.fetched_bytes == len(DATA) - 1_234_567
