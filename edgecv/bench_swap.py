"""`edgecv bench swap`: hot-swap the served detector through the OTA agent's real path under a steady stream.

Each swap is a real job: a signed bundle served over loopback HTTP -> download -> verify -> stage -> load beside
(version policy through a config override) -> smoke test through `pallet_pipeline_candidate` on held-out frames ->
switch the ensemble -> retire the old version. A client thread keeps sending frames to `pallet_pipeline` the whole
time; every failed request is counted. Triton's resident memory (server + Python-backend stubs) is read before and
after, since repeated loads and unloads are a known upstream leak area.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from contracts.bundles import LocalSigner, ModelSource, TrustedKey, build_bundle, lineage_from_training, public_key_pem
from contracts.jobs import JobDocument, JobOutcome, SmokeExpectations
from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.held_out import HeldOutFrames
from edge_appliance.ota.triton_model_server import TritonModelServer
from edge_appliance.pipeline_client import InferenceError, PipelineClient
from model_repository.configs import REPOSITORY

SWAP_FORMAT = "edgecv-swap-bench/1"
HELD_OUT_SEED = 8181
SWAPPED_MODEL = "detector"


def held_out_set(cache: Path = Path(".edgecv/bench"), frames: int = 8) -> Path:
    out = cache / f"held-out-{HELD_OUT_SEED}-{frames}"
    if not (out / "annotations.json").is_file():
        from training.synth.dataset import write_dataset

        write_dataset(out, seed=HELD_OUT_SEED, frames=frames, workers=1)
    return out


def process_tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (tritonserver + its Python-backend stubs)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
        todo.extend(children.get(current, []))
    return total


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class BundleServer:
    """Serves a folder over HTTP on 127.0.0.1 (stand-in for presigned S3 URLs; Range requests included)."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self) -> BundleServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SteadyLoad:
    """One client sending frames back to back; each answer's (start, end, ok)."""

    def __init__(self, url: str, frame: np.ndarray) -> None:
        self.client = PipelineClient(url)
        self.frame = frame
        self.samples: list[tuple[float, float, bool]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                self.client.predict(self.frame)
                ok = True
            except InferenceError as exc:
                ok = False
                self.errors.append(str(exc))
            self.samples.append((start, time.perf_counter(), ok))

    def start(self) -> SteadyLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        self.client.close()


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else 0.0


def detector_bundle(folder: Path, signer: LocalSigner, version: int) -> Path:
    """The shipped detector weights as version `version`, in a signed bundle (what the cloud would publish)."""
    source = folder / f"src-{version}" / SWAPPED_MODEL
    (source / str(version)).mkdir(parents=True)
    for name in ("model.py", "model.onnx", "lineage.json"):
        shutil.copy2(REPOSITORY / SWAPPED_MODEL / "1" / name, source / str(version) / name)
    shutil.copy2(REPOSITORY / SWAPPED_MODEL / "config.pbtxt", source / "config.pbtxt")
    lineage = lineage_from_training(json.loads((REPOSITORY / SWAPPED_MODEL / "1" / "lineage.json").read_text()))
    out = folder / f"{SWAPPED_MODEL}-{version}.tar.gz"
    build_bundle([ModelSource(source, version)], "cpu", signer, out, lineage=lineage,
                 created_at=datetime.now(UTC))
    return out


def bench_swap(seconds: float = 60.0, max_swaps: int = 20, steady_seconds: float = 5.0,
               on_swap: Callable[[int, float], None] | None = None) -> dict:
    from edgecv.local_triton import local_pipeline

    held_out = held_out_set()
    frames = HeldOutFrames(held_out)
    smoke = SmokeExpectations(frames=len(frames.annotations), metric="detection.pallet.f1",
                              max_drop=0.2, max_latency_ms_p99=10_000)
    signer = LocalSigner.generate()
    with tempfile.TemporaryDirectory(prefix="edgecv-swap-") as tmp_name:
        tmp = Path(tmp_name)
        key = tmp / "signing-key.pub.pem"
        key.write_bytes(public_key_pem(signer.public_key()))
        config = AgentConfig(root=tmp / "agent", thing_name="bench-box", trusted_keys=[key], held_out_dir=held_out,
                             min_free_bytes=0)
        bundles = tmp / "bundles"
        bundles.mkdir()
        with local_pipeline(workdir=tmp, watchdog=False) as pipeline, BundleServer(bundles) as web:
            server = TritonModelServer(pipeline.supervisor, held_out=frames)
            reports = []
            agent = OtaAgent(config, [TrustedKey(signer.public_key(), "bench")], server,
                             Downloader(max_bytes=1 << 30), reports.append)
            triton_pid = pipeline.supervisor.process.process.pid
            rss_before = process_tree_rss_bytes(triton_pid)
            load = SteadyLoad(pipeline.url, frames(1)[0][1]).start()
            time.sleep(steady_seconds)
            steady_end = time.perf_counter()
            windows: list[tuple[float, float]] = []
            swap_seconds: list[float] = []
            failures: list[str] = []
            deadline = time.perf_counter() + seconds
            version = 1
            while len(windows) < max_swaps and time.perf_counter() < deadline:
                version += 1
                bundle = detector_bundle(bundles, signer, version)
                document = JobDocument(rollout_id="bench-swap", ring=0, device_class="cpu",
                                       bundle_url=web.url(bundle.name), bundle_sha256=_sha256(bundle),
                                       bundle_size=bundle.stat().st_size, targets={SWAPPED_MODEL: version},
                                       rollback=False, smoke=smoke)
                start = time.perf_counter()
                report = agent.handle(f"swap-{version}", document.model_dump(mode="json"))
                end = time.perf_counter()
                windows.append((start, end))
                swap_seconds.append(end - start)
                if report is None or report.outcome is not JobOutcome.SUCCEEDED:
                    failures.append(f"v{version}: {report.reason if report else 'no report'} "
                                    f"{report.message if report else ''}")
                    break
                if on_swap:
                    on_swap(len(windows), end - start)
            load.stop()
            rss_after = process_tree_rss_bytes(triton_pid)
            serving = server.serving_versions()
    steady = [(e - s) * 1000 for s, e, ok in load.samples if ok and e <= steady_end]
    during = [(e - s) * 1000 for s, e, ok in load.samples
              if ok and any(s < w_end and e > w_start for w_start, w_end in windows)]
    failed = sum(1 for *_, ok in load.samples if not ok)
    return {
        "format": SWAP_FORMAT, "requests": len(load.samples), "failed_requests": failed, "swaps": len(windows),
        "swap_seconds": {"p50": _p(swap_seconds, 50), "max": round(max(swap_seconds), 2) if swap_seconds else 0.0},
        "latency_ms_steady": {"p50": _p(steady, 50), "p99": _p(steady, 99)},
        "latency_ms_during_swap": {"p50": _p(during, 50), "p99": _p(during, 99)},
        "ratio_p99_during_swap_to_steady": round(_p(during, 99) / _p(steady, 99), 3) if steady and during else None,
        "triton_rss_mb": {"before": round(rss_before / 2**20, 1), "after": round(rss_after / 2**20, 1),
                          "growth_per_swap": round((rss_after - rss_before) / 2**20 / max(1, len(windows)), 2)},
        "phases_seconds_p50": {
            phase: _p([getattr(r.figures, f"{phase}_seconds") for r in reports if r is not None], 50)
            for phase in ("download", "verify", "load", "switch", "total")},
        "serving": serving, "swap_failures": failures, "request_errors": sorted(set(load.errors))[:5],
        "cpus": os.cpu_count(),
    }


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
