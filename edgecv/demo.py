"""`edgecv demo`: the whole loop on one machine, stage by stage, with an `edgecv-demo/1` report and an HTML one.

1. Edge: every site is deployed by the local Greengrass deployer from the shipped recipes (edgecv.demo_sites): its
   own Triton (CPU, Python backend) serving v1, an ingest process that reconciles forklift passes against its
   truck's manifest, and an OTA agent process that hears its jobs over MQTT (IoT Jobs device-side emulator).
   site-2 is drifted (a new carrier prints its labels in a typeface no model was trained on): it reads far fewer
   labels and captures more hard negatives; site-3 loses its WAN link, keeps
   deciding, buffers within its byte cap and drains to the landing bucket when the link returns.
2. Cloud (moto, the CDK app's state machines, the real handlers in process): the training pipeline ingests and
   de-identifies the samples, auto-labels them with the teacher (its label reads resolved against each site's
   truck manifests), fine-tunes the label reader from v1's checkpoint (the SageMaker training job emulated as a
   local process), gates it on the golden set through the same Triton ensemble (no regression vs v1, which the
   demo registers as production first), signs it with the KMS key and registers v2.
3. The rollout state machine moves v2 ring by ring (canary = site-1, then ring50, ring100): each site's real OTA
   agent downloads the presigned bundle, verifies the KMS signature, loads v2 beside v1 in its Triton,
   smoke-tests it on held-out frames and switches. Each site's held-out frames are scored before and after.
4. A deliberately regressed v3 (signed correctly, bad weights) fails its smoke test at the canary; the rollout
   halts, rolls the canary back to v2 and raises an incident; no other ring ever receives it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from edgecv.demo_timeline import DemoTimeline, RolloutEvent, SiteSample

DEMO_FORMAT = "edgecv-demo/1"
MODEL = "ocr"  # the network the demo's flywheel retrains: the label reader
TRAINING_ENTRY_POINT = "train_ocr"
METRIC = "ocr.exact_match"  # what the gate, the smoke test and the drifted site's recovery are judged on
# The staged drift: site-2's carrier prints its labels in a typeface no model was trained on (DomainKnobs.printer).
DRIFT_PRESET = "printer"
RINGS = ("canary", "ring50", "ring100")
# Fine-tuning budget of the demo's training job (~3 min on 2 cores): from v1's checkpoint; half of each batch from
# the sites' auto-labeled label crops, the rest from the replay set's and freshly rendered patches (v1's look), so
# that learning the new typeface does not unlearn the others. Chosen on one run's channels (docs/demo.md).
# Each site label is cropped 8 times with its own box jitter: ~25 labels of the drifted site seen ~100 times each
# were otherwise learnt pixel for pixel (docs/demo.md, session 11). The job keeps 70% of the fine-tune's weight
# change (WiSE-FT, `fine_tune_share`): the whole change cost the normal sites' read confidence 9-13%, enough for
# the canary's health gate to halt v2; 70% keeps most of the new typeface's gain (docs/demo.md, session 13).
TRAIN_HYPERPARAMETERS = {"steps": "500", "batch_size": "32", "lr": "0.0005", "seed": "11", "train_share": "0.5",
                         "synthetic_labels": "2000", "max_dest_letters": "8", "site_crop_variants": "8",
                         "fine_tune_share": "0.7"}
# The production OCR gate (contracts.evaluation.GATES: exact match >= 0.95) is not met by v1 either (see the models
# issue); the demo's gate is "no worse than v1 on the golden set" (max_regression) above this floor.
DEMO_GATES = {METRIC: 0.4}
MAX_REGRESSION = 0.03
# The drifted site's held-out exact match must rise at least this much under v2; a smaller rise is noise.
MIN_RECOVERY = 0.03


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
    timeline: DemoTimeline = Field(default_factory=DemoTimeline)

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
        self.add(name, ok, time.perf_counter() - start, details)
        return details if ok else None

    def add(self, name: str, ok: bool, seconds: float, details: dict[str, Any], indent: str = "") -> None:
        """Record a stage (also one measured inside another, e.g. a step of a state machine's execution)."""
        seconds = round(seconds, 2)
        self.report.stages.append(StageResult(stage=name, ok=ok, seconds=seconds, details=details))
        mark = "[green]ok[/green]" if ok else "[red]FAILED[/red]"
        summary = details.get("summary") or details.get("error") or ""
        label = f"{indent}{name}: " if indent else ""
        self.console.print(f"  {label}{mark} {seconds:.1f} s  {summary}", highlight=False)


def _sequence(cache: Path, site: str, seed: int, preset: str, passes: int) -> Path:
    from training.synth.scene import DomainKnobs
    from training.synth.sequences import write_sequence

    out = cache / f"{site}-{preset}-{seed}-{passes}"
    if not (out / "manifest.json").is_file():
        knobs = DomainKnobs.named(preset)
        write_sequence(out, seed=seed, passes=passes, fps=15, knobs=knobs, truck_id=f"TRK-{seed}", door="D01")
    return out


def _dataset(path: Path, seed: int, frames: int, preset: str = "default") -> Path:
    from training.synth.dataset import write_dataset
    from training.synth.scene import DomainKnobs

    if not (path / "annotations.json").is_file():
        write_dataset(path, seed=seed, frames=frames, knobs=DomainKnobs.named(preset), workers=1)
    return path


def _code_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parents[1], check=False)
    except OSError:
        return None
    return out.stdout.strip()[:40] or None


