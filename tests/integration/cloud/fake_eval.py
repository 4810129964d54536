"""Stand-in for `edgecv eval` in the cloud pipeline tests: same flags, same output format.

Checks what it was given (the golden set, the candidate's folder), then writes an `edgecv-eval/1` report
whose gated figures are all EDGECV_FAKE_EVAL_SCORE, so a test chooses whether the gate passes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    frames = json.loads((Path(args.dataset) / "annotations.json").read_text())["frames"]
    candidate = Path(os.environ["EDGECV_CANDIDATE_MODEL_DIR"])
    if not any(candidate.iterdir()):
        print("the candidate folder is empty", file=sys.stderr)
        return 2
    s = float(os.environ["EDGECV_FAKE_EVAL_SCORE"])
    prf = {"precision": s, "recall": s, "f1": s}
    report = {"format": "edgecv-eval/1", "dataset": args.dataset, "frames": len(frames), "model_versions": {},
              "detection": {"pallet": prf, "label": prf}, "ocr": {"n": 1, "exact_match": s, "cer": 1 - s},
              "damage": {"n": 1, **prf}, "pallet_count_accuracy": s,
              "latency_ms": {"p50": 1.0, "p95": 1.0, "p99": 1.0}}
    Path(args.out).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
