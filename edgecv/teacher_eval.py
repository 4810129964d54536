"""Score the teacher as it labels: `python -m edgecv.teacher_eval --dataset DIR [--dataset DIR ...]`.

The labeling job reads every label against its site's truck manifests (`TeacherPipelineLabeler.predict` with a
lexicon). Here an annotation set stands in for a site: its lexicon is every (PRO, DEST) pair the set holds (a site's
manifests list each pallet it sees, and many more). Each set is scored with the evaluation harness
(`edgecv-eval/1`): detection, damage and pallet count as the teacher's networks see them, label exact match once
as the edge would read (no lexicon) and once as the teacher labels (with it).

`--network NAME=ONNX` swaps one network (to compare a candidate teacher with the committed one; `label_detector`: where
the label boxes come from, by default the detector, v1's where the teacher has a detector of its own); by default the
teacher is `TeacherPipelineLabeler.local_default()` (trained teacher networks, v1 standing in for the rest).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contracts.annotations import AnnotationSet, load_annotation_set
from contracts.errors import EdgecvError
from edgecv.jobs.teacher import (
    LABEL_DETECTOR,
    NETWORKS,
    STAND_IN_REPOSITORY,
    TEACHER_REPOSITORY,
    TeacherPipelineLabeler,
)


class TeacherEvalError(EdgecvError):
    """Bad arguments to the teacher evaluation."""


def dataset_lexicon(annotations: AnnotationSet) -> list[tuple[str, str]]:
    """Every (PRO, DEST) pair the set's labels hold, sorted."""
    return sorted({(p.label.pro, p.label.dest) for f in annotations.frames for p in f.pallets if p.label is not None})


SWAPPABLE = (*NETWORKS, LABEL_DETECTOR)  # label_detector: where the label boxes come from (default: the detector)


def parse_networks(values: list[str]) -> dict[str, Path]:
    networks: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in SWAPPABLE:
            raise TeacherEvalError(f"--network wants NAME=ONNX with NAME one of {', '.join(SWAPPABLE)}: {value!r}")
        if not Path(path).is_file():
            raise TeacherEvalError(f"--network {name}: no such file {path}")
        networks[name] = Path(path)
    return networks


def teacher_labeler(networks: dict[str, Path], teacher: Path = TEACHER_REPOSITORY) -> TeacherPipelineLabeler:
    base = TeacherPipelineLabeler.local_default(teacher, STAND_IN_REPOSITORY)
    if not networks:
        return base
    merged = {**base.networks, **networks}
    return TeacherPipelineLabeler(STAND_IN_REPOSITORY, "1", networks=merged,
                                  name=f"{base.name} with {', '.join(f'{k}={v}' for k, v in networks.items())}")


def score(dataset: Path, labeler: TeacherPipelineLabeler) -> dict:
    """One pass over the set: each frame predicted once, scored as read and as read against the set's lexicon."""
    from contracts.evaluation import EvalAccumulator
    from training.common import progress
    from training.evaluation import check_images_exist, load_frame

    annotations = load_annotation_set(dataset)
    check_images_exist(dataset, annotations)
    lexicon = dataset_lexicon(annotations)
    as_read, with_lexicon = EvalAccumulator(), EvalAccumulator()
    with progress(f"teacher on {Path(dataset).name}") as bar:
        task = bar.add_task("frames", total=len(annotations.frames), status="")
        for frame in annotations.frames:
            image = load_frame(dataset, frame.image, frame.width, frame.height)
            pred = labeler.predict(image)
            as_read.add(frame, pred)
            with_lexicon.add(frame, labeler.read_in_lexicon(image, pred, lexicon))
            bar.advance(task)
    edge, taught = as_read.report(str(dataset)), with_lexicon.report(str(dataset))
    return {"dataset": str(dataset), "frames": edge["frames"], "lexicon_entries": len(lexicon),
            "detection": edge["detection"], "damage": edge["damage"],
            "pallet_count_accuracy": edge["pallet_count_accuracy"],
            "ocr": {"n": edge["ocr"]["n"], "exact_match_edge_read": edge["ocr"]["exact_match"],
                    "exact_match_with_lexicon": taught["ocr"]["exact_match"]}}


def summary_line(result: dict) -> str:
    det, ocr = result["detection"], result["ocr"]
    people = det.get("person", {}).get("f1")
    return (f"{Path(result['dataset']).name}: {result['frames']} frames; F1 pallet {det['pallet']['f1']:.3f} "
            f"label {det['label']['f1']:.3f} person {people if people is None else round(people, 3)}; "
            f"exact {ocr['exact_match_edge_read']:.3f} as read, {ocr['exact_match_with_lexicon']:.3f} with the "
            f"lexicon (n {ocr['n']}); damage F1 {result['damage']['f1']:.3f}; "
            f"count {result['pallet_count_accuracy']:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, action="append", required=True, help="an edgecv-annotations/1 set")
    ap.add_argument("--network", action="append", default=[], metavar="NAME=ONNX",
                    help=f"use this ONNX file for one network ({', '.join(SWAPPABLE)})")
    ap.add_argument("--teacher", type=Path, default=TEACHER_REPOSITORY, help="the teacher's model repository")
    ap.add_argument("--out", type=Path, help="write the results here (JSON)")
    ap.add_argument("--record", type=Path, metavar="LINEAGE_JSON",
                    help="also record the results in this lineage file (its `teacher_eval`), e.g. a teacher network's")
    args = ap.parse_args(argv)
    try:
        if args.record is not None and not args.record.is_file():
            raise TeacherEvalError(f"--record: no such lineage file {args.record}")
        labeler = teacher_labeler(parse_networks(args.network), args.teacher)
        print(f"teacher: {labeler.name}", flush=True)
        results = []
        for dataset in args.dataset:
            results.append(score(dataset, labeler))
            print(summary_line(results[-1]), flush=True)
    except EdgecvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(json.dumps({"teacher": labeler.name, "results": results}, indent=1) + "\n")
    if args.record:
        record(args.record, labeler.name, results, argv if argv is not None else sys.argv[1:])
    return 0


def record(lineage_path: Path, teacher: str, results: list[dict], argv: list[str]) -> None:
    """Write the results into a lineage file (`teacher_eval`), atomically."""
    from training.evaluation import write_json_atomic

    lineage = json.loads(lineage_path.read_text())
    lineage["teacher_eval"] = {
        "command": "python -m edgecv.teacher_eval " + " ".join(argv), "teacher": teacher,
        "results": {Path(r["dataset"]).name: {
            "frames": r["frames"], "lexicon_entries": r["lexicon_entries"],
            "f1": {k: v["f1"] for k, v in r["detection"].items()},
            "exact_match": {"as_read": r["ocr"]["exact_match_edge_read"],
                            "with_lexicon": r["ocr"]["exact_match_with_lexicon"], "n": r["ocr"]["n"]},
            "damage_f1": r["damage"]["f1"], "pallet_count_accuracy": r["pallet_count_accuracy"]} for r in results}}
    write_json_atomic(lineage_path, lineage)


if __name__ == "__main__":
    sys.exit(main())
