"""The damage teacher used for auto-labeling: v1's damage classifier fine-tuned with domain randomisation.

    python -m training.train_teacher_damage [--out training/teacher/damage_classifier/1]

Renders 800 frames of the `wide` domain (seed 4242: dim light, dark loads, noise, blur, JPEG; the training fonts
and backgrounds), then runs the same SageMaker-convention entry point (`training.train_damage`) from v1's
checkpoint (`training/checkpoints/v1/damage_classifier`) for 1500 steps. About 6 minutes on 2 cores. The teacher
has v1's size; what it has that v1 lacks is the wider look, which is what a drifted site needs from its labels.
The detector and label reader have no teacher yet: the labeler uses v1 for them (lambdas.autolabel.teacher).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED, FRAMES = 4242, 800
HYPERPARAMETERS = {"steps": "1500", "lr": "0.001", "seed": "21", "batch_size": "64"}


def main(argv: list[str] | None = None) -> int:
    from training import train_damage
    from training.synth.dataset import write_dataset
    from training.synth.scene import DomainKnobs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "training" / "teacher" / "damage_classifier" / "1")
    ap.add_argument("--data", type=Path, default=ROOT / ".edgecv" / "datasets" / f"wide-{SEED}-{FRAMES}")
    args = ap.parse_args(argv)
    if not (args.data / "annotations.json").is_file():
        print(f"rendering {FRAMES} frames of the wide domain (seed {SEED}) into {args.data}", flush=True)
        write_dataset(args.data, SEED, FRAMES, DomainKnobs.wide_preset(), workers=1)
    init = ROOT / "training" / "checkpoints" / "v1" / "damage_classifier"
    with tempfile.TemporaryDirectory(prefix="edgecv-teacher-") as tmp:
        hp = [a for k, v in HYPERPARAMETERS.items() for a in ("--hp", f"{k}={v}")]
        code = train_damage.main(["--model-dir", tmp, "--channel", f"train={args.data}", "--channel",
                                  f"init={init}", *hp])
        if code:
            return code
        lineage = json.loads((Path(tmp) / "lineage.json").read_text())
        lineage["role"] = "teacher"
        lineage["dataset"].update({"seed": SEED, "frames": FRAMES, "domain": "wide", "generator": "training.synth"})
        lineage["training"]["init"] = "training/checkpoints/v1/damage_classifier/model.pt"
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(tmp) / "model.onnx", args.out / "model.onnx")
        (args.out / "lineage.json").write_text(json.dumps(lineage, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
