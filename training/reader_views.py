"""Reading labels in one view vs in views (`processing.READ_VIEW_SHIFTS`, as served), on an annotated set
(matched labels only).

    .venv/bin/python -m training.reader_views --dataset .edgecv/datasets/tune17 [--dataset ...]

For every ground-truth label that a detected label matches: the read of the crop alone, at the floor chosen for
one view (`ONE_VIEW_FLOOR`, by `MIN_READ_CONFIDENCE`'s rule before views were served), and the read of the
merged views at `MIN_READ_CONFIDENCE`; and both at several floors. Prints exact match (right answers / labels)
and the share of answers that are wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contracts.annotations import load_annotation_set
from contracts.evaluation import greedy_match
from model_repository import processing as P
from model_repository.onnx_pipeline import REPOSITORY, ModelPaths, OnnxPalletPipeline
from training.evaluation import load_frame
from training.tune_thresholds import ReadOutcome, read_curve

FLOORS = (0.0, 0.05, 0.1, 0.15, 0.22, 0.3)
ONE_VIEW_FLOOR = 0.22  # MIN_READ_CONFIDENCE for one view, chosen on tune17 by the same rule


def reads(dataset: Path, pipeline: OnnxPalletPipeline) -> dict[str, list[ReadOutcome]]:
    """Each matched label decoded with no floor, for the crop alone and for the merged views."""
    out: dict[str, list[ReadOutcome]] = {"one view": [], "views": []}
    views = len(P.READ_VIEW_SHIFTS)
    for frame in load_annotation_set(dataset).frames:
        image = load_frame(dataset, frame.image, frame.width, frame.height)
        labels = pipeline.detect(image).of_class("label")
        truth = [p.label for p in frame.pallets if p.label is not None]
        matches = greedy_match([t.bbox.as_list() for t in truth], labels.boxes.tolist(), labels.scores.tolist())
        for li, ti in matches.items():
            pro_lp, dest_lp = pipeline.ocr.run(None, {"label": P.reader_batch(image, labels.boxes[li:li + 1])})
            assert len(pro_lp) == views and P.READ_VIEW_SHIFTS[0] == 0.0  # the first view is the crop itself
            merged = (P.merge_reader_views(pro_lp, 1)[0], P.merge_reader_views(dest_lp, 1)[0])
            for kind, (pro, dest) in {"one view": (pro_lp[0], dest_lp[0]), "views": merged}.items():
                read = P.read_label(pro, dest, min_confidence=0.0)
                right = read.raw_pro == truth[ti].pro and read.raw_dest == truth[ti].dest
                out[kind].append(ReadOutcome(read.confidence, read.valid, right))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, action="append", required=True)
    ap.add_argument("--models", type=Path, help="flat dir of ONNX files (default: repository v1)")
    args = ap.parse_args(argv)
    paths = ModelPaths.from_dir(args.models) if args.models else ModelPaths.from_repository(REPOSITORY, "1")
    pipeline = OnnxPalletPipeline(paths, threads=2)
    for dataset in args.dataset:
        rows = reads(dataset, pipeline)
        one = read_curve(rows["one view"], (ONE_VIEW_FLOOR,))[ONE_VIEW_FLOOR]
        served = read_curve(rows["views"], (P.MIN_READ_CONFIDENCE,))[P.MIN_READ_CONFIDENCE]
        print(f"{dataset.name} ({len(rows['views'])} labels): one view {one['exact_match']:.3f} exact, "
              f"{one['wrong_share_of_answers']:.1%} of answers wrong (floor {ONE_VIEW_FLOOR}); "
              f"{len(P.READ_VIEW_SHIFTS)} views {served['exact_match']:.3f} exact, "
              f"{served['wrong_share_of_answers']:.1%} wrong (floor {P.MIN_READ_CONFIDENCE})")
        for kind in ("one view", "views"):
            print(f"  {kind:8s} " + "  ".join(f"{f}: {row['exact_match']:.3f}/{row['wrong_share_of_answers']:.1%}"
                                               for f, row in read_curve(rows[kind], FLOORS).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
