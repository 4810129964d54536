"""How the teacher reads labels vs how the edge does, on an annotated set (matched labels only).

    .venv/bin/python -m training.teacher_reading --dataset .edgecv/datasets/tune17 [--dataset ...]

For every ground-truth label that a detected label matches: the edge's read (one crop, `MIN_READ_CONFIDENCE`)
and the teacher's (`ocr_views` + `average_lattices`, `TEACHER_MIN_READ_CONFIDENCE`), and both lattices' answers
at several floors. Prints exact match (right answers / labels) and the share of answers that are wrong.
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

FLOORS = (0.0, 0.05, 0.1, 0.15, 0.22, 0.3)


def reads(dataset: Path, pipeline: OnnxPalletPipeline) -> dict[str, list[tuple[float, bool, bool]]]:
    """(confidence, well-formed, right) per matched label, for the edge's lattices and the teacher's."""
    out: dict[str, list[tuple[float, bool, bool]]] = {"edge": [], "teacher": []}
    views = len(P.TEACHER_VIEW_SHIFTS)
    for frame in load_annotation_set(dataset).frames:
        image = load_frame(dataset, frame.image, frame.width, frame.height)
        labels = pipeline.detect(image).of_class("label")
        truth = [p.label for p in frame.pallets if p.label is not None]
        matches = greedy_match([t.bbox.as_list() for t in truth], labels.boxes.tolist(), labels.scores.tolist())
        for li, ti in matches.items():
            batch = P.ocr_views(image, labels.boxes[li])
            pro_lp, dest_lp = pipeline.ocr.run(None, {"label": batch})
            assert len(pro_lp) == views
            for kind, (pro, dest) in {"edge": (pro_lp[0], dest_lp[0]),
                                      "teacher": (P.average_lattices(pro_lp), P.average_lattices(dest_lp))}.items():
                read = P.read_label(pro, dest, min_confidence=0.0)
                right = read.raw_pro == truth[ti].pro and read.raw_dest == truth[ti].dest
                out[kind].append((read.confidence, read.valid, right))
    return out


def at_floor(rows: list[tuple[float, bool, bool]], floor: float) -> tuple[float, float]:
    answers = [r for r in rows if r[1] and r[0] >= floor]
    right = sum(r[2] for r in answers)
    return right / max(1, len(rows)), (len(answers) - right) / max(1, len(answers))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, action="append", required=True)
    args = ap.parse_args(argv)
    pipeline = OnnxPalletPipeline(ModelPaths.from_repository(REPOSITORY, "1"), threads=2)
    for dataset in args.dataset:
        rows = reads(dataset, pipeline)
        edge = at_floor(rows["edge"], P.MIN_READ_CONFIDENCE)
        teacher = at_floor(rows["teacher"], P.TEACHER_MIN_READ_CONFIDENCE)
        print(f"{dataset.name} ({len(rows['edge'])} labels): edge {edge[0]:.3f} exact, {edge[1]:.1%} of answers wrong "
              f"(floor {P.MIN_READ_CONFIDENCE}); teacher {teacher[0]:.3f} exact, {teacher[1]:.1%} wrong "
              f"(floor {P.TEACHER_MIN_READ_CONFIDENCE})")
        for kind in ("edge", "teacher"):
            print(f"  {kind:7s} " + "  ".join(f"{f}: {e:.3f}/{w:.1%}" for f in FLOORS
                                              for e, w in [at_floor(rows[kind], f)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
