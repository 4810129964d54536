"""`edgecv bench edge`: the real ingest path against in-process ONNX Runtime, measured in the same run.

Pipeline: N synthetic cameras (the generator's forklift sequence, JPEG-decoded per frame) -> bounded queues ->
Triton over loopback gRPC (the pallet_pipeline ensemble) -> in-order decisions (tracking, sampling, capture).
Baseline: the same frames decoded and run through the same three models in-process (no server), one at a time.
Frame-to-decision latency runs from the frame leaving its source to its decision being available.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_appliance.capture import CaptureConfig, SampleCapture
from edge_appliance.hard_negatives import HardNegativeRecorder
from edge_appliance.ingest import CameraConfig, CameraPipeline, OverloadPolicy
from edge_appliance.pipeline_client import PipelineClient
from edge_appliance.sample_buffer import DiskSampleStore
from edge_appliance.sampler import HardNegativeSampler
from edge_appliance.site_decisions import SiteDecisions
from edge_appliance.sources import SyntheticCamera, decode_jpeg

BENCH_FORMAT = "edgecv-bench/1"
BENCH_SEQUENCE_SEED = 31337


def bench_sequence(cache: Path = Path(".edgecv/bench"), passes: int = 4, fps: float = 15.0) -> Path:
    """A forklift sequence rendered once and reused (rendering is not what is measured)."""
    out = cache / f"sequence-{BENCH_SEQUENCE_SEED}-{passes}"
    if not (out / "annotations.json").is_file():
        from training.synth.sequences import write_sequence

        write_sequence(out, seed=BENCH_SEQUENCE_SEED, passes=passes, fps=fps)
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


def run_baseline(sequence: Path, seconds: float, threads: int | None = None) -> dict:
    """Decode + the three models in-process with ONNX Runtime, frame after frame, for `seconds`."""
    from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline

    pipeline = OnnxPalletPipeline(ModelPaths.from_repository(), threads=threads or os.cpu_count() or 1)
    encoded = [p.read_bytes() for p in sorted((sequence / "frames").glob("*.jpg"))]
    pipeline.predict(decode_jpeg(encoded[0]))  # warm-up
    latencies: list[float] = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        pipeline.predict(decode_jpeg(encoded[i % len(encoded)]))
        latencies.append((time.perf_counter() - t0) * 1000)
        i += 1
    elapsed = time.perf_counter() - start
    return {"frames": i, "fps": round(i / elapsed, 3), "latency_ms": _percentiles(latencies)}


def run_pipeline(client: PipelineClient, sequence: Path, streams: int, fps: float | None, seconds: float,
                 workdir: Path, max_in_flight: int = 2, warmup_s: float = 2.0,
                 on_tick: Callable[[float], None] | None = None) -> dict:
    """N cameras through the real ingest path for `seconds` (after a short warm-up that is not counted)."""
    store = DiskSampleStore(workdir / "buffer", cap_bytes=256 * 1024 * 1024)
    store.open()
    capture = SampleCapture(store, CaptureConfig(site_id="bench"))
    capture.start()
    sink = SiteDecisions("bench", recorder=HardNegativeRecorder(HardNegativeSampler(), capture))
    n_files = len(list((sequence / "frames").glob("*.jpg")))
    policy = OverloadPolicy.DROP_OLDEST if fps else OverloadPolicy.BLOCK
    cameras = [
        # unpaced: the source hands over a frame only when the pipeline has room (queue of 1), so latency is the
        # pipeline's own, not time spent waiting in a queue the benchmark itself keeps full
        CameraPipeline(CameraConfig(camera_id=f"cam{k + 1}", overload=policy, max_in_flight=max_in_flight,
                                    queue_size=4 if fps else 1),
                       SyntheticCamera(sequence, fps=fps, loops=None, start_index=k * n_files // max(streams, 1)),
                       client, sink)
        for k in range(streams)
    ]
    for camera in cameras:
        camera.start()
    time.sleep(warmup_s)
    base = [(c.counters.frames_decided, c.counters.dropped_frames, len(c.latency.values())) for c in cameras]
    start = time.perf_counter()
    stop_at = start + seconds
    while (now := time.perf_counter()) < stop_at:
        time.sleep(min(0.5, stop_at - now))
        if on_tick:
            on_tick(now - start)
    elapsed = time.perf_counter() - start
    decided = sum(c.counters.frames_decided - b[0] for c, b in zip(cameras, base, strict=True))
    dropped = sum(c.counters.dropped_frames - b[1] for c, b in zip(cameras, base, strict=True))
    latencies = [v for c, b in zip(cameras, base, strict=True) for v in c.latency.values()[b[2]:]]
    stop_threads = [threading.Thread(target=c.stop) for c in cameras]
    for t in stop_threads:
        t.start()
    for t in stop_threads:
        t.join()
    capture.stop()
    errors = sum(c.counters.inference_errors for c in cameras)
    return {
        "frames": decided, "fps": round(decided / elapsed, 3), "latency_ms": _percentiles(latencies),
        "dropped_frames": dropped, "inference_errors": errors, "passes": sink.counters.passes,
        "frames_sampled": sink.counters.frames_offered,
    }


def bench_edge(streams: int = 1, fps: float | None = None, seconds: float = 20.0, triton_url: str | None = None,
               dynamic_batching: bool = True, baseline_seconds: float | None = None,
               on_tick: Callable[[str, float], None] | None = None) -> dict:
    from edgecv.local_triton import local_pipeline

    sequence = bench_sequence()
    baseline = run_baseline(sequence, baseline_seconds or min(seconds, 20.0))
    with tempfile.TemporaryDirectory(prefix="edgecv-bench-") as tmp, \
            local_pipeline(triton_url, dynamic_batching=dynamic_batching, workdir=Path(tmp)) as pipeline:
        cold = pipeline.supervisor.cold_start_seconds if pipeline.supervisor is not None else None
        t0 = time.perf_counter()
        pipeline.client.predict(decode_jpeg(sorted((sequence / "frames").glob("*.jpg"))[0].read_bytes()))
        first_decision_s = (cold or 0.0) + (time.perf_counter() - t0)
        result = run_pipeline(pipeline.client, sequence, streams, fps, seconds, Path(tmp),
                              on_tick=(lambda s: on_tick("pipeline", s)) if on_tick else None)
        metrics = pipeline.supervisor.metrics() if pipeline.supervisor else {}
    return {
        "format": BENCH_FORMAT, "streams": streams, "fps_target": fps, "seconds": seconds, "cpus": os.cpu_count(),
        "pipeline": result,
        "baseline_ort": baseline,
        "ratio_fps_pipeline_to_baseline": round(result["fps"] / baseline["fps"], 3) if baseline["fps"] else 0.0,
        "dynamic_batching": dynamic_batching,
        "cold_start_to_first_decision_s": round(first_decision_s, 3) if cold is not None else None,
        "triton": {"batches": metrics.get("nv_inference_exec_count"), "requests": metrics.get("nv_inference_count")},
    }
