"""Error analysis of the damage decision on a rendered set: recall by damage kind, by how many kinds a pallet has,
by pallet size and for pallets cut by the frame's edge (the renderer records each pallet's kinds in the set's
`generator.json`; the annotation format has only `damaged`).

    .venv/bin/python -m training.damage_analysis --dataset .edgecv/datasets/tune17 [--models DIR] [--threshold T]

The decision is the served one: both views of each matched pallet (`damage_scores`) against the threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.annotations import load_annotation_set
from contracts.evaluation import greedy_match
from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline
from model_repository.processing import DAMAGE_THRESHOLD
from training.evaluation import load_frame


@dataclass(frozen=True)
class DamagedPallet:
    """One damaged pallet of the truth: its kinds, box area (px), whether the frame cuts it, and the score the
    served classifier gave it (None when the detector did not find the pallet)."""

    kinds: tuple[str, ...]
    area: float
    at_edge: bool
    score: float | None


def damaged_pallets(dataset: Path, pipeline: OnnxPalletPipeline) -> list[DamagedPallet]:
    meta = json.loads((dataset / "generator.json").read_text()) if (dataset / "generator.json").is_file() else {}
    if "damage_kinds" not in meta:
        raise SystemExit(f"{dataset}: no damage kinds recorded (generator.json of a set rendered by edgecv)")
    kinds = meta["damage_kinds"]
    rows = []
    for fi, frame in enumerate(load_annotation_set(dataset).frames):
        image = load_frame(dataset, frame.image, frame.width, frame.height)
        pallets = pipeline.detect(image).of_class("pallet")
        matches = greedy_match([p.bbox.as_list() for p in frame.pallets], pallets.boxes.tolist(),
                               pallets.scores.tolist())
        scores = pipeline.damage_scores(image, pallets.boxes[list(matches)]) if matches else []
        by_truth = {ti: float(s) for ti, s in zip(matches.values(), scores, strict=True)}
        for ti, pallet in enumerate(frame.pallets):
            if pallet.damaged:
                x1, y1, x2, y2 = pallet.bbox.as_list()
                cut = x1 <= 1 or y1 <= 1 or x2 >= frame.width - 1 or y2 >= frame.height - 1
                rows.append(DamagedPallet(tuple(kinds[fi][ti]), (x2 - x1) * (y2 - y1), cut, by_truth.get(ti)))
    return rows


def recall_by(rows: Iterable[DamagedPallet], groups: Callable[[DamagedPallet], Iterable[str]],
              threshold: float) -> dict[str, dict]:
    """Per group: damaged pallets, those the detector missed, recall of the found ones, median score of their misses."""
    grouped: dict[str, list[DamagedPallet]] = defaultdict(list)
    for row in rows:
        for group in groups(row):
            grouped[group].append(row)
    out = {}
    for group in sorted(grouped):
        found = [r.score for r in grouped[group] if r.score is not None]
        missed = [s for s in found if s < threshold]
        out[group] = {"damaged": len(grouped[group]), "not_detected": len(grouped[group]) - len(found),
                      "recall": round(1 - len(missed) / len(found), 4) if found else None,
                      "median_score_of_misses": round(float(np.median(missed)), 3) if missed else None}
    return out


def summarise(rows: list[DamagedPallet], threshold: float) -> dict:
    quartiles = np.quantile([r.area for r in rows], [0.25, 0.5, 0.75]) if rows else np.zeros(3)
    return {
        "threshold": threshold, "damaged_pallets": len(rows),
        "by_kind": recall_by(rows, lambda r: r.kinds or ("(none recorded)",), threshold),
        "by_kinds_on_pallet": recall_by(rows, lambda r: (str(len(r.kinds)),), threshold),
        "by_area_quartile": recall_by(rows, lambda r: (f"q{int(np.searchsorted(quartiles, r.area)) + 1}",),
                                      threshold),
        "by_frame_edge": recall_by(rows, lambda r: ("cut by the edge" if r.at_edge else "whole",), threshold),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--models", type=Path, help="flat dir of ONNX files (default: repository v1)")
    ap.add_argument("--threshold", type=float, default=DAMAGE_THRESHOLD, help="default: the served threshold")
    args = ap.parse_args(argv)
    if not (args.dataset / "annotations.json").is_file():
        print(f"error: {args.dataset} has no annotations.json", file=sys.stderr)
        return 2
    paths = ModelPaths.from_dir(args.models) if args.models else ModelPaths.from_repository()
    print(json.dumps(summarise(damaged_pallets(args.dataset, OnnxPalletPipeline(paths)), args.threshold), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
