"""The damage teacher used for auto-labeling: v1's damage classifier fine-tuned with domain randomisation.

    python -m training.train_teacher_damage [--out training/teacher/damage_classifier/1]

Two stages of the same SageMaker-convention entry point (`training.train_damage`), each fine-tuning the last:
1. from v1's checkpoint (`training/checkpoints/v1/damage_classifier`), 1500 steps on 800 frames of the `wide`
   domain (seed 4242: dim to bright light, dark loads, noise, blur, JPEG; the training fonts and backgrounds);
2. 2000 steps on those frames plus 700 of the `dark` domain (seed 4343: low light, mostly dark loads, wider than
   the staged drift on every knob).
About 14 minutes on 2 cores. The teacher has v1's size; what it has that v1 lacks is the low-light look, which is
what a drifted site needs from its labels (measured: docs/demo.md). On the normal look it is worse than v1, which
is why the student keeps v1's domain through the training job's `replay` channel. The detector and label reader
have no teacher yet: the labeler uses v1 for them (edgecv.jobs.teacher).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".edgecv" / "datasets"
STAGES = (  # (name, [(domain, seed, frames)], hyperparameters)
    ("wide", [("wide", 4242, 800)], {"steps": "1500", "lr": "0.001", "seed": "21", "batch_size": "64"}),
    ("wide+dark", [("wide", 4242, 800), ("dark", 4343, 700)],
     {"steps": "2000", "lr": "0.001", "seed": "22", "batch_size": "64"}),
)


def dataset(domain: str, seed: int, frames: int) -> Path:
    from training.synth.dataset import write_dataset
    from training.synth.scene import DomainKnobs

    out = DATA / f"{domain}-{seed}-{frames}"
    if not (out / "annotations.json").is_file():
        print(f"rendering {frames} frames of the {domain} domain (seed {seed}) into {out}", flush=True)
        write_dataset(out, seed, frames, DomainKnobs.named(domain), workers=2)
    return out


def main(argv: list[str] | None = None) -> int:
    from training import train_damage
    from training.synth.dataset import merge_datasets

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "training" / "teacher" / "damage_classifier" / "1")
    args = ap.parse_args(argv)
    init = ROOT / "training" / "checkpoints" / "v1" / "damage_classifier"
    with tempfile.TemporaryDirectory(prefix="edgecv-teacher-") as tmp_name:
        tmp = Path(tmp_name)
        for i, (name, parts, hyperparameters) in enumerate(STAGES):
            sets = {f"{domain}-{seed}": dataset(domain, seed, frames) for domain, seed, frames in parts}
            train = next(iter(sets.values())) if len(sets) == 1 else merge_datasets(tmp / f"data-{i}", sets)
            model_dir = tmp / f"stage-{i}"
            hp = [a for k, v in hyperparameters.items() for a in ("--hp", f"{k}={v}")]
            print(f"stage {i + 1}/{len(STAGES)}: {name}", flush=True)
            code = train_damage.main(["--model-dir", str(model_dir), "--channel", f"train={train}",
                                      "--channel", f"init={init}", *hp])
            if code:
                return code
            init = model_dir
        lineage = json.loads((init / "lineage.json").read_text())
        lineage["role"] = "teacher"
        lineage["stages"] = [{"name": name, "data": [{"domain": d, "seed": s, "frames": f} for d, s, f in parts],
                              "hyperparameters": hp} for name, parts, hp in STAGES]
        lineage["training"]["init"] = "training/checkpoints/v1/damage_classifier/model.pt, then stage by stage"
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(init / "model.onnx", args.out / "model.onnx")
        (args.out / "lineage.json").write_text(json.dumps(lineage, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
