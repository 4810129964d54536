"""The teacher networks used for auto-labeling: v1's networks fine-tuned, stage by stage, on wider domains.

    python -m training.train_teacher [--network NAME ...] [--out-root training/teacher]

Each stage runs a network's SageMaker-convention entry point (`training.train_*`) with `init` = the previous stage
(the first: v1's checkpoint in `training/checkpoints/v1/<network>`) and `train` = the stage's data: sets of the
teacher's domains (`wide`: dim to bright light, dark loads, noise, blur, JPEG; `dark`: low light, mostly dark loads,
wider than the staged drift on every knob; the training fonts and backgrounds), rendered once under
`.edgecv/datasets/<domain>-<seed>-<frames>`. What a teacher has that v1 lacks is the looks of a drifted site's
samples; the student keeps v1's domain through the training job's `replay` channel. Writes
`<out-root>/<network>/1/{model.onnx,lineage.json}`. The damage classifier and the detector have teacher recipes; the
labeler takes its label boxes from v1's detector all the same (its reader reads them better) and reads with v1's
reader (the reader teachers tried were not better labelers: `docs/models.md`, "The teacher", measured with
`python -m edgecv.teacher_eval`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from training.make_all import DATASETS, TRAINERS, ensure_dataset, git_commit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".edgecv" / "datasets"
# rendered sets of the teacher's domains: name -> (domain preset, seed, frames)
DOMAIN_SETS = {"wide-4242": ("wide", 4242, 800), "dark-4343": ("dark", 4343, 700)}
# network -> stages: (name, data parts, hyperparameters); each stage fine-tunes the previous one. A data part is
# one of DOMAIN_SETS or one of make_all's sets (`train`: v1's own training frames, so the teacher keeps v1's look).
STAGES: dict[str, tuple[tuple[str, tuple[str, ...], dict[str, str]], ...]] = {
    # finds pallets and people in the dark far better than v1; the labeler takes label boxes from v1's detector
    # (v1's reader reads v1's label boxes better; docs/models.md, "The teacher")
    "detector": (
        ("wide+dark+train", ("wide-4242", "dark-4343", "train"), {"steps": "1500", "lr": "0.001", "seed": "51"}),
    ),
    "damage_classifier": (
        ("wide", ("wide-4242",), {"steps": "1500", "lr": "0.001", "seed": "21", "batch_size": "64"}),
        ("wide+dark", ("wide-4242", "dark-4343"), {"steps": "2000", "lr": "0.001", "seed": "22", "batch_size": "64"}),
    ),
}


def dataset(part: str) -> Path:
    """The rendered set a stage's data part names (rendered on first use)."""
    from training.common import progress
    from training.synth.dataset import write_dataset
    from training.synth.scene import DomainKnobs

    if part in DATASETS:
        return ensure_dataset(DATA, part)
    domain, seed, frames = DOMAIN_SETS[part]
    out = DATA / f"{domain}-{seed}-{frames}"
    if not (out / "annotations.json").is_file():
        print(f"rendering {frames} frames of the {domain} domain (seed {seed}) into {out}", flush=True)
        with progress(f"render {out.name}") as bar:
            task = bar.add_task(out.name, total=frames, status="")
            write_dataset(out, seed, frames, DomainKnobs.named(domain), workers=2,
                          progress=lambda n: bar.advance(task, n))
    return out


def part_lineage(part: str) -> dict:
    if part in DATASETS:
        seed, frames, _knobs = DATASETS[part]
        return {"set": part, "seed": seed, "frames": frames, "domain": "default", "from": "training.make_all"}
    domain, seed, frames = DOMAIN_SETS[part]
    return {"set": part, "seed": seed, "frames": frames, "domain": domain}


def train_network(network: str, out: Path) -> int:
    from training.synth.dataset import merge_datasets

    trainer = importlib.import_module(TRAINERS[network])
    init = ROOT / "training" / "checkpoints" / "v1" / network
    stages = STAGES[network]
    with tempfile.TemporaryDirectory(prefix=f"edgecv-teacher-{network}-") as tmp_name:
        tmp = Path(tmp_name)
        for i, (name, parts, hyperparameters) in enumerate(stages):
            sets = {part: dataset(part) for part in parts}
            train = next(iter(sets.values())) if len(sets) == 1 else merge_datasets(tmp / f"data-{i}", sets)
            model_dir = tmp / f"stage-{i}"
            hp = [a for k, v in hyperparameters.items() for a in ("--hp", f"{k}={v}")]
            print(f"{network} stage {i + 1}/{len(stages)}: {name}", flush=True)
            code = trainer.main(["--model-dir", str(model_dir), "--channel", f"train={train}",
                                 "--channel", f"init={init}", *hp])
            if code:
                return code
            init = model_dir
        lineage = json.loads((init / "lineage.json").read_text())
        lineage["role"] = "teacher"
        lineage["code_commit"] = git_commit()
        lineage["stages"] = [{"name": name, "data": [part_lineage(p) for p in parts], "hyperparameters": hp}
                             for name, parts, hp in stages]
        lineage["training"]["init"] = f"training/checkpoints/v1/{network}/model.pt, then stage by stage"
        # each file replaced whole by a rename: never half a network or half a lineage
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(init / "model.onnx", out / ".model.onnx.partial")
        (out / ".lineage.json.partial").write_text(json.dumps(lineage, indent=2) + "\n")
        os.replace(out / ".model.onnx.partial", out / "model.onnx")
        os.replace(out / ".lineage.json.partial", out / "lineage.json")
    print(f"wrote {out}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", action="append", choices=sorted(STAGES),
                    help="train this network's teacher (repeatable; default: every network with a recipe)")
    ap.add_argument("--out-root", type=Path, default=ROOT / "training" / "teacher")
    args = ap.parse_args(argv)
    for network in args.network or list(STAGES):
        code = train_network(network, args.out_root / network / "1")
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
