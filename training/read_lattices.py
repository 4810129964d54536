"""Dump what the networks say about an annotated set, so decoding rules and thresholds can be studied
without running the networks again: per matched label the reader's two CTC lattices (its views merged, as
served) and the truth, per matched pallet the damage score (its views merged) and the truth.

    .venv/bin/python -m training.read_lattices --dataset .edgecv/datasets/val --out .edgecv/lattices/val.npz

Also counts how many detected labels and pallets matched nothing (they do not enter OCR or damage
scores: `contracts/evaluation.py` scores OCR and damage on matches only).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.annotations import load_annotation_set
from contracts.evaluation import greedy_match
from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline
from training.evaluation import load_frame


@dataclass(frozen=True)
class Lattices:
    """The reader's outputs on matched labels and the damage scores of matched pallets, with truth."""

    pro_log_probs: np.ndarray  # (N, T, 11)
    dest_log_probs: np.ndarray  # (N, T, 27)
    pro_truth: np.ndarray  # (N,) str
    dest_truth: np.ndarray  # (N,) str
    damage_scores: np.ndarray  # (M,)
    damaged_truth: np.ndarray  # (M,) bool

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **self.__dict__)

    @classmethod
    def load(cls, path: Path) -> Lattices:
        with np.load(path) as data:
            return cls(**{k: data[k] for k in data.files})


def collect(dataset: Path, pipeline: OnnxPalletPipeline) -> Lattices:
    pro, dest, pro_t, dest_t, dmg, dmg_t = [], [], [], [], [], []
    for frame in load_annotation_set(dataset).frames:
        image = load_frame(dataset, frame.image, frame.width, frame.height)
        det = pipeline.detect(image)
        labels, pallets = det.of_class("label"), det.of_class("pallet")
        truth = [p.label for p in frame.pallets if p.label is not None]
        matches = greedy_match([t.bbox.as_list() for t in truth], labels.boxes.tolist(), labels.scores.tolist())
        if matches:
            pro_lp, dest_lp = pipeline.label_lattices(image, labels.boxes[list(matches)])
            for k, ti in enumerate(matches.values()):
                pro.append(pro_lp[k])
                dest.append(dest_lp[k])
                pro_t.append(truth[ti].pro)
                dest_t.append(truth[ti].dest)
        pm = greedy_match([p.bbox.as_list() for p in frame.pallets], pallets.boxes.tolist(), pallets.scores.tolist())
        if pm:
            scores = pipeline.damage_scores(image, pallets.boxes[list(pm)])
            dmg.extend(scores.tolist())
            dmg_t.extend(frame.pallets[ti].damaged for ti in pm.values())
    return Lattices(np.stack(pro), np.stack(dest), np.array(pro_t), np.array(dest_t),
                    np.array(dmg, np.float32), np.array(dmg_t, bool))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--models", type=Path, help="flat dir of ONNX files (default: repository v1)")
    args = ap.parse_args(argv)
    paths = ModelPaths.from_dir(args.models) if args.models else ModelPaths.from_repository()
    lattices = collect(args.dataset, OnnxPalletPipeline(paths))
    lattices.save(args.out)
    print(f"{args.out}: {len(lattices.pro_truth)} labels, {len(lattices.damage_scores)} pallets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
