"""A whole site from its config file: synthetic camera -> Triton -> decisions -> hard negatives -> moto S3 landing
bucket, with telemetry written; started as the Greengrass ingest component would start it."""

import json
import subprocess
import sys

import boto3
import pytest
from moto.server import ThreadedMotoServer

from contracts.samples import HardNegativeSample
from contracts.telemetry import SiteTelemetry
from edge_appliance.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def landing_bucket(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket="landing")
    yield url, s3
    server.stop()


def test_a_site_runs_from_its_config_and_drains_samples(triton_pipeline, forklift_sequence, landing_bucket,
                                                         tmp_path):
    url, s3 = landing_bucket
    config = {
        "site_id": "site-a", "triton_url": triton_pipeline.url, "data_dir": str(tmp_path / "site"),
        "cameras": [{"camera_id": "door-7", "source": f"synthetic:{forklift_sequence}", "fps": 30,
                     "overload": "block", "manifest": str(forklift_sequence / "manifest.json")}],
        "sampler": {"random_rate": 0.05},
        "upload": {"bucket": "landing", "endpoint_url": url},
        "telemetry_interval_s": 1.0,
    }
    path = tmp_path / "site.json"
    path.write_text(json.dumps(config))
    result = subprocess.run([sys.executable, "-m", "edgecv.cli", "edge", "run", "--config", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    final = SiteTelemetry.model_validate_json(result.stdout)
    camera = final.cameras["door-7"]
    assert camera.state == "ended" and camera.frames_decided == camera.frames_in > 0
    assert final.passes >= 2 and final.model_versions == {"detector": "1", "ocr": "1", "damage_classifier": "1"}
    lines = (tmp_path / "site" / "telemetry.jsonl").read_text().splitlines()
    assert len(lines) >= 2 and all(SiteTelemetry.model_validate_json(line) for line in lines)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="landing").get("Contents", [])]
    records = [k for k in keys if k.endswith("sample.json")]
    assert records, "hard negatives reach the landing bucket"
    assert final.upload.uploaded == len(records) and final.buffer.samples == 0
    for key in records:
        sample = HardNegativeSample.model_validate_json(s3.get_object(Bucket="landing", Key=key)["Body"].read())
        assert key == f"{sample.key_prefix()}/sample.json" and sample.site_id == "site-a"
        assert key.replace("sample.json", "frame.jpg") in keys


def test_a_bad_site_config_is_one_clear_line(tmp_path):
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"site_id": "s", "data_dir": str(tmp_path), "cameras": [], "bogus": 1}))
    result = subprocess.run([sys.executable, "-m", "edgecv.cli", "edge", "run", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cameras" in result.stderr.strip().splitlines()[-1]
