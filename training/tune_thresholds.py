"""Choose the read-confidence and damage thresholds on a tuning set by fixed rules, and show what any
threshold does on other sets (from lattices dumped by `training.read_lattices`).

    .venv/bin/python -m training.tune_thresholds --tune .edgecv/lattices/tune17.npz \\
        --report .edgecv/lattices/golden.npz .edgecv/lattices/shifted.npz

Rules (never applied to the golden set):
- read confidence: the lowest threshold whose wrong answers are at most `MAX_WRONG_SHARE` of the answers
  given (a wrong PRO is worse than none), which gives the most right answers under that bound;
- damage: the threshold of the best F1 among those with precision >= `MIN_DAMAGE_PRECISION`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_repository import processing as P
from training.read_lattices import Lattices

MAX_WRONG_SHARE = 0.02  # v1's greedy decoder gave 2.25% on the tuning set: no more wrong answers than that
MIN_DAMAGE_PRECISION = 0.95
READ_GRID = tuple(round(x, 2) for x in np.arange(0.0, 0.96, 0.01))
DAMAGE_GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.01))


@dataclass(frozen=True)
class ReadOutcome:
    """One matched label decoded with no confidence floor."""

    confidence: float
    well_formed: bool
    right: bool


def read_outcomes(lattices: Lattices) -> tuple[list[ReadOutcome], float]:
    """Decode every label (no floor) and the mean decode time per label in ms."""
    out = []
    start = time.perf_counter()
    for pro_lp, dest_lp, pro, dest in zip(lattices.pro_log_probs, lattices.dest_log_probs,
                                          lattices.pro_truth, lattices.dest_truth, strict=True):
        read = P.read_label(pro_lp, dest_lp, min_confidence=0.0)
        out.append(ReadOutcome(read.confidence, read.valid, read.pro == pro and read.dest == dest))
    elapsed = (time.perf_counter() - start) * 1000 / max(len(out), 1)
    return out, elapsed


def read_curve(outcomes: list[ReadOutcome], grid: tuple[float, ...] = READ_GRID) -> dict[float, dict[str, float]]:
    """Per threshold: exact match (right answers / labels), answers given, wrong share of answers."""
    n = len(outcomes)
    curve = {}
    for tau in grid:
        answers = [o for o in outcomes if o.well_formed and o.confidence >= tau and o.confidence > 0.0]
        right = sum(o.right for o in answers)
        curve[tau] = {"exact_match": round(right / n, 4) if n else 0.0,
                      "answered": round(len(answers) / n, 4) if n else 0.0,
                      "wrong_share_of_answers": round((len(answers) - right) / len(answers), 4) if answers else 0.0,
                      "wrong_per_label": round((len(answers) - right) / n, 4) if n else 0.0}
    return curve


def choose_read_threshold(curve: dict[float, dict[str, float]], max_wrong: float = MAX_WRONG_SHARE) -> float:
    ok = [tau for tau, row in curve.items() if row["wrong_share_of_answers"] <= max_wrong]
    if not ok:
        raise ValueError(f"no threshold keeps wrong answers at or below {max_wrong:.0%} of answers")
    return min(ok)


def damage_curve(scores: np.ndarray, truth: np.ndarray,
                 grid: tuple[float, ...] = DAMAGE_GRID) -> dict[float, dict[str, float]]:
    curve = {}
    for tau in grid:
        pred = scores >= tau
        tp = int((pred & truth).sum())
        p = tp / pred.sum() if pred.sum() else 1.0
        r = tp / truth.sum() if truth.sum() else 1.0
        curve[tau] = {"precision": round(p, 4), "recall": round(r, 4),
                      "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}
    return curve


def choose_damage_threshold(curve: dict[float, dict[str, float]], min_precision: float = MIN_DAMAGE_PRECISION) -> float:
    ok = [tau for tau, row in curve.items() if row["precision"] >= min_precision]
    if not ok:
        raise ValueError(f"no threshold reaches damage precision {min_precision}")
    return max(ok, key=lambda tau: (curve[tau]["f1"], -tau))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tune", type=Path, required=True, help="lattices of the tuning set (never golden)")
    ap.add_argument("--report", type=Path, nargs="*", default=[], help="lattices of sets to report at the choice")
    args = ap.parse_args(argv)
    tune = Lattices.load(args.tune)
    reads, ms = read_outcomes(tune)
    rc = read_curve(reads)
    dc = damage_curve(tune.damage_scores, tune.damaged_truth)
    read_tau, damage_tau = choose_read_threshold(rc), choose_damage_threshold(dc)
    out: dict = {"rule": {"max_wrong_share_of_answers": MAX_WRONG_SHARE, "min_damage_precision": MIN_DAMAGE_PRECISION},
                 "chosen": {"min_read_confidence": read_tau, "damage_threshold": damage_tau},
                 "sets": {}}
    for path in [args.tune, *args.report]:
        lat = tune if path == args.tune else Lattices.load(path)
        outcomes, ms = (reads, ms) if path == args.tune else read_outcomes(lat)
        curve = read_curve(outcomes)
        dcurve = damage_curve(lat.damage_scores, lat.damaged_truth, (P.DAMAGE_THRESHOLD, damage_tau))
        out["sets"][path.stem] = {
            "labels": len(outcomes), "decode_ms_per_label": round(ms, 3),
            "read_at_chosen": curve[read_tau], "read_at_current": read_curve(outcomes, (P.MIN_READ_CONFIDENCE,)),
            "read_curve": curve, "damage_at_chosen": dcurve[damage_tau],
            "damage_at_current": dcurve[P.DAMAGE_THRESHOLD],
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
