"""`make train`: reproduce the v1 models from scratch on this machine, with progress.

data (seeded renderer) -> train detector, label reader, damage classifier (SageMaker-convention
entry points, run as subprocesses with SM_* environment) -> ONNX export + ORT parity -> INT8 ->
evaluation on the golden and shifted sets -> model_repository/<model>/1/{model.onnx, lineage.json}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from rich.console import Console

from contracts.evaluation import gate_failures
from model_repository.onnx_pipeline import REPOSITORY, ModelPaths, OnnxPalletPipeline
from model_repository.processing import (
    DAMAGE_THRESHOLD,
    DETECTION_THRESHOLDS,
    MIN_READ_CONFIDENCE,
    damage_input,
    detector_input,
    ocr_input,
)
from training.export import SPECS, export_onnx, latency_ms, load_model, machine_facts, parity, quantize_int8
from training.synth.dataset import merge_datasets, write_dataset
from training.synth.scene import DomainKnobs

console = Console()
ROOT = Path(__file__).resolve().parents[1]

DATASETS = {
    # name: (seed, frames, knobs)
    "train": (1, 3000, DomainKnobs()),
    "val": (7, 200, DomainKnobs()),  # for choosing thresholds; never the golden set
    "golden": (9001, 300, DomainKnobs()),
    "shifted": (9002, 300, DomainKnobs.shifted_preset()),
    # more pallets for the damage classifier's last two stages (it generalises with data, not with steps)
    "train12": (12, 3000, DomainKnobs()),
    "train13": (13, 3000, DomainKnobs()),
}
# Sets joined from others (`merge_datasets` copies their frames into one set; a channel reads one set).
MERGED_DATASETS: dict[str, tuple[str, ...]] = {"train_all": ("train", "train12", "train13")}
TRAINERS = {"detector": "training.train_detector", "ocr": "training.train_ocr",
            "damage_classifier": "training.train_damage"}
# The recipe of v1. A model with several stages fine-tunes each stage from the previous one.
RECIPE: dict[str, list[dict[str, str]]] = {
    # precision auto: bf16 autocast where the CPU has native bfloat16, 1.7x (detector) / 1.5x (reader) per step on
    # this box; fp32 elsewhere (training.common.training_precision, docs/models.md)
    "detector": [{"steps": "900", "lr": "0.002", "precision": "auto"},
                 {"steps": "1000", "lr": "0.001", "precision": "auto"},
                 {"steps": "1500", "lr": "0.001", "precision": "auto"},
                 {"steps": "1500", "lr": "0.0008", "seed": "5", "precision": "auto"}],
    # the reader learns the DEST letters from its first stage (8-letter codes, DEST loss x2): with 3-letter codes only,
    # the letters stayed unlearnt for 5,400 steps and a rerun read 0.034 worse (session 18, docs/models.md)
    "ocr": [{"steps": "3000", "batch_size": "32", "lr": "0.003", "synthetic_labels": "30000", "max_dest_letters": "8",
             "dest_weight": "2.0", "precision": "auto"},
            {"steps": "2000", "batch_size": "32", "lr": "0.002", "synthetic_labels": "30000", "seed": "3",
             "max_dest_letters": "8", "dest_weight": "2.0", "precision": "auto"},
            {"steps": "1500", "batch_size": "32", "lr": "0.0015", "synthetic_labels": "20000", "seed": "5",
             "max_dest_letters": "8", "dest_weight": "2.0", "precision": "auto"},
            {"steps": "2000", "batch_size": "32", "lr": "0.0015", "synthetic_labels": "25000", "seed": "6",
             "max_dest_letters": "8", "dest_weight": "1.0", "precision": "auto"},
            {"steps": "2000", "batch_size": "32", "lr": "0.001", "synthetic_labels": "25000", "seed": "7",
             "max_dest_letters": "8", "dest_weight": "1.0", "precision": "auto"}],
    # one stage from scratch, 1.5x the channels, on all 9,000 training frames (session 12: it beat fine-tuning the
    # 1.0x network stage by stage on the same frames; docs/models.md)
    "damage_classifier": [{"steps": "7000", "lr": "0.003", "seed": "41", "width": "1.5"}],
}
# The datasets each stage's channels read (stage numbers from 1); a stage not listed reads `train` only.
STAGE_CHANNELS: dict[str, dict[int, dict[str, str]]] = {"damage_classifier": {1: {"train": "train_all"}}}
# Two training lanes run side by side, one thread each: on 2 cores this beats one lane with 2 threads. A whole run
# on an idle 2-core box with native bf16 (session 19, docs/models.md) took detector 1,226 + damage 1,092 s of
# training | reader 1,322 s + its label patches; 3,036 s in all (fp32, session 17: 4,078 s).
LANES = (("detector", "damage_classifier"), ("ocr",))


def dataset_hash(directory: Path) -> str:
    """sha256 over the annotations and every frame (a merged set's frames sit under <part>/frames/)."""
    h = hashlib.sha256()
    h.update((directory / "annotations.json").read_bytes())
    if (directory / "frames").is_dir():
        frames = [(path.name, path) for path in sorted((directory / "frames").iterdir())]
    else:
        frames = [(str(path.relative_to(directory)), path) for path in sorted(directory.glob("*/frames/*"))]
    for name, path in frames:
        h.update(name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def ensure_dataset(root: Path, name: str, frames_override: int | None = None) -> Path:
    seed, frames, knobs = DATASETS[name]
    frames = frames_override or frames
    out = root / name
    meta = out / "generator.json"
    if meta.is_file():
        have = json.loads(meta.read_text())
        # a knob the file does not name was added to the renderer after the set was made: it had its default
        recorded = {**json.loads(json.dumps(asdict(DomainKnobs()))), **have.get("knobs", {})}
        if have.get("seed") == seed and have.get("frames") == frames and recorded == json.loads(
                json.dumps(asdict(knobs))):
            console.print(f"dataset {name}: reusing {out} ({frames} frames, seed {seed})")
            return out
    console.print(f"dataset {name}: rendering {frames} frames (seed {seed})")
    from training.common import progress

    with progress(f"render {name}") as bar:
        task = bar.add_task(name, total=frames, status="")
        write_dataset(out, seed, frames, knobs, progress=lambda n: bar.advance(task, n))
    return out


def ensure_merged(root: Path, name: str, data: dict[str, Path], hashes: dict[str, str] | None = None) -> Path:
    """The set MERGED_DATASETS[name] joins, made again when any part changed (its sha256; pass the parts'
    `hashes` when they are known)."""
    parts = {part: data[part] for part in MERGED_DATASETS[name]}
    want = {part: (hashes or {}).get(part) or dataset_hash(path) for part, path in parts.items()}
    out = root / name
    stamp = out / "parts.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        console.print(f"dataset {name}: reusing {out} ({' + '.join(parts)})")
        return out
    console.print(f"dataset {name}: joining {' + '.join(parts)}")
    merge_datasets(out, parts)
    stamp.write_text(json.dumps(want))
    return out


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "training", "model_repository/processing.py"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def final_stage(work: Path, name: str, recipe: dict[str, list[dict[str, str]]]) -> Path:
    return work / name / f"stage{len(recipe[name])}"


def stage_channels(name: str, stage: int) -> dict[str, str]:
    return STAGE_CHANNELS.get(name, {}).get(stage, {"train": "train"})


def train_lane(names: tuple[str, ...], work: Path, data: dict[str, Path], overrides: dict[str, dict[str, str]],
               threads: int, recipe: dict[str, list[dict[str, str]]], first_stage: dict[str, int]) -> subprocess.Popen:
    """Start one lane: its models' stages in order, each a SageMaker-convention subprocess. A model whose first
    stage is N > 1 starts from the work directory's stage N-1 checkpoint."""
    commands = []
    for name in names:
        start = first_stage.get(name, 1)
        init = work / name / f"stage{start - 1}" if start > 1 else None
        for k, stage_hps in enumerate(recipe[name], start=1):
            if k < start:
                continue
            out = work / name / f"stage{k}"
            out.mkdir(parents=True, exist_ok=True)
            hps = {**stage_hps, **(overrides.get(name, {}) if k == len(recipe[name]) else {})}
            (out / "hyperparameters.json").write_text(json.dumps(hps))
            env = f"SM_MODEL_DIR={out} SM_HP_FILE={out / 'hyperparameters.json'}"
            for channel, dataset in stage_channels(name, k).items():
                env += f" SM_CHANNEL_{channel.upper()}={data[dataset]}"
            if init is not None:
                env += f" SM_CHANNEL_INIT={init}"
            commands.append(f"{env} EDGECV_TORCH_THREADS={threads} {sys.executable} -m {TRAINERS[name]}")
            init = out
    script = " && ".join(commands)
    return subprocess.Popen(["bash", "-c", script])


def parse_resume(items: list[str], recipe: dict[str, list[dict[str, str]]], work: Path) -> dict[str, int]:
    """`MODEL=N` items -> {model: first stage}; the stage before N must be in the work directory."""
    first: dict[str, int] = {}
    for item in items:
        name, _, stage = item.partition("=")
        if name not in recipe or not stage.isdigit() or not 1 <= int(stage) <= len(recipe.get(name, [])):
            raise ValueError(f"--resume {item!r}: expected MODEL=N with MODEL one of {', '.join(recipe)} and N a "
                             "stage of its recipe")
        previous = work / name / f"stage{int(stage) - 1}" / "model.pt"
        if int(stage) > 1 and not previous.is_file():
            raise ValueError(f"--resume {item}: {previous} is missing (train the earlier stages first)")
        first[name] = int(stage)
    return first


def calibration_samples(name: str, dataset: Path, n: int = 64) -> np.ndarray:
    from contracts.annotations import load_annotation_set
    from training.evaluation import load_frame

    ds = load_annotation_set(dataset)
    out: list[np.ndarray] = []
    for frame in ds.frames:
        img = load_frame(dataset, frame.image, frame.width, frame.height)
        if name == "detector":
            out.append(detector_input(img)[0])
        for p in frame.pallets:
            if name == "damage_classifier":
                out.append(damage_input(img, p.bbox.as_list()))
            elif name == "ocr" and p.label is not None:
                out.append(ocr_input(img, p.label.bbox.as_list()))
        if len(out) >= n:
            break
    return np.stack(out[:n]).astype(np.float32)


def export_model(name: str, checkpoint: Path, train: Path, fp32_dir: Path, int8_dir: Path,
                 committed: Path | None = None, earlier: dict | None = None) -> dict:
    """FP32 and INT8 ONNX of one model and its report entry. With `committed` (a model this run did not train),
    the committed ONNX is used as it is, and its parity and training figures come from the `earlier` report
    entry: an export of the same checkpoint need not be byte for byte the committed file."""
    fp32, int8 = fp32_dir / f"{name}.onnx", int8_dir / f"{name}.onnx"
    model = None
    if committed is not None:
        shutil.copy2(committed, fp32)
    else:
        model = load_model(name, checkpoint)
        export_onnx(name, model, fp32)
    samples = calibration_samples(name, train)
    quantize_int8(name, fp32, int8, samples)
    entry = {
        "size_bytes": {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size},
        "ort_latency_ms_batch1": {"fp32": latency_ms(fp32, SPECS[name][1], samples[:1]),
                                  "int8": latency_ms(int8, SPECS[name][1], samples[:1])},
    }
    if model is None:
        return {**(earlier or {}), **entry}
    training = json.loads((checkpoint / "metrics.json").read_text())
    training.pop("loss_history", None)
    return {"onnx_max_abs_diff_vs_torch": parity(name, model, fp32, samples[:8]), **entry, "training": training}


def evaluate_models(models: ModelPaths, dataset: Path) -> dict:
    from training.common import progress
    from training.evaluation import evaluate

    pipeline = OnnxPalletPipeline(models)
    n = len(json.loads((dataset / "annotations.json").read_text())["frames"])
    with progress(f"eval {dataset.name}") as bar:
        task = bar.add_task("eval", total=n, status="")
        return evaluate(dataset, pipeline, on_frame=lambda: bar.advance(task))


def evaluate_into(report: dict, fp32: ModelPaths, int8: ModelPaths | None, data: dict[str, Path]) -> None:
    """The report's evaluation: golden and shifted, INT8 on golden (dropped when there is no INT8), the gates."""
    report["eval"] = {name: evaluate_models(fp32, data[name]) for name in ("golden", "shifted")}
    if int8 is not None:
        report["eval_int8_golden"] = evaluate_models(int8, data["golden"])
    else:
        report.pop("eval_int8_golden", None)
    report["gate_failures_golden"] = gate_failures(report["eval"]["golden"])


def print_summary(report: dict) -> None:
    console.print_json(json.dumps({"golden": report["eval"]["golden"], "shifted": report["eval"]["shifted"]}))
    if report["gate_failures_golden"]:
        console.print("[yellow]golden gates missed:[/] " + "; ".join(report["gate_failures_golden"]))
    else:
        console.print("[green]all golden gates passed")


def carry_over_report(report: dict, report_path: Path, whole_run: bool) -> None:
    """Keep what this run does not produce from the report it replaces (a whole run's time, notes on the
    post-processing); a whole run leaves the earlier partial run behind."""
    if not report_path.is_file():
        return
    for key, value in json.loads(report_path.read_text()).items():
        if not (whole_run and key == "last_partial_run"):
            report.setdefault(key, value)


def record_served_thresholds(report: dict) -> None:
    """The operating points this run's evaluation used, read from `model_repository.processing` every run, so the
    report's post-processing notes (carried over from run to run) never name a threshold that is no longer served."""
    notes = report.setdefault("post_processing", {})
    notes.update(min_read_confidence=MIN_READ_CONFIDENCE, damage_threshold=DAMAGE_THRESHOLD,
                 detection_thresholds=dict(DETECTION_THRESHOLDS))


def keep_lineage(dest: Path, fresh_onnx: Path, report: dict, evaluated: dict) -> bool:
    """A model this run did not train keeps its lineage (only the evaluation is updated) when the fresh export is
    byte for byte the committed one; otherwise it gets a new lineage like a trained model."""
    lineage_path = dest / "lineage.json"
    if not lineage_path.is_file():
        return False
    lineage = json.loads(lineage_path.read_text())
    if lineage.get("onnx", {}).get("sha256") != hashlib.sha256(fresh_onnx.read_bytes()).hexdigest():
        return False
    lineage.update(eval_golden=report["eval"]["golden"], eval_shifted=report["eval"]["shifted"], evaluated=evaluated)
    lineage_path.write_text(json.dumps(lineage, indent=2))
    return True


def record_training_time(report: dict, repository: Path, version: str) -> None:
    """Each model's training seconds (from its lineage) and each lane's sum: the lanes run side by side, so the
    longest lane is what training the recipe takes on this machine, whatever a partial run took."""
    report["training_seconds"] = {
        name: json.loads((repository / name / version / "lineage.json").read_text()).get("training_seconds")
        for name in TRAINERS}
    if all(report["training_seconds"].values()):
        report["training_lanes_seconds"] = {
            " | ".join(lane): round(sum(report["training_seconds"][n] for n in lane), 1) for lane in LANES}


def evaluate_committed(args: argparse.Namespace) -> int:
    """Score the committed models again, without training: after a change to the pre/post-processing in
    `model_repository/processing.py`, the report and lineage files must quote what the models now do. Rewrites
    the evaluation parts of `training_report.json` and each lineage file's `eval_golden` / `eval_shifted`."""
    report_path = args.out / "training_report.json"
    if not report_path.is_file():
        console.print(f"[red]no training report at {report_path}: run `make train` first")
        return 1
    report = json.loads(report_path.read_text())
    data = {name: ensure_dataset(args.datasets, name) for name in ("golden", "shifted")}
    for name in data:
        want = report.get("datasets", {}).get(name, {}).get("sha256")
        if want and dataset_hash(data[name]) != want:
            console.print(f"[red]dataset {name} at {data[name]} is not the one the report was made on (sha256)")
            return 1
    models = ModelPaths.from_repository(args.out, args.version)
    console.rule("evaluate (committed models)")
    int8_dir = args.work / "onnx-int8"
    int8 = None
    if all((int8_dir / f"{name}.onnx").is_file() for name in TRAINERS):
        int8 = ModelPaths.from_dir(int8_dir, version=args.version + "-int8")
    else:
        console.print(f"[yellow]no INT8 exports in {int8_dir}: eval_int8_golden dropped from the report")
    evaluate_into(report, models, int8, data)
    evaluated_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # the evaluation's latencies were measured here, maybe not where the report's `machine` (the export) was
    report["evaluated"] = {"at": evaluated_at, "code_commit": git_commit(), "machine": machine_facts()}
    for name in TRAINERS:
        lineage_path = args.out / name / args.version / "lineage.json"
        lineage = json.loads(lineage_path.read_text())
        lineage.update(eval_golden=report["eval"]["golden"], eval_shifted=report["eval"]["shifted"],
                       evaluated=report["evaluated"])
        lineage_path.write_text(json.dumps(lineage, indent=2))
    record_served_thresholds(report)
    record_training_time(report, args.out, args.version)
    report_path.write_text(json.dumps(report, indent=2))
    print_summary(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, default=ROOT / ".edgecv" / "train")
    ap.add_argument("--datasets", type=Path, default=ROOT / ".edgecv" / "datasets")
    ap.add_argument("--out", type=Path, default=REPOSITORY, help="model repository to write version 1 into")
    ap.add_argument("--skip-train", action="store_true", help="reuse checkpoints in --work")
    ap.add_argument("--evaluate-only", action="store_true",
                    help="score the committed models again (after a processing change); no training, no export")
    ap.add_argument("--only", choices=list(TRAINERS), action="append")
    ap.add_argument("--hp", action="append", default=[], metavar="MODEL.KEY=VALUE",
                    help="override a hyperparameter of a model's last stage")
    ap.add_argument("--resume", action="append", default=[], metavar="MODEL=N",
                    help="train MODEL from recipe stage N on, from the work directory's stage N-1 checkpoint")
    ap.add_argument("--version", default="1")
    args = ap.parse_args(argv)
    if args.evaluate_only:
        return evaluate_committed(args)
    started = time.time()
    hps: dict[str, dict[str, str]] = {name: {} for name in TRAINERS}
    for item in args.hp:
        key, _, value = item.partition("=")
        model, _, hp = key.partition(".")
        hps[model][hp] = value
    try:
        first_stage = parse_resume(args.resume, RECIPE, args.work)
    except ValueError as exc:
        console.print(f"[red]{exc}", soft_wrap=True)
        return 2
    data = {name: ensure_dataset(args.datasets, name) for name in DATASETS}
    hashes = {name: dataset_hash(path) for name, path in data.items()}
    for name in MERGED_DATASETS:
        data[name] = ensure_merged(args.datasets, name, data, hashes)
        hashes[name] = dataset_hash(data[name])
    selected = set(args.only or TRAINERS)
    if not args.skip_train:
        lanes = [tuple(n for n in lane if n in selected) for lane in LANES]
        lanes = [lane for lane in lanes if lane]
        threads = 1 if len(lanes) > 1 else max(1, os.cpu_count() or 1)
        console.rule(f"train {', '.join(selected)} ({len(lanes)} lanes)")
        from training.common import training_precision

        console.print(f"precision auto trains in {training_precision('auto')} on this CPU "
                      "(bf16 forward passes where it computes bfloat16 natively; docs/models.md)")
        procs = [train_lane(lane, args.work, data, hps, threads, RECIPE, first_stage) for lane in lanes]
        codes = [p.wait() for p in procs]
        if any(codes):
            console.print(f"[red]training failed (exit codes {codes})")
            return 1
    ckpts = {name: final_stage(args.work, name, RECIPE) for name in TRAINERS}
    console.rule("export")
    report: dict = {"models": {}, "datasets": {
        **{n: {"seed": DATASETS[n][0], "frames": DATASETS[n][1], "sha256": hashes[n]} for n in DATASETS},
        **{n: {"merged_from": list(parts), "sha256": hashes[n]} for n, parts in MERGED_DATASETS.items()}},
        "machine": machine_facts()}  # where the latencies and INT8 figures below were measured
    fp32_dir, int8_dir = args.work / "onnx-fp32", args.work / "onnx-int8"
    fp32_dir.mkdir(parents=True, exist_ok=True)
    int8_dir.mkdir(parents=True, exist_ok=True)
    report_path = args.out / "training_report.json"
    earlier = json.loads(report_path.read_text()).get("models", {}) if report_path.is_file() else {}
    for name in TRAINERS:
        committed = args.out / name / args.version / "model.onnx"
        as_committed = name not in selected and committed.is_file() and name in earlier
        entry = export_model(name, ckpts[name], data["train"], fp32_dir, int8_dir,
                             committed=committed if as_committed else None, earlier=earlier.get(name))
        report["models"][name] = entry
        size, speed = entry["size_bytes"], entry["ort_latency_ms_batch1"]
        console.print(f"{name}: {'as committed' if as_committed else 'exported'}, "
                      f"parity {entry['onnx_max_abs_diff_vs_torch']:.2e}, "
                      f"{size['fp32'] / 1e6:.2f} MB fp32 / {size['int8'] / 1e6:.2f} MB int8, "
                      f"{speed['fp32']['p50']} ms / {speed['int8']['p50']} ms")
    console.rule("evaluate")
    fp32_models = ModelPaths.from_dir(fp32_dir, version=args.version)
    evaluate_into(report, fp32_models, ModelPaths.from_dir(int8_dir, version=args.version + "-int8"), data)
    seconds = round(time.time() - started, 1)
    whole_run = not (args.only or args.skip_train or args.resume)
    if whole_run:
        report["total_seconds"] = seconds
    else:
        report["last_partial_run"] = {"seconds": seconds, "only": sorted(selected), "skip_train": args.skip_train,
                                      "resume": args.resume}
    commit = git_commit()
    evaluated = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "code_commit": commit}
    report["evaluated"] = evaluated
    carry_over_report(report, report_path, whole_run)
    record_served_thresholds(report)
    for name in TRAINERS:
        dest = args.out / name / args.version
        dest.mkdir(parents=True, exist_ok=True)
        fresh = fp32_dir / f"{name}.onnx"
        if name not in selected and keep_lineage(dest, fresh, report, evaluated):
            console.print(f"{name}: not trained in this run and its export matches the committed model: "
                          "lineage kept, evaluation updated")
            continue
        shutil.copy2(fresh, dest / "model.onnx")
        stages = range(1, len(RECIPE[name]) + 1)
        lineage = {
            "model": name, "version": args.version, "role": "edge",
            "code_commit": commit,
            "dataset": {"name": "train", **report["datasets"]["train"], "generator": "training.synth"},
            "stage_datasets": [{channel: {"name": dataset, **report["datasets"][dataset]}
                                for channel, dataset in stage_channels(name, k).items()} for k in stages],
            "hyperparameters": [json.loads((args.work / name / f"stage{k}" / "hyperparameters.json").read_text())
                                for k in stages],
            "training_seconds": sum(
                json.loads((args.work / name / f"stage{k}" / "metrics.json").read_text())["train_seconds"]
                for k in stages),
            "parameters": report["models"][name]["training"]["parameters"],
            "onnx": {"opset": 17, "sha256": hashlib.sha256((dest / "model.onnx").read_bytes()).hexdigest(),
                     "max_abs_diff_vs_torch": report["models"][name]["onnx_max_abs_diff_vs_torch"]},
            "eval_golden": report["eval"]["golden"], "eval_shifted": report["eval"]["shifted"],
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (dest / "lineage.json").write_text(json.dumps(lineage, indent=2))
    record_training_time(report, args.out, args.version)
    report_path.write_text(json.dumps(report, indent=2))
    print_summary(report)
    console.print(f"done in {seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
