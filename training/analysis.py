"""Error analysis of the label reader on an annotated set: accuracy by label height and the
accept-threshold trade-off (used to choose MIN_READ_CONFIDENCE on the val set).

    .venv/bin/python -m training.analysis --dataset .edgecv/datasets/val [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from contracts.annotations import load_annotation_set
from contracts.evaluation import greedy_match
from model_repository.onnx_pipeline import ModelPaths, OnnxPalletPipeline
from training.evaluation import load_frame

HEIGHT_BINS = ((80, 110), (110, 140), (140, 170), (170, 10_000))
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def label_reads(dataset: Path, pipeline: OnnxPalletPipeline) -> list[dict]:
    """One row per ground-truth label matched by a detected label."""
    rows = []
    annotations = load_annotation_set(dataset)
    for frame in annotations.frames:
        image = load_frame(dataset, frame.image, frame.width, frame.height)
        labels = pipeline.detect(image).of_class("label")
        truth = [p.label for p in frame.pallets if p.label is not None]
        matches = greedy_match([t.bbox.as_list() for t in truth], labels.boxes.tolist(), labels.scores.tolist())
        reads = pipeline.read_labels(image, labels.boxes)
        for li, ti in matches.items():
            read, want = reads[li], truth[ti]
            rows.append({
                "height": want.bbox.y2 - want.bbox.y1, "confidence": read.confidence,
                "well_formed": read.check_digit_ok and len(read.raw_dest) == 3,
                "pro_right": read.raw_pro == want.pro, "dest_right": read.raw_dest == want.dest,
            })
    return rows


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    out: dict = {"labels": n, "by_height": {}, "thresholds": {}}
    for lo, hi in HEIGHT_BINS:
        sel = [r for r in rows if lo <= r["height"] < hi]
        if sel:
            out["by_height"][f"{lo}-{hi}"] = {
                "n": len(sel), "pro_right": round(float(np.mean([r["pro_right"] for r in sel])), 3),
                "dest_right": round(float(np.mean([r["dest_right"] for r in sel])), 3),
            }
    for tau in THRESHOLDS:
        accepted = [r for r in rows if r["well_formed"] and r["confidence"] >= tau]
        wrong = sum(not (r["pro_right"] and r["dest_right"]) for r in accepted)
        out["thresholds"][str(tau)] = {
            "exact_match": round((len(accepted) - wrong) / n, 4) if n else 0.0, "accepted": len(accepted),
            "wrong_among_accepted": round(wrong / len(accepted), 4) if accepted else 0.0,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--models", type=Path, help="flat dir of ONNX files (default: repository v1)")
    args = ap.parse_args(argv)
    paths = ModelPaths.from_dir(args.models) if args.models else ModelPaths.from_repository()
    print(json.dumps(summarise(label_reads(args.dataset, OnnxPalletPipeline(paths))), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
