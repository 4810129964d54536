"""`edgecv demo`: the loop on one machine, stage by stage, with an `edgecv-demo/1` report.

Built so far: the edge half. Sites run v1 on a shared local Triton and reconcile forklift passes against their
trucks' manifests; one site is drifted (dark loads, low light) and captures more hard negatives; one site loses its
WAN link, keeps deciding, buffers within its byte cap and drains to the landing bucket (a moto server) when the
link returns; the golden set is scored through the same ensemble. The cloud training pipeline, the ringed rollout
and the OTA hot-load are listed in the report as not yet part of the demo (see the issues).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from edgecv.local_triton import LocalPipeline

DEMO_FORMAT = "edgecv-demo/1"
NOT_YET_IN_DEMO = ["auto_label", "train", "eval_gate", "sign", "register", "rollout_ring_0", "rollout_ring_1",
                   "rollout_ring_2", "rollout_ring_3", "ota_hot_load", "canary_rollback"]


class StageResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    ok: bool
    seconds: float
    details: dict[str, Any] = Field(default_factory=dict)


class DemoReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = DEMO_FORMAT
    stages: list[StageResult] = Field(default_factory=list)
    not_yet_in_demo: list[str] = Field(default_factory=lambda: list(NOT_YET_IN_DEMO))

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages)


class StageFailedError(Exception):
    """A stage ran but its outcome is not what the demo exists to show."""


class Stages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.report = DemoReport()

    def run(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        self.console.print(f"[bold]▶ {name}[/bold]")
        start = time.perf_counter()
        try:
            details, ok = fn(), True
        except StageFailedError as exc:
            details, ok = {"error": str(exc)}, False
        except Exception as exc:  # the report must say which stage broke and why, then the demo goes on
            details, ok = {"error": f"{type(exc).__name__}: {exc}"}, False
        seconds = round(time.perf_counter() - start, 2)
        self.report.stages.append(StageResult(stage=name, ok=ok, seconds=seconds, details=details))
        mark = "[green]ok[/green]" if ok else "[red]FAILED[/red]"
        summary = details.get("summary") or details.get("error") or ""
        self.console.print(f"  {mark} {seconds:.1f} s  {summary}")
        return details if ok else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sequence(cache: Path, site: str, seed: int, preset: str, passes: int) -> Path:
    from training.synth.scene import DomainKnobs
    from training.synth.sequences import write_sequence

    out = cache / f"{site}-{preset}-{seed}-{passes}"
    if not (out / "manifest.json").is_file():
        knobs = DomainKnobs.drift_preset() if preset == "drift" else DomainKnobs()
        write_sequence(out, seed=seed, passes=passes, fps=15, knobs=knobs, truck_id=f"TRK-{seed}", door="D01")
    return out


SITES = (("site-1", "default", 101), ("site-2", "drift", 202), ("site-3", "default", 303))
WAN_DOWN_SITE = "site-3"
DRIFT_SITE = "site-2"


def run_demo(sites: int = 3, report_path: Path = Path(".edgecv/demo-report.json"), passes: int = 4,
             fps: float = 5.0, console: Console | None = None) -> DemoReport:
    import boto3
    from moto.server import ThreadedMotoServer

    from edge_appliance.sample_buffer import DiskSampleStore
    from edge_appliance.site import CameraSpec, SiteConfig, SiteRuntime, UploadSpec
    from edge_appliance.uploader import Uploader, UploaderConfig, make_s3_client
    from edgecv.local_triton import local_pipeline
    from training.evaluation import evaluate, write_json_atomic
    from training.synth.dataset import write_dataset

    console = console or Console(stderr=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    stages = Stages(console)
    cache = Path(".edgecv/demo")
    chosen = [(f"site-{i + 1}", SITES[i % len(SITES)][1], SITES[i % len(SITES)][2] + 1000 * (i // len(SITES)))
              for i in range(sites)]
    state: dict[str, Any] = {}
    for key, value in {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)

    def prepare_data() -> dict[str, Any]:
        seqs = {site: _sequence(cache / "sequences", site, seed, preset, passes) for site, preset, seed in chosen}
        golden = cache / "golden-9001-60"
        if not (golden / "annotations.json").is_file():
            write_dataset(golden, seed=9001, frames=60, workers=1)
        state.update(sequences=seqs, golden=golden)
        return {"summary": f"{len(seqs)} forklift sequences ({passes} passes each), golden set of 60 frames",
                "sequences": {k: str(v) for k, v in seqs.items()}}

    def start_local_cloud() -> dict[str, Any]:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        server.start()
        url = f"http://127.0.0.1:{server._port}"
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="edgecv-landing")
        state.update(moto=server, moto_url=url)
        return {"summary": f"moto server on {url}, landing bucket edgecv-landing", "endpoint": url}

    def start_triton(pipeline: LocalPipeline) -> dict[str, Any]:
        health = pipeline.supervisor.health()
        return {"summary": f"tritonserver on {pipeline.url}, cold start {health.cold_start_seconds:.1f} s",
                "grpc": pipeline.url, "cold_start_seconds": round(health.cold_start_seconds or 0, 2),
                "models": health.ready_models}

    def edge_v1(pipeline: LocalPipeline, workdir: Path) -> dict[str, Any]:
        runtimes = {}
        for site, _preset, _seed in chosen:
            sequence = state["sequences"][site]
            down = site == WAN_DOWN_SITE
            endpoint = f"http://127.0.0.1:{_free_port()}" if down else state["moto_url"]  # a closed port: WAN down
            config = SiteConfig(
                site_id=site, triton_url=pipeline.url, data_dir=workdir / site,
                triton_metrics_url=pipeline.supervisor.process.metrics_url,
                cameras=[CameraSpec(camera_id="door-1", source=f"synthetic:{sequence}", fps=fps,
                                    manifest=sequence / "manifest.json")],
                buffer_cap_bytes=(256 if down else 64 * 1024) * 1024,  # a small cap: evictions show
                upload=UploadSpec(bucket="edgecv-landing", endpoint_url=endpoint), telemetry_interval_s=2.0)
            runtimes[site] = SiteRuntime(config)
        for runtime in runtimes.values():
            runtime.start()
        for runtime in runtimes.values():
            runtime.wait(timeout=600)
        details: dict[str, Any] = {"sites": {}}
        for site, runtime in runtimes.items():
            runtime.stop()
            t = runtime.telemetry()
            report = runtime.decisions.reports.get("door-1")
            details["sites"][site] = {
                "frames": t.cameras["door-1"].frames_decided, "passes": t.passes,
                "latency_ms": t.cameras["door-1"].latency_ms.model_dump(),
                "mean_read_confidence": t.mean_read_confidence, "valid_read_share": t.valid_read_share,
                "hard_negative_rate": t.hard_negative_rate,
                "reconciliation": None if report is None else {
                    k: len(getattr(report, k)) for k in ("matched", "missing", "unexpected", "unread", "damaged")},
                "buffer": t.buffer.model_dump() if t.buffer else None,
                "upload": t.upload.model_dump() if t.upload else None,
            }
        state["runtimes"] = runtimes
        state["edge"] = details
        total_passes = sum(s["passes"] for s in details["sites"].values())
        if total_passes == 0:
            raise StageFailedError("no pallet pass was decided at any site")
        details["summary"] = f"{len(runtimes)} sites decided {total_passes} pallet passes at {fps:g} fps each"
        return details

    def drift_detected() -> dict[str, Any]:
        sites_ = state["edge"]["sites"]
        if DRIFT_SITE not in sites_:
            return {"summary": "no drifted site in this run"}
        normal = [s for name, s in sites_.items() if name != DRIFT_SITE]
        drifted = sites_[DRIFT_SITE]
        base_conf = sum(s["valid_read_share"] for s in normal) / len(normal)
        base_rate = sum(s["hard_negative_rate"] for s in normal) / len(normal)
        details = {"drifted_valid_read_share": drifted["valid_read_share"], "others_valid_read_share": base_conf,
                   "drifted_hard_negative_rate": drifted["hard_negative_rate"], "others_hard_negative_rate": base_rate}
        if not drifted["valid_read_share"] < base_conf:
            raise StageFailedError(f"the drifted site read as well as the others ({details})")
        details["summary"] = (f"{DRIFT_SITE}: valid reads {drifted['valid_read_share']:.0%} vs "
                              f"{base_conf:.0%} elsewhere; hard-negative rate {drifted['hard_negative_rate']:.2%} "
                              f"vs {base_rate:.2%}")
        return details

    def wan_outage() -> dict[str, Any]:
        if WAN_DOWN_SITE not in state["runtimes"]:
            return {"summary": "no WAN outage staged in this run"}
        s = state["edge"]["sites"][WAN_DOWN_SITE]
        runtime = state["runtimes"][WAN_DOWN_SITE]
        camera = runtime.cameras[0].counters
        buffer, upload = s["buffer"], s["upload"]
        if camera.frames_decided + camera.dropped_frames != camera.frames_in or camera.inference_errors:
            raise StageFailedError(f"inference did not continue through the outage: {camera}")
        if upload["uploaded"] != 0 or upload["link"] not in ("down", "unknown"):
            raise StageFailedError(f"the link was meant to be down: {upload}")
        if buffer["samples"] == 0 or buffer["bytes"] > buffer["cap_bytes"]:
            raise StageFailedError(f"the buffer should hold samples within its cap: {buffer}")
        return {"summary": f"{WAN_DOWN_SITE} kept deciding ({camera.frames_decided} frames) with the link down; "
                           f"buffer {buffer['samples']} samples, {buffer['bytes']} / {buffer['cap_bytes']} bytes, "
                           f"{buffer['evictions']} evictions counted", "buffer": buffer, "upload": upload}

    def drain_samples() -> dict[str, Any]:
        if WAN_DOWN_SITE not in state["runtimes"]:
            return {"summary": "no WAN outage staged in this run"}
        runtime = state["runtimes"][WAN_DOWN_SITE]
        store = DiskSampleStore(runtime.config.data_dir / "buffer", cap_bytes=runtime.config.buffer_cap_bytes)
        store.open()
        waiting = len(store.pending())
        uploader = Uploader(store, make_s3_client(state["moto_url"]), UploaderConfig(bucket="edgecv-landing"))
        for _ in range(20):
            if not store.pending():
                break
            uploader.drain_once()
        s3 = boto3.client("s3", endpoint_url=state["moto_url"], region_name="us-east-1")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="edgecv-landing",
                                                     Prefix=f"samples/{WAN_DOWN_SITE}/").get("Contents", [])]
        landed = sum(k.endswith("sample.json") for k in keys)
        if store.pending() or landed != waiting:
            raise StageFailedError(f"{len(store.pending())} samples still waiting, {landed} of {waiting} landed")
        evicted = sum(store.counters().evicted_samples.values())
        return {"summary": f"link back: {landed} buffered samples landed once each; {evicted} evictions counted",
                "landed": landed, "evicted": evicted, "counters": uploader.counters().model_dump()}

    def eval_v1(pipeline: LocalPipeline) -> dict[str, Any]:
        report = evaluate(state["golden"], pipeline.client)
        write_json_atomic(cache / "eval-v1.json", report)
        return {"summary": f"golden (60 frames) through the ensemble: pallet F1 "
                           f"{report['detection']['pallet']['f1']:.3f}, label exact "
                           f"{report['ocr']['exact_match']:.3f}, damage F1 {report['damage']['f1']:.3f}",
                "eval": {k: report[k] for k in ("detection", "ocr", "damage", "pallet_count_accuracy")}}

    started = time.perf_counter()
    if stages.run("prepare_data", prepare_data) is not None and stages.run("start_local_cloud", start_local_cloud):
        with tempfile.TemporaryDirectory(prefix="edgecv-demo-") as tmp:
            try:
                with local_pipeline(workdir=Path(tmp), watchdog=True) as pipeline:
                    stages.run("start_triton", lambda: start_triton(pipeline))
                    if stages.run("edge_v1", lambda: edge_v1(pipeline, Path(tmp) / "sites")) is not None:
                        stages.run("drift_detected", drift_detected)
                        stages.run("wan_outage", wan_outage)
                        stages.run("drain_samples", drain_samples)
                    stages.run("eval_v1", lambda: eval_v1(pipeline))
            finally:
                if "moto" in state:
                    state["moto"].stop()
    console.print(f"demo: {sum(s.ok for s in stages.report.stages)}/{len(stages.report.stages)} stages ok in "
                  f"{time.perf_counter() - started:.0f} s; not yet part of the demo: {', '.join(NOT_YET_IN_DEMO)}")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = report_path.with_suffix(".tmp")
    tmp_path.write_text(json.dumps(stages.report.model_dump(), indent=2))
    tmp_path.replace(report_path)
    console.print(f"wrote {report_path}")
    return stages.report