SITES = (("site-1", "default", 101), ("site-2", DRIFT_PRESET, 202), ("site-3", "default", 303))
# The drifted site's truck is longer: the flywheel learns the new look from the distinct labels it samples there, and
# one 10-pass truck's ~10 labels moved the site's held-out exact match by 0.00 to +0.07 from run to run.
DRIFT_PASS_FACTOR = 3
WAN_DOWN_SITE = "site-3"
DRIFT_SITE = "site-2"
HELD_OUT_FRAMES = 24
# The drifted site's before/after is judged on more frames: on 24, one or two labels move the figure a lot.
DRIFT_HELD_OUT_FRAMES = 120
GOLDEN_FRAMES = 150  # the gate compares v2 with v1 here: 60 frames made a 0.03 move one or two pallets
# Labeled frames of the drifted look join the golden set (seed 9103, never trained on, not the held-out seed): a
# golden set must represent what the fleet now sees; the gate still refuses anything that regresses on the mix.
GOLDEN_DRIFT_FRAMES = 60
# Stands in for v1's curated training data (same generator, normal look, a seed of its own): the training job's
# `replay` channel, so that learning the drifted site does not unlearn the others.
REPLAY_FRAMES = 300
SMOKE_FRAMES = 16


def demo_sampler() -> Any:
    """The demo's sampler: the default rules with a bigger budget, so a few minutes of frames yield a training set
    (the default keeps < 0.5% of frames: hours of a real site's traffic)."""
    from edge_appliance.sampler import SamplerConfig

    return SamplerConfig(budget_share=0.1, budget_start=4, budget_burst=64, window_frames=30, frames_per_pass=3,
                         random_rate=0.05, random_burst=16, admit_per_minute=600, admit_burst=64,
                         frame_cooldown_s=0.0)


def ring_of(index: int) -> str:
    """site-1 is the canary; the others alternate between the later rings."""
    return RINGS[0] if index == 0 else RINGS[1 + (index - 1) % (len(RINGS) - 1)]


