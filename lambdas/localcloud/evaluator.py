"""`Evaluator` for local runs: `edgecv eval --dataset DIR --out FILE` as a subprocess.

The candidate's folder is passed as `EDGECV_CANDIDATE_MODEL_DIR` in the environment (the evaluation
command decides how it loads it into the local Triton). Exit non-zero: the evaluation failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEFAULT_COMMAND = (sys.executable, "-m", "edgecv.cli", "eval")


class SubprocessEvaluator:
    def __init__(self, command: Sequence[str] = DEFAULT_COMMAND, cwd: Path | None = None, timeout_s: float = 900,
                 env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.timeout_s = timeout_s
        self.env = env or {}

    def evaluate(self, model_dir: Path, dataset_dir: Path) -> dict:
        with tempfile.TemporaryDirectory(prefix="edgecv-evalout-") as tmp:
            out = Path(tmp) / "eval.json"
            env = {**os.environ, **self.env, "EDGECV_CANDIDATE_MODEL_DIR": str(model_dir)}
            try:
                proc = subprocess.run([*self.command, "--dataset", str(dataset_dir), "--out", str(out)],
                                      cwd=self.cwd, env=env, capture_output=True, text=True, timeout=self.timeout_s,
                                      check=False)
            except subprocess.TimeoutExpired as exc:
                raise ValueError(f"evaluation ran past {self.timeout_s:.0f} s") from exc
            if proc.returncode != 0:
                last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
                raise ValueError(f"evaluation exited {proc.returncode}: {last}")
            try:
                return json.loads(out.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"evaluation wrote no readable report: {exc}") from exc
