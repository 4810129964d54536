"""The `edgecv` command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from contracts.errors import EdgecvError
from edgecv.bundle_cli import bundle_app
from edgecv.greengrass_cli import greengrass_app
from edgecv.simulate.cli import simulate_app

app = typer.Typer(add_completion=False, no_args_is_help=True, help="edgecv: loading-bay vision at the edge.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures against a same-run baseline.")
app.add_typer(bench_app, name="bench")
edge_app = typer.Typer(no_args_is_help=True, help="The edge appliance's components.")
app.add_typer(edge_app, name="edge")
app.add_typer(bundle_app, name="bundle")
app.add_typer(greengrass_app, name="greengrass")
app.add_typer(simulate_app, name="simulate")
err = Console(stderr=True)
out = Console()

def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write the annotation set into")],
    seed: Annotated[int, typer.Option(help="base seed; the same seed gives the same frames")] = 1,
    frames: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100,
    preset: Annotated[str, typer.Option(help="domain knobs: default, shifted (unseen fonts/backgrounds, "
                                               "low light, blur), shifted-fonts / shifted-light (either half of "
                                               "that shift), drift (dark loads, low light) or printer (every "
                                               "label in one typeface never trained on)")] = "default",
    workers: Annotated[int, typer.Option(min=1, max=64)] = 2,
) -> None:
    """Render a synthetic loading-bay `edgecv-annotations/1` set."""
    from training.common import progress
    from training.synth.dataset import write_dataset
    from training.synth.scene import DomainKnobs

    presets = DomainKnobs.names(teacher_domains=False)
    if preset not in presets:
        fail(f"unknown preset {preset!r}; choose one of {', '.join(presets)}", 2)
    knobs = DomainKnobs.named(preset)
    with progress(f"render {out_dir.name}") as bar:
        task = bar.add_task("render", total=frames, status="")
        write_dataset(out_dir, seed, frames, knobs, workers=workers, progress=lambda n: bar.advance(task, n))
    out.print(f"wrote {frames} frames to {out_dir}")


@app.command("generate-sequence")
def generate_sequence(
    out_dir: Annotated[Path, typer.Option("--out")],
    seed: int = 1,
    passes: Annotated[int, typer.Option(min=1, max=100)] = 3,
    fps: Annotated[float, typer.Option(min=1, max=120)] = 15.0,
    missing: Annotated[int, typer.Option(min=0)] = 1,
    unexpected: Annotated[int, typer.Option(min=0)] = 1,
) -> None:
    """Render forklift passes (an annotation set + tracks.json) and the truck manifest (manifest.json)."""
    from training.synth.sequences import write_sequence

    write_sequence(out_dir, seed, passes=passes, fps=fps, missing=missing, unexpected=unexpected)
    out.print(f"wrote a {passes}-pass sequence to {out_dir}")


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Option("--dataset", help="an edgecv-annotations/1 directory")],
    out_file: Annotated[Path | None, typer.Option("--out", help="write edgecv-eval/1 JSON here (default: stdout)")
                        ] = None,
    triton: Annotated[str | None, typer.Option("--triton", help="gRPC address of a running Triton serving "
                                               "pallet_pipeline (default: start a local one)")] = None,
    repository: Annotated[Path | None, typer.Option(help="Triton model repository to serve "
                                                    "(default: the shipped model_repository/)")] = None,
    version: Annotated[int, typer.Option(min=1, help="network version the ensemble is pinned to")] = 1,
    pin: Annotated[list[str] | None, typer.Option(help="NETWORK=V: pin one network to version V (repeatable; "
                                                  "wins over --version for that network only)")] = None,
) -> None:
    """Score the pallet pipeline on an annotated set, through the same Triton ensemble the edge serves."""
    from contracts.annotations import load_annotation_set
    from edgecv.local_triton import local_pipeline
    from model_repository.configs import NETWORKS, REPOSITORY
    from training.common import progress
    from training.evaluation import check_images_exist, evaluate, write_json_atomic

    versions = dict.fromkeys(NETWORKS, version)
    for item in pin or []:
        name, _, number = item.partition("=")
        if name not in NETWORKS or not number.isdigit() or int(number) < 1:
            fail(f"--pin expects NETWORK=VERSION with NETWORK one of {', '.join(NETWORKS)} and VERSION >= 1, "
                 f"got {item!r}", 2)
        versions[name] = int(number)
    try:
        annotations = load_annotation_set(dataset)
        check_images_exist(dataset, annotations)
        if repository is not None and not (repository / "pallet_pipeline" / "config.pbtxt").is_file():
            fail(f"{repository} is not a Triton model repository with pallet_pipeline/config.pbtxt")
        if triton is None:
            missing = [f"{name}/{v}" for name, v in versions.items() if not (Path(repository or REPOSITORY)
                                                                                / name / str(v)).is_dir()]
            if missing:
                fail(f"{repository or REPOSITORY} has no version folder {', '.join(missing)}")
        n = len(annotations.frames)
        with local_pipeline(triton, repository, versions) as pipeline, progress("eval") as bar:
            task = bar.add_task("eval", total=n, status="")
            report = evaluate(dataset, pipeline.client, on_frame=lambda: bar.advance(task))
            report["triton"] = {"url": pipeline.url, "model": pipeline.client.model_name,
                                "versions": pipeline.client.versions}
    except (EdgecvError, FileNotFoundError) as exc:
        fail(str(exc))
    if out_file is None:
        print(json.dumps(report, indent=2))
    else:
        write_json_atomic(out_file, report)
        err.print(f"wrote {out_file}")


@app.command()
def train(
    only: Annotated[list[str] | None, typer.Option(help="detector, ocr or damage_classifier")] = None,
) -> None:
    """Reproduce the v1 models from scratch (what `make train` runs)."""
    from training.make_all import main as make_all

    argv = [a for name in (only or []) for a in ("--only", name)]
    raise typer.Exit(make_all(argv))


@edge_app.command("run")
def edge_run(
    config: Annotated[Path, typer.Option("--config", help="site configuration (JSON, edge_appliance.site)")],
    seconds: Annotated[float | None, typer.Option(help="stop after this long (default: until the sources end)")
                       ] = None,
) -> None:
    """Run a site's ingest: cameras -> Triton -> decisions, hard negatives, uploads, telemetry."""
    from edge_appliance.site import main as site_main

    raise typer.Exit(site_main(["--config", str(config), *(["--seconds", str(seconds)] if seconds else [])]))


