"""The OTA agent on a real Triton: detector v1 -> v2 from a signed bundle while requests keep flowing
(load beside, smoke test through `pallet_pipeline_candidate` on held-out annotated frames, switch the
ensemble, retire v1); then a candidate that fails its smoke test leaves v2 serving."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from contracts.annotations import load_annotation_set
from contracts.bundles import LocalSigner, ModelSource, build_bundle, lineage_from_training
from contracts.jobs import JobOutcome, SmokeExpectations
from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.triton_model_server import GrpcTritonControl, TritonModelServer
from edge_appliance.pipeline_client import InferenceError, PipelineClient
from model_repository.configs import REPOSITORY
from tests.integration.ota.conftest import FlakyFileServer
from tests.ota_support import job_for, trusted, write_key
from training.evaluation import load_frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def detector_bundle(root: Path, signer: LocalSigner, version: int) -> Path:
    folder = root / f"src-{version}" / "detector"
    (folder / str(version)).mkdir(parents=True)
    for name in ("model.py", "model.onnx"):
        shutil.copy2(REPOSITORY / "detector" / "1" / name, folder / str(version) / name)
    shutil.copy2(REPOSITORY / "detector" / "config.pbtxt", folder / "config.pbtxt")
    lineage = lineage_from_training(json.loads((REPOSITORY / "detector" / "1" / "lineage.json").read_text()))
    out = root / f"detector-{version}.tar.gz"
    build_bundle([ModelSource(folder, version)], "cpu", signer, out, lineage=lineage)
    return out


class Load:
    """Requests to pallet_pipeline on a thread; counts answers and failures."""

    def __init__(self, url: str, frame) -> None:  # type: ignore[no-untyped-def]
        self.client = PipelineClient(url)
        self.frame, self.ok, self.failed = frame, 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.client.predict(self.frame)
                self.ok += 1
            except InferenceError as exc:
                self.failed.append(str(exc))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        self.client.close()


def test_hot_swap_on_real_triton(tmp_path: Path, rendered_frames: Path, file_server: FlakyFileServer) -> None:
    from edgecv.local_triton import local_pipeline

    annotations = load_annotation_set(rendered_frames)
    frames = [(f, load_frame(rendered_frames, f.image, f.width, f.height)) for f in annotations.frames]
    signer = LocalSigner.generate()
    config = AgentConfig(root=tmp_path / "agent", thing_name="box-1",
                         trusted_keys=[write_key(tmp_path / "k.pem", signer)])
    reports = []
    smoke = SmokeExpectations(frames=len(frames), metric="detection.pallet.f1", max_drop=0.3,
                              max_latency_ms_p99=30_000)
    with local_pipeline(workdir=tmp_path, watchdog=False) as pipeline:
        server = TritonModelServer(pipeline.supervisor, held_out=lambda n: frames[:n])
        agent = OtaAgent(config, trusted(signer), server, Downloader(max_bytes=1 << 30), reports.append)
        assert server.serving_versions() == {"detector": 1, "ocr": 1, "damage_classifier": 1}

        v2 = detector_bundle(file_server.folder, signer, 2)
        with Load(pipeline.url, frames[0][1]) as load:
            report = agent.handle("ota-v2", job_for(v2, file_server.url(v2.name), {"detector": 2},
                                                    smoke=smoke).model_dump(mode="json"))
        assert report is not None and report.outcome is JobOutcome.SUCCEEDED, (report.reason, report.message)
        assert load.failed == [] and load.ok > 0
        assert server.serving_versions()["detector"] == 2
        assert server.loaded_versions()["detector"] == [2]
        assert report.figures.smoke is not None and report.figures.smoke.frames == len(frames)
        assert PipelineClient(pipeline.url).refresh_versions()["detector"] == "2"

        v3 = detector_bundle(file_server.folder, signer, 3)
        too_fast = smoke.model_copy(update={"max_latency_ms_p99": 0.001})
        report = agent.handle("ota-v3", job_for(v3, file_server.url(v3.name), {"detector": 3},
                                                smoke=too_fast).model_dump(mode="json"))
        assert report is not None and (report.outcome, report.reason) == (JobOutcome.FAILED, "smoke_failed")
        assert server.serving_versions()["detector"] == 2 and server.loaded_versions()["detector"] == [2]
        assert agent.status().installed["detector"].version == 2

        # the agent as its own process beside a Triton it does not supervise: gRPC control only
        remote = TritonModelServer(GrpcTritonControl(pipeline.url), held_out=lambda n: frames[:n],
                                   repository=pipeline.supervisor.process.repository)
        agent = OtaAgent(config, trusted(signer), remote, Downloader(max_bytes=1 << 30), reports.append)
        v4 = detector_bundle(file_server.folder, signer, 4)
        with Load(pipeline.url, frames[0][1]) as load:
            report = agent.handle("ota-v4", job_for(v4, file_server.url(v4.name), {"detector": 4},
                                                    smoke=smoke).model_dump(mode="json"))
        assert report is not None and report.outcome is JobOutcome.SUCCEEDED, (report.reason, report.message)
        assert load.failed == [] and remote.loaded_versions()["detector"] == [4]
        assert 'versions: [ 4 ]' in (pipeline.supervisor.process.repository / "detector" / "config.pbtxt").read_text()
