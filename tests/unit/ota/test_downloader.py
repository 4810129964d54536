"""The resuming downloader over an injected opener (the real HTTP server is in the integration tests)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.errors import DownloadError, DownloadMismatchError, DownloadTooLargeError
from tests.ota_support import FakeWeb

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def web(tmp_path: Path) -> tuple[FakeWeb, str]:
    source = tmp_path / "bundle.tar.gz"
    source.write_bytes(DATA)
    fake = FakeWeb()
    return fake, fake.add(source)


def downloader(web: FakeWeb, **kwargs: object) -> Downloader:
    sleeps: list[float] = []
    d = Downloader(max_bytes=kwargs.pop("max_bytes", 1 << 20), attempts=kwargs.pop("attempts", 5),  # type: ignore[arg-type]
                   sleep=sleeps.append, opener=web)
    d.sleeps = sleeps  # type: ignore[attr-defined]
    return d


def test_plain_download(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    result = downloader(fake).fetch(url, tmp_path / "out.tar.gz", SHA, len(DATA))
    assert result.path.read_bytes() == DATA and result.resumes == 0 and result.fetched_bytes == len(DATA)
    assert not Downloader.partial_path(tmp_path / "out.tar.gz").exists()


def test_cut_connections_are_resumed_with_ranges(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    fake.cuts = [100_000, 50_000]
    d = downloader(fake)
    result = d.fetch(url, tmp_path / "out.tar.gz", SHA, len(DATA))
    assert result.path.read_bytes() == DATA
    assert fake.requests == [None, "bytes=100000-", "bytes=150000-"]
    assert result.resumes == 2 and result.fetched_bytes == len(DATA)
    assert d.sleeps == [0.5, 1.0]  # type: ignore[attr-defined]


def test_a_partial_file_survives_a_restart(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    fake.cuts = [120_000] * 2
    dest = tmp_path / "out.tar.gz"
    with pytest.raises(DownloadError, match="240000 of 300000"):
        downloader(fake, attempts=2).fetch(url, dest, SHA, len(DATA))
    assert Downloader.partial_path(dest).stat().st_size == 240_000
    result = downloader(fake).fetch(url, dest, SHA, len(DATA))  # a new agent process
    assert result.fetched_bytes == len(DATA) - 240_000 and dest.read_bytes() == DATA
    assert fake.requests[-1] == "bytes=240000-"


def test_a_server_ignoring_ranges_restarts_from_zero(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    fake.cuts = [100_000]
    fake.ignore_range = True
    result = downloader(fake).fetch(url, tmp_path / "out.tar.gz", SHA, len(DATA))
    assert result.path.read_bytes() == DATA


def test_wrong_hash_discards_the_partial_file(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    dest = tmp_path / "out.tar.gz"
    with pytest.raises(DownloadMismatchError):
        downloader(fake).fetch(url, dest, "0" * 64, len(DATA))
    assert not dest.exists() and not Downloader.partial_path(dest).exists()


def test_more_bytes_than_the_job_says_is_refused(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    with pytest.raises(DownloadTooLargeError):
        downloader(fake).fetch(url, tmp_path / "out.tar.gz", SHA, len(DATA) - 10)


def test_size_cap_is_checked_before_fetching(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    with pytest.raises(DownloadTooLargeError, match="cap"):
        downloader(fake, max_bytes=1000).fetch(url, tmp_path / "out.tar.gz", SHA, len(DATA))
    assert fake.requests == []


def test_http_404_is_not_retried(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, _ = web
    with pytest.raises(DownloadError, match="404"):
        downloader(fake).fetch("http://bundles.test/nope", tmp_path / "out.tar.gz", SHA, len(DATA))
    assert len(fake.requests) == 1


def test_an_already_complete_download_is_not_fetched_again(web: tuple[FakeWeb, str], tmp_path: Path) -> None:
    fake, url = web
    dest = tmp_path / "out.tar.gz"
    dest.write_bytes(DATA)
    assert downloader(fake).fetch(url, dest, SHA, len(DATA)).fetched_bytes == 0
    assert fake.requests == []