@app.command()
def demo(
    sites: Annotated[int, typer.Option(min=1, max=9, help="edge sites (site-2 drifts, site-3 loses its WAN)")] = 3,
    report: Annotated[Path, typer.Option(help="edgecv-demo/1 JSON report")] = Path(".edgecv/demo-report.json"),
    fps: Annotated[float, typer.Option(min=1, max=30, help="camera fps per site")] = 5.0,
    passes: Annotated[int, typer.Option(min=1, max=100, help="forklift passes per site")] = 10,
) -> None:
    """The whole loop on one machine, stage by stage (JSON + HTML report); exits non-zero if a stage failed."""
    import signal

    from edgecv.demo import run_demo

    def terminated(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds: every site's processes, the broker and moto are stopped

    keep = os.environ.get("EDGECV_DEMO_WORKDIR")
    if keep and Path(keep).is_dir() and any(Path(keep).iterdir()):
        fail(f"EDGECV_DEMO_WORKDIR={keep} is not empty: a run keeps its files in a new or empty folder")
    signal.signal(signal.SIGTERM, terminated)
    result = run_demo(sites=sites, report_path=report, fps=fps, passes=passes)
    raise typer.Exit(0 if result.ok else 1)


@app.command("demo-report")
def demo_report(
    report: Annotated[Path, typer.Argument(help="an edgecv-demo/1 JSON report")],
    html_out: Annotated[Path | None, typer.Option("--html", help="HTML file to write (default: REPORT.html)")] = None,
) -> None:
    """Render a demo report as one self-contained HTML file with plots."""
    from edgecv.demo_html import render_html

    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {report}: {exc.strerror if isinstance(exc, OSError) else exc}")
    except json.JSONDecodeError as exc:
        fail(f"{report} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        fail(f"{report} is not an edgecv-demo/1 report (expected an object with a \"stages\" list)")
    written = render_html(data, html_out or report.with_suffix(".html"))
    out.print(f"wrote {written}", highlight=False)


@bench_app.command("edge")
def bench_edge_command(
    streams: Annotated[int, typer.Option(min=1, max=16, help="synthetic camera streams sharing one Triton")] = 1,
    fps: Annotated[float | None, typer.Option(min=1, max=120, help="pace each stream (default: unpaced)")] = None,
    seconds: Annotated[float, typer.Option(min=2, max=3600)] = 20.0,
    out_file: Annotated[Path | None, typer.Option("--out")] = None,
    triton: Annotated[str | None, typer.Option("--triton", help="a running Triton (default: start one)")] = None,
    dynamic_batching: Annotated[bool, typer.Option(help="Triton dynamic batching on the networks")] = True,
) -> None:
    """Ingest -> Triton -> decisions for N streams, against in-process ONNX Runtime in the same run."""
    from edgecv.bench_edge import bench_edge
    from training.evaluation import write_json_atomic

    err.print(f"bench edge: {streams} stream(s), fps {fps or 'unpaced'}, {seconds:.0f} s "
              f"(+ the same time for the ONNX Runtime baseline)")
    try:
        result = bench_edge(streams=streams, fps=fps, seconds=seconds, triton_url=triton,
                            dynamic_batching=dynamic_batching,
                            on_tick=lambda stage, s: err.print(f"  {stage}: {s:.0f}/{seconds:.0f} s")
                            if int(s * 2) % 10 == 0 else None)
    except (EdgecvError, FileNotFoundError) as exc:
        fail(str(exc))
    if out_file:
        write_json_atomic(out_file, result)
    print(json.dumps(result, indent=2))


@bench_app.command("sampler")
def bench_sampler_command(
    passes: Annotated[int, typer.Option(min=1, max=1000, help="forklift passes (4 per truck)")] = 36,
    preset: Annotated[str, typer.Option(help="domain knobs: default, shifted, drift or mixed (cycles them)")
                      ] = "mixed",
    out_file: Annotated[Path | None, typer.Option("--out")] = None,
    cache: Annotated[Path, typer.Option(help="rendered sequences are kept and reused here")] = Path(".edgecv/bench"),
    triton: Annotated[str | None, typer.Option("--triton", help="a running Triton (default: start one)")] = None,
    seed: Annotated[int | None, typer.Option(min=0, max=2**31, help="first sequence's seed (default: the reported "
                                             "set's; study changes on other seeds)")] = None,
) -> None:
    """Hard-case recall (wrong decisions captured) vs upload rate of the sampler at its default settings."""
    from edgecv.bench_sampler import bench_sampler, summary_line
    from training.evaluation import write_json_atomic

    try:
        result = bench_sampler(passes=passes, preset=preset, cache=cache, triton_url=triton,
                               on_progress=lambda line: err.print(line, highlight=False),
                               **({"seed": seed} if seed is not None else {}))
    except (EdgecvError, FileNotFoundError) as exc:
        fail(str(exc))
    if out_file:
        write_json_atomic(out_file, result)
    print(json.dumps(result, indent=2))
    err.print(summary_line(result), highlight=False, soft_wrap=True)


@bench_app.command("swap")
def bench_swap_command(
    seconds: Annotated[float, typer.Option(min=5, max=3600, help="time budget for the swaps")] = 120.0,
    swaps: Annotated[int, typer.Option(min=1, max=200, help="most swaps to run")] = 20,
    out_file: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """Hot-swap the detector through the OTA agent's real path under a steady stream of requests."""
    from edgecv.bench_swap import bench_swap
    from training.evaluation import write_json_atomic

    err.print(f"bench swap: up to {swaps} swaps in {seconds:.0f} s under steady load")
    try:
        result = bench_swap(seconds=seconds, max_swaps=swaps,
                            on_swap=lambda n, s: err.print(f"  swap {n}: {s:.1f} s"))
    except (EdgecvError, FileNotFoundError) as exc:
        fail(str(exc))
    if out_file:
        write_json_atomic(out_file, result)
    print(json.dumps(result, indent=2))
    if result["swap_failures"]:
        raise typer.Exit(1)


@bench_app.command("models")
def bench_models(
    out_file: Annotated[Path | None, typer.Option("--out")] = None,
    runs: Annotated[int, typer.Option(min=5, max=10000)] = 100,
    threads: Annotated[int, typer.Option(min=1, max=64)] = 2,
) -> None:
    """ONNX Runtime latency of each model at batch 1: FP32 (served) vs INT8 (built by `make train`)."""
    import numpy as np

    from model_repository.onnx_pipeline import REPOSITORY
    from training.evaluation import write_json_atomic
    from training.export import SPECS, latency_ms, machine_facts

    int8_dir = Path(".edgecv/train/onnx-int8")
    # the INT8 ratio depends on the CPU's int8 dot-product instructions (docs/models.md): name the machine
    result: dict = {"format": "edgecv-model-bench/1", "threads": threads, "machine": machine_facts(), "models": {}}
    for name, (_, input_name, shape, _) in SPECS.items():
        sample = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
        fp32 = REPOSITORY / name / "1" / "model.onnx"
        if not fp32.is_file():
            fail(f"{fp32} missing (run `make train`)")
        entry = {"fp32": {"latency_ms": latency_ms(fp32, input_name, sample, runs, threads),
                          "size_bytes": fp32.stat().st_size}}
        int8 = int8_dir / f"{name}.onnx"
        if int8.is_file():
            entry["int8"] = {"latency_ms": latency_ms(int8, input_name, sample, runs, threads),
                             "size_bytes": int8.stat().st_size}
            speedup = entry["fp32"]["latency_ms"]["p50"] / entry["int8"]["latency_ms"]["p50"]
            entry["speedup_int8_vs_fp32"] = round(speedup, 3)
        result["models"][name] = entry
    if out_file:
        write_json_atomic(out_file, result)
    print(json.dumps(result, indent=2))


@bench_app.command("train-step")
def bench_train_step_command(
    steps: Annotated[int, typer.Option(min=1, max=1000, help="timed steps per model and precision")] = 20,
    threads: Annotated[int, typer.Option(min=1, max=64, help="torch threads (make train's lanes use 1)")] = 1,
    model: Annotated[list[str] | None, typer.Option("--model", help="detector, ocr or damage_classifier "
                                                    "(repeatable; default all)")] = None,
    out_file: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """One training step of each network in fp32 vs bf16 autocast, measured in the same run (needs torch)."""
    try:
        from training.bench_train_step import CASES, bench_train_step
    except ImportError as exc:
        fail(f"bench train-step needs the training extra (torch): {exc}")
    from training.evaluation import write_json_atomic

    unknown = sorted(set(model or []) - set(CASES))
    if unknown:
        fail(f"unknown model {', '.join(unknown)}: choose from {', '.join(CASES)}")
    result = bench_train_step(
        steps=steps, threads=threads, models=tuple(model or CASES),
        on_result=lambda name, e: err.print(f"  {name}: fp32 {e['fp32_s'] * 1000:.0f} ms, bf16 "
                                            f"{e['bf16_s'] * 1000:.0f} ms per step: {e['bf16_speedup']:.2f}x",
                                            highlight=False))
    if out_file:
        write_json_atomic(out_file, result)
    print(json.dumps(result, indent=2))
    err.print(f"native bf16: {'yes' if result['native_bf16'] else 'no'}; the recipe's precision auto trains in "
              f"{result['auto_picks']} here", highlight=False)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
