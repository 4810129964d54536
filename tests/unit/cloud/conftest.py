"""Fixtures for the cloud Lambdas under moto's in-process mock (no server)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import numpy as np
import pytest
from PIL import Image, ImageFilter

from contracts.predictions import DetectedPallet, DetectedPerson, FramePrediction
from contracts.samples import HardNegativeSample, SampleReason
from lambdas.common import deps as deps_module
from lambdas.common.deps import Deps
from lambdas.common.settings import Settings

REGION = "us-east-1"
BUCKETS = {"landing_bucket": "t-landing", "curated_bucket": "t-curated", "artifacts_bucket": "t-artifacts"}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_SERVICE_NAME": "edgecv-test",
                       "POWERTOOLS_METRICS_NAMESPACE": "edgecv/test", "POWERTOOLS_TRACE_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        yield


@pytest.fixture
def deps(aws: None) -> Iterator[Deps]:
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in BUCKETS.values():
        s3.create_bucket(Bucket=bucket)
    d = Deps(settings=Settings(**BUCKETS, ring_groups=[]), client=lambda name: boto3.client(name, region_name=REGION))
    deps_module.install(d)
    yield d
    deps_module.install(None)


def jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=92)
    return out.getvalue()


def frame_with_person(blurred: bool, seed: int = 0) -> tuple[bytes, list[float]]:
    """A noisy (sharp) 160x120 frame; the person box is Gaussian-blurred when `blurred`."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
    box = [40.0, 20.0, 100.0, 100.0]
    img = Image.fromarray(pixels)
    if blurred:
        region = img.crop((40, 20, 100, 100)).filter(ImageFilter.GaussianBlur(8))
        img.paste(region, (40, 20))
    return jpeg(np.asarray(img)), box


def sample_record(sample_id: str, person_box: list[float] | None, people_blurred: int | None = None,
                  site: str = "site1", camera: str = "cam1") -> HardNegativeSample:
    people = [DetectedPerson(bbox=person_box, score=0.9)] if person_box else []
    return HardNegativeSample(
        sample_id=sample_id, site_id=site, camera_id=camera, frame_id=1, captured_at=1.7e9, width=160, height=120,
        people_blurred=len(people) if people_blurred is None else people_blurred,
        reasons=[SampleReason.LOW_CONFIDENCE_READ], priority=1.0,
        prediction=FramePrediction(pallets=[DetectedPallet(bbox=[10, 10, 50, 60], score=0.95, damaged=False,
                                                           damage_score=0.1)], people=people))


@dataclass
class Landing:
    s3: Any
    bucket: str

    def put(self, sample: HardNegativeSample, image: bytes | None, record: bytes | None = None) -> str:
        prefix = sample.key_prefix()
        if image is not None:
            self.s3.put_object(Bucket=self.bucket, Key=f"{prefix}/frame.jpg", Body=image)
        self.s3.put_object(Bucket=self.bucket, Key=f"{prefix}/sample.json",
                           Body=record if record is not None else sample.model_dump_json().encode())
        return prefix


@pytest.fixture
def landing(deps: Deps) -> Landing:
    return Landing(deps.aws("s3"), deps.settings.landing_bucket)
