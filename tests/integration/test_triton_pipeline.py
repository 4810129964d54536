"""The pallet pipeline on a real Triton: same answers as the in-process ONNX Runtime pipeline, clear errors on bad
frames, a supervisor that brings a killed server back with its models, and `edgecv eval` through the ensemble."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from contracts.annotations import load_annotation_set
from edge_appliance.pipeline_client import InferenceError, PipelineClient
from edge_appliance.triton_server import ServerState
from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline
from training.evaluation import load_frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def processes_in_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


def frames_of(dataset):
    annotations = load_annotation_set(dataset)
    return [load_frame(dataset, f.image, f.width, f.height) for f in annotations.frames]


def test_triton_answers_like_onnx_runtime_in_process(triton_pipeline, rendered_frames):
    reference = OnnxPalletPipeline(ModelPaths.from_repository(), threads=1)
    for frame in frames_of(rendered_frames):
        served, local = triton_pipeline.client.predict(frame), reference.predict(frame)
        assert len(served.pallets) == len(local.pallets) and len(served.labels) == len(local.labels)
        for a, b in zip(served.pallets, local.pallets, strict=True):
            assert np.allclose(a.bbox, b.bbox, atol=0.5) and a.damaged == b.damaged and a.label_index == b.label_index
        for a, b in zip(served.labels, local.labels, strict=True):
            assert (a.pro, a.dest, a.raw_text, a.check_digit_ok) == (b.pro, b.dest, b.raw_text, b.check_digit_ok)
        assert len(served.people) == len(local.people)
        assert served.model_versions == {"detector": "1", "ocr": "1", "damage_classifier": "1"}


def test_bad_frames_get_a_clear_error_and_the_server_keeps_serving(triton_pipeline, rendered_frames):
    client = triton_pipeline.client
    with pytest.raises(InferenceError, match="HxWx3"):
        client.predict(np.zeros((8, 8), np.uint8))
    with pytest.raises(InferenceError, match="at least 16x16"):
        client.predict(np.zeros((4, 4, 3), np.uint8))
    blank = client.predict(np.zeros((720, 1280, 3), np.uint8))
    assert blank.pallets == [] and blank.labels == []
    assert len(client.predict(frames_of(rendered_frames)[0]).pallets) >= 1


def test_health_and_nv_metrics_are_exposed(triton_pipeline, rendered_frames):
    triton_pipeline.client.predict(frames_of(rendered_frames)[0])
    health = triton_pipeline.supervisor.health()
    assert health.state is ServerState.READY
    assert {"pallet_pipeline", "detector", "ocr", "damage_classifier"} <= set(health.ready_models)
    assert health.cold_start_seconds and health.cold_start_seconds > 0
    assert triton_pipeline.supervisor.metrics()["nv_inference_count"] > 0


def test_eval_runs_through_the_ensemble(triton_pipeline, rendered_frames, tmp_path):
    out = tmp_path / "eval.json"
    result = subprocess.run([sys.executable, "-m", "edgecv.cli", "eval", "--dataset", str(rendered_frames),
                             "--out", str(out), "--triton", triton_pipeline.url],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["format"] == "edgecv-eval/1" and report["frames"] == 6
    assert report["triton"]["model"] == "pallet_pipeline"
    assert report["detection"]["pallet"]["recall"] > 0.8


def test_supervisor_restarts_a_killed_server_with_its_models(tmp_path, rendered_frames):
    from edgecv.local_triton import local_pipeline

    frame = frames_of(rendered_frames)[0]
    with local_pipeline(workdir=tmp_path, watchdog=True) as pipeline:
        supervisor = pipeline.supervisor
        supervisor.poll_seconds = 0.1
        expected = pipeline.client.predict(frame)
        old_group = supervisor.process.process.pid
        supervisor.process.kill()
        with pytest.raises(InferenceError):
            pipeline.client.predict(frame, timeout_s=5)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (supervisor.restarts < 1 or supervisor.state is not ServerState.READY):
            time.sleep(0.2)
        assert supervisor.restarts == 1 and supervisor.state is ServerState.READY
        assert processes_in_group(old_group) == [], "the dead server's Python stubs must not be left running"
        again = PipelineClient(supervisor.grpc_url)
        try:
            again.refresh_versions()
            assert again.predict(frame).model_dump(exclude={"latency_ms"}) == \
                expected.model_dump(exclude={"latency_ms"})
        finally:
            again.close()
