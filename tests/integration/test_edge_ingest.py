"""The edge end to end on a real Triton: a synthetic camera -> ingest -> ensemble -> tracking -> decision log ->
reconciliation against the truck manifest -> hard negatives in the disk buffer; and Triton killed mid-stream."""

import json
import time

import pytest

from contracts.annotations import load_manifest
from edge_appliance.capture import CaptureConfig, SampleCapture
from edge_appliance.decision_log import DecisionLog
from edge_appliance.hard_negatives import HardNegativeRecorder
from edge_appliance.ingest import CameraConfig, CameraPipeline, CameraState, OverloadPolicy
from edge_appliance.pipeline_client import PipelineClient
from edge_appliance.sample_buffer import DiskSampleStore
from edge_appliance.sampler import HardNegativeSampler, SamplerConfig
from edge_appliance.site_decisions import SiteDecisions
from edge_appliance.sources import SyntheticCamera

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def planted(sequence):
    """The pallets the generator carried past (in order) and the manifest it wrote."""
    manifest = load_manifest(sequence / "manifest.json")
    tracks = json.loads((sequence / "tracks.json").read_text())
    return manifest, tracks["passes"]


def test_a_forklift_sequence_is_counted_logged_and_reconciled(triton_pipeline, forklift_sequence, tmp_path):
    manifest, passes = planted(forklift_sequence)
    log = DecisionLog(tmp_path / "decisions.sqlite")
    store = DiskSampleStore(tmp_path / "buffer")
    store.open()
    capture = SampleCapture(store, CaptureConfig(site_id="site-a"))
    capture.start()
    # every pass sampled (rates opened up) so the buffer path is exercised for real
    sampler = HardNegativeSampler(SamplerConfig(random_rate=0.05))
    sink = SiteDecisions("site-a", decision_log=log, recorder=HardNegativeRecorder(sampler, capture),
                         manifests={"door-7": manifest})
    camera = CameraPipeline(CameraConfig(camera_id="door-7", overload=OverloadPolicy.BLOCK),
                            SyntheticCamera(forklift_sequence, fps=None), PipelineClient(triton_pipeline.url),
                            sink)
    camera.client.refresh_versions()
    camera.start()
    assert camera.join(timeout=300)
    sink.close()  # the sampler's open window admits its best candidates
    capture.stop()
    assert camera.state is CameraState.ENDED and camera.counters.inference_errors == 0
    assert sink.counters.passes == passes
    report = sink.reports["door-7"]
    listed = {p.pro for p in manifest.pallets}
    seen = {d.pro for d in sink.decisions}
    # the planted missing pallet is missing, whatever else the model read
    never_carried = [p.pro for p in manifest.pallets if p.pro not in seen]
    assert [m.pro for m in report.missing] == never_carried and len(never_carried) >= 1
    assert all(u.pro not in listed for u in report.unexpected)
    assert len(report.matched) + len(report.unexpected) + len(report.unread) == passes
    for decision in sink.decisions:
        assert decision.model_versions == {"detector": "1", "ocr": "1", "damage_classifier": "1"}
        assert decision.pro is None or len(decision.pro) == 10
    log.close()
    reopened = DecisionLog(tmp_path / "decisions.sqlite")
    assert reopened.count()["decision"] == passes
    assert reopened.reports_for_truck(manifest.truck_id)[0] == report
    assert len(store.pending()) >= 1


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_triton_killed_mid_stream_costs_only_the_frames_in_the_gap(forklift_sequence, tmp_path):
    from edge_appliance.triton_server import ServerState
    from edgecv.local_triton import local_pipeline

    with local_pipeline(workdir=tmp_path, watchdog=True) as pipeline:
        supervisor = pipeline.supervisor
        supervisor.poll_seconds = 0.1
        log = DecisionLog(tmp_path / "decisions.sqlite")
        sink = SiteDecisions("site-b", decision_log=log)
        camera = CameraPipeline(
            CameraConfig(camera_id="cam1", overload=OverloadPolicy.DROP_OLDEST, inference_timeout_s=5),
            SyntheticCamera(forklift_sequence, fps=15, loops=None), pipeline.client, sink).start()
        assert wait_for(lambda: camera.counters.frames_decided >= 10)
        logged_before = log.count()["decision"]
        supervisor.process.kill()
        assert wait_for(lambda: supervisor.restarts == 1 and supervisor.state is ServerState.READY)
        decided_at_restart = camera.counters.frames_decided
        assert wait_for(lambda: camera.counters.frames_decided >= decided_at_restart + 10), \
            "decisions resume after the restart"
        camera.stop()
        c = camera.counters
        assert c.inference_errors > 0, "frames sent while the server was down must be counted"
        assert c.frames_decided + c.inference_errors + c.dropped_frames == c.frames_in
        assert camera.state is not CameraState.FAILED
        assert log.count()["decision"] >= logged_before  # nothing already decided is lost
        log.close()