def run_demo(sites: int = 3, report_path: Path = Path(".edgecv/demo-report.json"), passes: int = 10,
             fps: float = 5.0, console: Console | None = None,
             train_hyperparameters: dict[str, str] | None = None) -> DemoReport:
    from contracts.bundles import public_key_pem
    from contracts.jobs import JobOutcome, SmokeExpectations
    from edge_appliance.ota.held_out import no_held_out
    from edge_appliance.ota.jobs_emulator import JobsEmulatorCore, MemoryJobStore, MqttJobsEmulator
    from edge_appliance.ota.mosquitto import Mosquitto, mosquitto_binary
    from edge_appliance.ota.triton_model_server import GrpcTritonControl, TritonModelServer
    from edge_appliance.pipeline_client import PipelineClient
    from edge_appliance.ports import free_ports
    from edge_appliance.sample_buffer import DiskSampleStore
    from edge_appliance.uploader import Uploader, UploaderConfig, make_s3_client
    from edgecv import demo_cloud
    from edgecv.demo_fleet import DemoSite, SiteFleet
    from edgecv.demo_html import render_html
    from edgecv.demo_sites import OTA_AGENT, DeployedSite, ProcessAgent, SiteSettings, site_group
    from edgecv.jobs.teacher import TeacherPipelineLabeler
    from edgecv.kms_signer import KmsSigner
    from edgecv.local_greengrass import LocalDeployment, load_group_recipes, plan_group
    from edgecv.local_triton import LocalPipeline
    from lambdas.common.events import Release
    from lambdas.localcloud.cloud import LocalCloud, ring_group
    from training.evaluation import evaluate, write_json_atomic
    from training.synth.dataset import merge_datasets

    console = console or Console(stderr=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    stages = Stages(console)
    timeline = stages.report.timeline
    cache = Path(".edgecv/demo")
    chosen = [(f"site-{i + 1}", SITES[i % len(SITES)][1], SITES[i % len(SITES)][2] + 1000 * (i // len(SITES)))
              for i in range(sites)]
    site_passes = {site: passes * (DRIFT_PASS_FACTOR if preset == DRIFT_PRESET else 1) for site, preset, _ in chosen}
    state: dict[str, Any] = {}
    started = time.perf_counter()

    def now() -> float:
        return round(time.perf_counter() - started, 2)

    def sample_health(site: DemoSite, phase: str) -> dict[str, Any]:
        health = site.measure()
        timeline.add_site(SiteSample(t=now(), site=site.site_id, phase=phase, model_versions=health.versions,
                                     mean_read_confidence=round(health.mean_read_confidence, 4),
                                     held_out_exact_match=health.exact_match, held_out_damage_f1=health.damage_f1))
        return {"exact_match": health.exact_match, "damage_f1": health.damage_f1,
                "mean_read_confidence": round(health.mean_read_confidence, 4), "versions": health.versions}

    def prepare_data() -> dict[str, Any]:
        from concurrent.futures import ProcessPoolExecutor

        jobs: dict[str, tuple[Callable[..., Path], tuple]] = {
            **{f"sequence:{site}": (_sequence, (cache / "sequences", site, seed, preset, site_passes[site]))
               for site, preset, seed in chosen},
            "golden": (_dataset, (cache / f"golden-9001-{GOLDEN_FRAMES}", 9001, GOLDEN_FRAMES)),
            "golden-drift": (_dataset, (cache / f"golden-{DRIFT_PRESET}-9103-{GOLDEN_DRIFT_FRAMES}", 9103,
                                        GOLDEN_DRIFT_FRAMES, DRIFT_PRESET)),
            "default": (_dataset, (cache / f"held-out-9101-{HELD_OUT_FRAMES}", 9101, HELD_OUT_FRAMES)),
            "drift": (_dataset, (cache / f"held-out-{DRIFT_PRESET}-9102-{DRIFT_HELD_OUT_FRAMES}", 9102,
                                 DRIFT_HELD_OUT_FRAMES, DRIFT_PRESET)),
            "replay": (_dataset, (cache / f"replay-9301-{REPLAY_FRAMES}", 9301, REPLAY_FRAMES)),
        }
        with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:  # rendering is CPU-bound
            futures = {key: pool.submit(fn, *args) for key, (fn, args) in jobs.items()}
            done = {key: future.result() for key, future in futures.items()}
        seqs = {site: done[f"sequence:{site}"] for site, _preset, _seed in chosen}
        golden = cache / f"golden-{GOLDEN_FRAMES}-{DRIFT_PRESET}-{GOLDEN_DRIFT_FRAMES}"
        if not (golden / "annotations.json").is_file():
            merge_datasets(golden, {"normal": done["golden"], "drift": done["golden-drift"]})
        state.update(sequences=seqs, golden=golden, held_out={"default": done["default"], DRIFT_PRESET: done["drift"]},
                     replay=done["replay"])
        longer = {site: n for site, n in site_passes.items() if n != passes}
        return {"summary": f"{len(seqs)} forklift sequences ({passes} passes each"
                           + "".join(f", {n} at {site}" for site, n in longer.items()) + "), golden set of "
                           f"{GOLDEN_FRAMES} + {GOLDEN_DRIFT_FRAMES} drifted frames, held-out sets of "
                           f"{HELD_OUT_FRAMES} (normal) and "
                           f"{DRIFT_HELD_OUT_FRAMES} (drifted) frames",
                "sequences": {k: str(v) for k, v in seqs.items()}}

    def start_local_cloud(stack: ExitStack, work: Path) -> dict[str, Any]:
        cloud = stack.enter_context(LocalCloud(work / "cloud", rings=RINGS))
        assert cloud.settings is not None
        signer = KmsSigner(cloud.client("kms"), cloud.settings.signing_key_id)
        logging.getLogger("edgecv-local").setLevel(logging.CRITICAL)  # the handlers' JSON log lines; see the report
        state.update(cloud=cloud, signer=signer)
        return {"summary": f"moto server on {cloud.endpoint}: buckets, KMS signing key, registry, ring groups "
                           f"{', '.join(RINGS)}, both state machines", "endpoint": cloud.endpoint,
                "state_machines": cloud.machines}

    def start_sites(stack: ExitStack, work: Path) -> dict[str, Any]:
        """Each site deployed by the local Greengrass deployer from the shipped recipes: Triton, ingest and the OTA
        agent, which hears its jobs over MQTT from the IoT Jobs device-side emulator."""
        cloud, signer = state["cloud"], state["signer"]
        if mosquitto_binary() is None:
            raise StageFailedError("mosquitto is not installed: the OTA agents hear their jobs over MQTT "
                                   "(scripts/ensure-system-packages.sh, which `make demo` runs, installs it)")
        broker = stack.enter_context(Mosquitto(work / "mosquitto"))
        store = MemoryJobStore()
        stack.enter_context(MqttJobsEmulator(JobsEmulatorCore(store), broker.host, broker.port,
                                             things=tuple(site for site, _, _ in chosen)))
        key_file = work / "trusted-keys" / "bundle-signing.pub.pem"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(public_key_pem(signer.public_key()))
        settings: dict[str, SiteSettings] = {}
        for site, _preset, _seed in chosen:
            down = site == WAN_DOWN_SITE
            grpc, http, metrics, closed = free_ports(4)
            settings[site] = SiteSettings(
                site_id=site, sequence=state["sequences"][site], fps=fps,
                sampler=demo_sampler().model_dump(mode="json"),
                buffer_cap_bytes=(2 if down else 64) * 1024 * 1024,  # a small cap at the cut-off site: evictions show
                bucket=cloud.settings.landing_bucket,
                upload_endpoint=f"http://127.0.0.1:{closed}" if down else cloud.endpoint,  # a closed port: WAN down
                grpc_port=grpc, http_port=http, metrics_port=metrics, trusted_key=key_file,
                smoke_set=state["held_out"]["default"], mqtt_port=broker.port)
        group = site_group("demo-sites", list(settings.values()))
        group_file = work / "greengrass-group.json"
        group_file.write_text(group.model_dump_json(indent=2, exclude_defaults=True))
        demo_sites: list[DemoSite] = []
        deployed: dict[str, DeployedSite] = {}
        colds = {}
        for i, plan in enumerate(plan_group(group, work / "greengrass", load_group_recipes())):
            deployment = LocalDeployment(plan, stop_timeout_s=30)
            stack.callback(deployment.stop)
            deployment.start()
            site = DeployedSite(deployment, settings[plan.thing_name])
            client = PipelineClient(site.triton_url)
            stack.callback(client.close)
            client.refresh_versions()
            agent = ProcessAgent(site.site_id, store, TritonModelServer(GrpcTritonControl(site.triton_url),
                                                                        no_held_out, repository=site.repository),
                                 log_tail=lambda site=site: site.log_tail(OTA_AGENT))
            preset = next(p for s, p, _ in chosen if s == site.site_id)
            demo_sites.append(DemoSite(site.site_id, ring_group(ring_of(i)), LocalPipeline(client, None),
                                       state["held_out"][preset], agent))
            deployed[site.site_id] = site
            colds[site.site_id] = round(site.cold_start_seconds() or 0, 2)
        fleet = SiteFleet(cloud.client("iot"), cloud.client("cloudwatch"), demo_sites, on_job=on_job)
        state.update(sites=demo_sites, fleet=fleet, deployed=deployed)
        return {"summary": f"{len(demo_sites)} sites deployed from the Greengrass recipes by the local deployer "
                           f"({', '.join(deployed[demo_sites[0].site_id].states())}); each its own tritonserver "
                           f"(cold starts {', '.join(f'{v:.1f}' for v in colds.values())} s), ingest playing its "
                           f"forklift sequence, and its OTA agent (trusting only the KMS key) listening for jobs "
                           f"on MQTT",
                "group_file": str(group_file), "cold_start_seconds": colds,
                "components": {name: site.states() for name, site in deployed.items()},
                "rings": {s.site_id: s.ring for s in demo_sites}}

    def on_job(site: DemoSite, document: Any, report: Any, health: Any) -> None:
        version = document.targets.get(MODEL, 0)
        ok = report is not None and report.outcome is JobOutcome.SUCCEEDED
        kind = "rolled_back" if document.rollback else ("ring_ok" if ok else "halted")
        reason = None if report is None else (report.reason or report.outcome.value)
        timeline.add_rollout(RolloutEvent(t=now(), rollout_id=document.rollout_id, model=MODEL, version=version,
                                          ring=RINGS[min(document.ring, len(RINGS) - 1)], event=kind,
                                          devices=[site.site_id], detail=None if ok else reason))
        if health is not None:
            timeline.add_site(SiteSample(t=now(), site=site.site_id, phase=f"{document.rollout_id}",
                                         model_versions=health.versions,
                                         mean_read_confidence=round(health.mean_read_confidence, 4),
                                         held_out_exact_match=health.exact_match,
                                         held_out_damage_f1=health.damage_f1))
        state.setdefault("jobs", []).append({
            "site": site.site_id, "rollout": document.rollout_id, "ring": document.ring, "version": version,
            "rollback": document.rollback, "outcome": None if report is None else report.outcome.value,
            "reason": reason, "message": None if report is None else report.message,
            "figures": None if report is None else report.figures.model_dump(mode="json")})

    def edge_v1() -> dict[str, Any]:
        deployed: dict[str, DeployedSite] = state["deployed"]
        for site in deployed.values():
            site.wait_ingest(timeout_s=900)
        details: dict[str, Any] = {"sites": {}}
        telemetry = {}
        for name, site in deployed.items():
            t = telemetry[name] = site.telemetry()
            truck = json.loads((site.settings.sequence / "manifest.json").read_text())["truck_id"]
            report = site.reconciliation(truck)
            details["sites"][name] = {
                "frames": t.cameras["door-1"].frames_decided, "passes": t.passes,
                "latency_ms": t.cameras["door-1"].latency_ms.model_dump(),
                "mean_read_confidence": t.mean_read_confidence, "valid_read_share": t.valid_read_share,
                "hard_negative_rate": t.hard_negative_rate,
                "reconciliation": None if report is None else {
                    k: len(getattr(report, k)) for k in ("matched", "missing", "unexpected", "unread", "damaged")},
                "buffer": t.buffer.model_dump() if t.buffer else None,
                "upload": t.upload.model_dump() if t.upload else None,
                "components": site.states(),
            }
            timeline.add_site(SiteSample(
                t=now(), site=name, phase="edge_v1", model_versions={n: int(v) for n, v in
                                                                      runtime_versions(name).items()},
                mean_read_confidence=min(1.0, t.mean_read_confidence), valid_read_share=t.valid_read_share,
                buffer_bytes=t.buffer.bytes if t.buffer else None,
                buffer_cap_bytes=t.buffer.cap_bytes if t.buffer else None, hard_negative_rate=t.hard_negative_rate))
        state["telemetry"] = telemetry
        state["edge"] = details
        total_passes = sum(s["passes"] for s in details["sites"].values())
        if total_passes == 0:
            raise StageFailedError("no pallet pass was decided at any site")
        details["summary"] = (f"{len(deployed)} ingest components decided {total_passes} pallet passes at {fps:g} fps "
                              f"each and exited (FINISHED)")
        return details

    def runtime_versions(site_id: str) -> dict[str, int]:
        site = next(s for s in state["sites"] if s.site_id == site_id)
        return site.serving()

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
        if WAN_DOWN_SITE not in state["deployed"]:
            return {"summary": "no WAN outage staged in this run"}
        s = state["edge"]["sites"][WAN_DOWN_SITE]
        camera = state["telemetry"][WAN_DOWN_SITE].cameras["door-1"]
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
        cloud = state["cloud"]
        bucket = cloud.settings.landing_bucket
        s3 = cloud.client("s3")
        if WAN_DOWN_SITE not in state["deployed"]:
            landed = len([k for k in _keys(s3, bucket, "samples/") if k.endswith("sample.json")])
            return {"summary": f"no WAN outage staged in this run; {landed} samples in the landing bucket"}
        site = state["deployed"][WAN_DOWN_SITE]
        store = DiskSampleStore(site.data_dir / "buffer", cap_bytes=site.settings.buffer_cap_bytes)
        store.open()
        waiting = len(store.pending())
        uploader = Uploader(store, make_s3_client(cloud.endpoint), UploaderConfig(bucket=bucket))
        for _ in range(50):
            if not store.pending():
                break
            uploader.drain_once()
        keys = _keys(s3, bucket, f"samples/{WAN_DOWN_SITE}/")
        landed = sum(k.endswith("sample.json") for k in keys)
        if store.pending() or landed != waiting:
            raise StageFailedError(f"{len(store.pending())} samples still waiting, {landed} of {waiting} landed")
        evicted = sum(store.counters().evicted_samples.values())
        total = len([k for k in _keys(s3, bucket, "samples/") if k.endswith("sample.json")])
        timeline.add_site(SiteSample(t=now(), site=WAN_DOWN_SITE, phase="drained",
                                     model_versions=runtime_versions(WAN_DOWN_SITE),
                                     buffer_bytes=_buffered_bytes(store.counters()),
                                     buffer_cap_bytes=site.settings.buffer_cap_bytes))
        return {"summary": f"link back: {landed} buffered samples landed once each; {evicted} evictions counted; "
                           f"{total} samples from all sites in the landing bucket",
                "landed": landed, "evicted": evicted, "landing_total": total,
                "counters": uploader.counters().model_dump()}

    def eval_v1(work: Path) -> dict[str, Any]:
        first: DemoSite = state["sites"][0]
        report = evaluate(state["golden"], first.pipeline.client)
        write_json_atomic(cache / "eval-v1.json", report)
        state["baseline"] = demo_cloud.publish_baseline(state["cloud"], state["signer"], MODEL, report, work)
        before = {site.site_id: sample_health(site, "before_v2") for site in state["sites"]}
        state["before"] = before
        return {"summary": f"golden ({GOLDEN_FRAMES} + {GOLDEN_DRIFT_FRAMES} drifted frames) through the ensemble: "
                           f"pallet F1 "
                           f"{report['detection']['pallet']['f1']:.3f}, label exact "
                           f"{report['ocr']['exact_match']:.3f}, damage F1 {report['damage']['f1']:.3f}; "
                           f"v1 registered as production; held-out label exact match "
                           + ", ".join(f"{k} {v['exact_match']:.3f}" for k, v in before.items()),
                "eval": {k: report[k] for k in ("detection", "ocr", "damage", "pallet_count_accuracy")},
                "held_out_before": before}

    def train_v2() -> None:
        cloud = state["cloud"]
        cloud_start = time.perf_counter()
        try:
            demo_cloud.upload_dataset(cloud, state["golden"], "golden/")
            init = demo_cloud.upload_checkpoint(cloud, MODEL)
            manifests = demo_cloud.upload_manifests(cloud, state["sequences"])
            replay = demo_cloud.upload_dataset(cloud, state["replay"], "replay/v1/")
            labeler = TeacherPipelineLabeler.local_default()  # what the labeling job will use (for the summary)
            cloud.install(executions=state["fleet"])
            payload = {"run_id": "demo-v2", "model_name": MODEL, "config": {
                "poll_seconds": 1, "entry_point": TRAINING_ENTRY_POINT,  # default review threshold: a person decides
                "hyperparameters": train_hyperparameters or TRAIN_HYPERPARAMETERS,
                "init_checkpoint": init, "replay_data": replay,
                "gates": DEMO_GATES, "max_regression": MAX_REGRESSION, "approval_status": "Approved",
                "code_commit": _code_commit()}}
            reviewer = demo_cloud.DemoReviewer(cloud, "demo-v2").start()
            try:
                arn = cloud.start_execution("training", "demo-v2", payload)
                result = cloud.wait(arn, timeout_s=1800)
            finally:
                reviewer.stop()
            per_stage = demo_cloud.execution_stages(cloud, arn)
        except Exception as exc:  # recorded as the failed stage
            stages.add("training_pipeline", False, time.perf_counter() - cloud_start,
                       {"error": f"{type(exc).__name__}: {exc}"})
            return
        out = result.output or demo_cloud.last_state_output(cloud, arn)
        ok_run = result.status == "SUCCEEDED"
        failed_at = None if ok_run else (result.states[-1] if result.states else "?")
        if not ok_run and "GateFailed" in result.states:
            from lambdas.common.layout import run_key
            from lambdas.common.s3io import get_json
            from lambdas.evaluate.gate import flatten, metric_path

            try:
                record = get_json(cloud.client("s3"), cloud.settings.curated_bucket, run_key("demo-v2", "eval"))
                out["evaluation"] = {"verdict": "fail", "failures": record.get("failures"),
                                     "metrics": flatten(record["report"], {metric_path(k): v
                                                                           for k, v in DEMO_GATES.items()})}
            except Exception as exc:  # the gate's record is evidence, not a requirement
                out["evaluation"] = {"verdict": "fail", "failures": [f"no gate record: {exc}"], "metrics": {}}
        names = [("ingest", "ingest_samples"), ("deid", "deidentify"), ("labels", "auto_label"),
                 ("review", "review"), ("training", "train"), ("evaluation", "eval_gate"), ("export", "export"),
                 ("bundle", "sign"), ("registration", "register")]
        summaries = {
            "ingest_samples": lambda o: f"{o['accepted']} samples accepted, {o['parked']} parked",
            "deidentify": lambda o: f"{o['curated']} curated, {o['quarantined']} quarantined (person not blurred)",
            "auto_label": lambda o: f"{o['labeled']} frames labeled by {labeler.name} (labels read against "
                                    f"{manifests} site manifests), mean confidence {o['mean_confidence']:.2f}; "
                                    f"{o.get('withheld', 0)} withheld (a person the site did not blur)",
            "review": lambda o: f"{o.get('decision')} by {o.get('reviewer')}"
                                + (f" after the labels of {reviewer.task['labels'].get('labeled', '?')} frames were "
                                   f"parked for review" if reviewer.task else "")
                                + (f" (reviewer error: {reviewer.error})" if reviewer.error else ""),
            "train": lambda o: f"{o.get('job_name')} {o.get('status')}: fine-tuned from v1 on "
                               f"{(out.get('dataset') or {}).get('frames', '?')} auto-labeled frames",
            "eval_gate": lambda o: f"{o['verdict']} on the golden set: " + ", ".join(
                f"{k} {v:.3f}" for k, v in o["metrics"].items() if k.startswith(METRIC.split(".")[0]))
                + (f"; {'; '.join(o['failures'])}" if o.get("failures") else ""),
            "export": lambda o: "candidate laid out as a Triton model version",
            "sign": lambda o: f"v{o['version']} signed with the KMS key ({o['size']} bytes)",
            "register": lambda o: f"v{o['version']} registered, {o['approval_status']}",
        }
        state_stage = {"ingest_samples": "ingest"}
        for key, name in names:
            seconds = per_stage.get(state_stage.get(name, name), 0.0)
            value = out.get(key)
            if value is None:
                if not ok_run and name in per_stage:  # entered, then the run failed there
                    stages.add(name, False, seconds, {"error": f"{result.error}: {result.cause}"}, indent="  ")
                continue
            try:
                summary = summaries[name](value)
            except (KeyError, TypeError):
                summary = ""
            passed = not (name == "eval_gate" and value.get("verdict") != "pass")
            stages.add(name, passed, seconds, {"summary": summary, name: value}, indent="  ")
        if not ok_run:
            stages.add("training_pipeline", False, result.seconds,
                       {"error": f"the training execution ended {result.status} at {failed_at}: {result.error}: "
                                 f"{(result.cause or '')[:400]}", "states": result.states})
            return
        state["v2"] = Release.model_validate(out["bundle"])
        state["training_output"] = out

    def rollout(rollout_id: str, release: Any, previous: Any) -> Any:
        cloud = state["cloud"]
        smoke = SmokeExpectations(frames=SMOKE_FRAMES, metric=METRIC, max_drop=0.25, min_accuracy=0.3,
                                  max_latency_ms_p99=5000)
        payload = {"rollout_id": rollout_id, "release": release.model_dump(mode="json"),
                   "previous": previous.model_dump(mode="json"), "rings": [ring_group(r) for r in RINGS],
                   "config": {"bake_seconds": 1, "max_bakes": 3, "job_timeout_minutes": 30,
                              "smoke": smoke.model_dump(mode="json"),
                              # three sites share two cores: a site's latency, and its "decision rate" (the
                              # frames per second of its held-out measurement, demo_fleet.health_response), swing
                              # with the other sites' load, so both get the same 3x room (a rate may fall by
                              # 1 - 1/3). A broken model is caught by the smoke test and the confidence collapse.
                              "thresholds": {"max_latency_ms": 3000.0, "max_latency_ratio": 3.0,
                                             "max_decision_rate_drop": 0.67}}}
        arn = cloud.start_execution("rollout", rollout_id, payload)
        result = cloud.wait(arn, timeout_s=1800)
        return arn, result

    def record_incidents(rollout_id: str, version: int) -> list[dict[str, Any]]:
        """Drain the incident queue into the timeline, each event under its own rollout; return `rollout_id`'s."""
        mine = []
        for incident in state["cloud"].incidents():
            detail = incident.get("detail", {})
            belongs_to = str(detail.get("rollout_id", rollout_id))
            timeline.add_rollout(RolloutEvent(t=now(), rollout_id=belongs_to,
                                              model=MODEL, version=int(detail.get("version", version)),
                                              ring=str(detail.get("ring", "canary")).removeprefix("edgecv-ring-"),
                                              event="incident", detail="; ".join(detail.get("reasons", []))[:300]))
            if belongs_to == rollout_id:
                mine.append(incident)
        return mine

    def ring_stages(arn: str, result: Any, rollout_id: str, prefix: str) -> list[tuple[str, bool, float, dict]]:
        history = state["cloud"].client("stepfunctions").get_execution_history(executionArn=arn,
                                                                               maxResults=1000)["events"]
        starts = [e["timestamp"] for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "StartRing"]
        end = history[-1]["timestamp"]
        jobs = [j for j in state.get("jobs", []) if j["rollout"] == rollout_id and not j["rollback"]]
        out = []
        for i, at in enumerate(starts):
            until = starts[i + 1] if i + 1 < len(starts) else end
            ring_jobs = [j for j in jobs if j["ring"] == i]
            ok = bool(ring_jobs) and all(j["outcome"] == "SUCCEEDED" for j in ring_jobs)
            out.append((f"{prefix}{i}", ok, (until - at).total_seconds(), {
                "summary": f"{RINGS[i]}: " + ", ".join(f"{j['site']} {j['outcome']}"
                                                      + (f" ({j['reason']})" if j["outcome"] != "SUCCEEDED" else "")
                                                      for j in ring_jobs),
                "ring": RINGS[i], "jobs": ring_jobs}))
        return out

    def rollout_v2() -> None:
        if "v2" not in state:
            stages.add("rollout", False, 0.0, {"error": "no v2: the training pipeline did not register one"})
            return
        t0 = time.perf_counter()
        fleet: SiteFleet = state["fleet"]
        try:
            fleet.provision()
            arn, result = rollout("demo-v2", state["v2"], state["baseline"])
        except Exception as exc:  # recorded as the failed stage
            stages.add("rollout", False, time.perf_counter() - t0, {"error": f"{type(exc).__name__}: {exc}"})
            return
        for name, ok, seconds, details in ring_stages(arn, result, "demo-v2", "rollout_ring_"):
            stages.add(name, ok, seconds, details)
        serving = {s.site_id: s.serving() for s in state["sites"]}
        ok = result.status == "SUCCEEDED" and all(v.get(MODEL) == state["v2"].version for v in serving.values())
        halted_because = [reason for incident in record_incidents("demo-v2", state["v2"].version)
                          for reason in incident.get("detail", {}).get("reasons", [])]
        timeline.add_rollout(RolloutEvent(t=now(), rollout_id="demo-v2", model=MODEL, version=state["v2"].version,
                                          ring=RINGS[-1], event="done" if ok else "halted",
                                          devices=sorted(serving)))
        jobs = [j for j in state.get("jobs", []) if j["rollout"] == "demo-v2"]
        figures = {j["site"]: {k: (j["figures"] or {}).get(k) for k in
                               ("download_seconds", "verify_seconds", "load_seconds", "switch_seconds",
                                "total_seconds")} | {"smoke": (j["figures"] or {}).get("smoke")} for j in jobs}
        stages.add("ota_hot_load", ok, time.perf_counter() - t0, {
            "summary": (f"every site verified, hot-loaded and switched to {MODEL} v{state['v2'].version} "
                        f"(rollout {result.status}, {result.seconds:.0f} s)") if ok else
                       f"rollout {result.status} ({result.error}: {'; '.join(halted_because) or result.cause}); "
                       f"serving {serving}",
            "serving": serving, "agents": figures, "halted_because": halted_because})

    def recovery() -> dict[str, Any]:
        if "v2" not in state or any(s.serving().get(MODEL) != state["v2"].version for s in state["sites"]):
            raise StageFailedError("v2 is not serving at every site")
        after = {site.site_id: sample_health(site, "after_v2") for site in state["sites"]}
        before = state["before"]
        lines = {k: f"{k} {before[k]['exact_match']:.3f} -> {after[k]['exact_match']:.3f}" for k in after}
        details = {"held_out_before": before, "held_out_after": after,
                   "summary": "held-out label exact match (same frames, v1 -> v2): " + ", ".join(lines.values())}
        if DRIFT_SITE in after and after[DRIFT_SITE]["exact_match"] < before[DRIFT_SITE]["exact_match"] + MIN_RECOVERY:
            raise StageFailedError(f"the drifted site did not recover: {lines[DRIFT_SITE]} (a recovery is a rise of "
                                   f"at least {MIN_RECOVERY})")
        return details

    def regressed_v3(work: Path) -> dict[str, Any]:
        cloud, signer, fleet = state["cloud"], state["signer"], state["fleet"]
        # what production is now: v2 when the gate passed it and the rollout took it everywhere, else v1
        base = state["v2"] if "v2" in state and all(s.serving().get(MODEL) == state["v2"].version
                                                    for s in state["sites"]) else state["baseline"]
        if base is state["baseline"] and not fleet.fleet.serving:
            fleet.provision()  # the v2 rollout did not run: the things and their health are not published yet
        v3 = demo_cloud.regressed_release(cloud, signer, base, base.version + 1, work)
        arn, result = rollout("demo-v3", v3, base)
        for name, ok, seconds, details in ring_stages(arn, result, "demo-v3", "v3_ring_"):
            stages.add(name, not ok, seconds, {**details, "expected": "the canary refuses v3"}, indent="  ")
        fleet.poll()  # the devices answer the rollback job
        incidents = record_incidents("demo-v3", v3.version)
        v3_jobs = [j for j in state.get("jobs", []) if j["rollout"] == "demo-v3" and not j["rollback"]]
        reached = sorted({j["site"] for j in v3_jobs})
        serving = {s.site_id: s.serving() for s in state["sites"]}
        canary = state["sites"][0].site_id
        problems = []
        if result.status != "FAILED" or result.error != "RolloutHalted":
            problems.append(f"the rollout ended {result.status} ({result.error}), not halted")
        if result.states.count("StartRing") != 1:
            problems.append(f"v3 reached {result.states.count('StartRing')} rings")
        if reached != [canary]:
            problems.append(f"v3 jobs reached {reached}")
        if any(v.get(MODEL) != base.version for v in serving.values()):
            problems.append(f"serving after the rollback: {serving}")
        if len(incidents) != 1:
            problems.append(f"{len(incidents)} incident events")
        if problems:
            raise StageFailedError("; ".join(problems))
        refusal = next(j for j in v3_jobs if j["site"] == canary)
        return {"summary": f"v{v3.version} (regressed) refused at the canary ({refusal['reason']}: "
                           f"{refusal['message']}); rollout halted, canary rolled back to v{base.version}, incident "
                           f"raised; no other ring received v{v3.version}", "regressed_version": v3.version,
                "canary_job": refusal, "incident": incidents[0], "serving": serving, "states": result.states}

    def finish() -> None:
        console.print(f"demo: {sum(s.ok for s in stages.report.stages)}/{len(stages.report.stages)} stages ok in "
                      f"{time.perf_counter() - started:.0f} s")
        report_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = report_path.with_suffix(".tmp")
        tmp_path.write_text(json.dumps(stages.report.model_dump(mode="json"), indent=2))
        tmp_path.replace(report_path)
        html = render_html(stages.report.model_dump(mode="json"), report_path.with_suffix(".html"))
        console.print(f"wrote {report_path} and {html}")

    for key, value in {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        os.environ.setdefault(key, value)  # the handlers' EMF metric lines would drown the progress output
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # the interpreter logs each failed state at length
    try:
        if stages.run("prepare_data", prepare_data) is None:
            return stages.report
        with ExitStack() as stack:
            keep = os.environ.get("EDGECV_DEMO_WORKDIR")  # a debugging aid: keep the run's files there
            work = Path(keep) if keep else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgecv-demo-")))
            work.mkdir(parents=True, exist_ok=True)
            if stages.run("start_local_cloud", lambda: start_local_cloud(stack, work)) is None:
                return stages.report
            if stages.run("start_sites", lambda: start_sites(stack, work)) is None:
                return stages.report
            if stages.run("edge_v1", edge_v1) is not None:
                stages.run("drift_detected", drift_detected)
                stages.run("wan_outage", wan_outage)
                stages.run("drain_samples", drain_samples)
            if stages.run("eval_v1", lambda: eval_v1(work)) is None:
                return stages.report
            console.print("[bold]▶ training pipeline (Step Functions on moto)[/bold]")
            train_v2()
            console.print("[bold]▶ rollout of v2 (Step Functions on moto, the sites' OTA agents)[/bold]")
            rollout_v2()
            stages.run("drift_recovery", recovery)
            stages.run("canary_rollback", lambda: regressed_v3(work))
    finally:
        finish()
    return stages.report


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _buffered_bytes(counters: Any) -> int:
    evicted = sum(counters.evicted_bytes.values())
    return max(0, counters.stored_bytes - counters.removed_bytes - evicted)
