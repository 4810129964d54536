"""`Evaluator` for local runs: a candidate Triton repository and the real `edgecv eval` over it, as a subprocess.

The candidate repository is a copy of the production repository (by default the shipped `model_repository/`:
every model folder with its `config.pbtxt` and versions) plus the candidate's version folder. The evaluation
runs `edgecv eval --dataset DIR --out FILE --repository CANDIDATE_REPO --pin NETWORK=V ...` with every network
pinned: the retrained one to the candidate version, the others to their production versions. The report's
`triton.versions` (what the ensemble actually served) must equal those pins, or the evaluation is refused.
Exit non-zero, a timeout, or an unreadable report: the evaluation failed (ValueError / OSError).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from lambdas.common.interfaces import Candidate

DEFAULT_COMMAND = (sys.executable, "-m", "edgecv.cli", "eval")
REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_REPOSITORY = REPO_ROOT / "model_repository"


def _ignore(_directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def _add_production_version(target: Path, version_dir: Path) -> None:
    """A production version fetched from its bundle; one the repository already holds must be the same files."""
    if not target.parent.is_dir():
        raise ValueError(f"the production repository has no model {target.parent.name}")
    if target.exists():
        ours = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
        theirs = {p.relative_to(version_dir): p.read_bytes() for p in version_dir.rglob("*") if p.is_file()}
        if ours != theirs:
            raise ValueError(f"{target.parent.name}/{target.name} in the repository differs from its released bundle")
        return
    shutil.copytree(version_dir, target)


def build_candidate_repository(production: Path, candidate: Candidate, dest: Path) -> Path:
    """Copy every model folder of `production` (those with a config.pbtxt) to `dest`, then add the candidate
    and the production versions fetched from their bundles."""
    production, dest = Path(production), Path(dest)
    models = sorted(p for p in production.iterdir() if (p / "config.pbtxt").is_file())
    if not models:
        raise ValueError(f"{production} holds no Triton model folders")
    dest.mkdir(parents=True, exist_ok=True)
    for model in models:
        shutil.copytree(model, dest / model.name, ignore=_ignore)
    target = dest / candidate.model_name / str(candidate.version)
    if not (dest / candidate.model_name).is_dir():
        raise ValueError(f"{production} has no model {candidate.model_name}")
    if target.exists():
        raise ValueError(f"{production} already has {candidate.model_name}/{candidate.version}: "
                         f"a candidate never replaces a served version")
    shutil.copytree(candidate.version_dir, target)
    for name, version_dir in sorted(candidate.production_dirs.items()):
        _add_production_version(dest / name / Path(version_dir).name, Path(version_dir))
    missing = [f"{name}/{v}" for name, v in sorted(candidate.pins.items()) if not (dest / name / str(v)).is_dir()]
    if missing:
        raise ValueError(f"the candidate repository lacks pinned version(s) {', '.join(missing)}")
    return dest


def eval_argv(command: Sequence[str], dataset_dir: Path, out: Path, repository: Path,
              pins: Mapping[str, int]) -> list[str]:
    argv = [*command, "--dataset", str(dataset_dir), "--out", str(out), "--repository", str(repository)]
    for name, version in sorted(pins.items()):
        argv += ["--pin", f"{name}={version}"]
    return argv


def check_served(report: dict, pins: Mapping[str, int]) -> None:
    """The ensemble must have served exactly the pinned versions (else the score is not the candidate's)."""
    served = (report.get("triton") or {}).get("versions") or report.get("model_versions") or {}
    wrong = {name: served.get(name) for name, v in pins.items() if str(served.get(name)) != str(v)}
    if wrong:
        raise ValueError(f"the evaluation served {wrong}, not the pinned versions {dict(pins)}")


class SubprocessEvaluator:
    def __init__(self, production_repository: Path = PRODUCTION_REPOSITORY, command: Sequence[str] = DEFAULT_COMMAND,
                 cwd: Path | None = REPO_ROOT, timeout_s: float = 900, env: dict[str, str] | None = None) -> None:
        self.production_repository = Path(production_repository)
        self.command = list(command)
        self.cwd = cwd
        self.timeout_s = timeout_s
        self.env = env or {}

    def evaluate(self, candidate: Candidate, dataset_dir: Path) -> dict:
        with tempfile.TemporaryDirectory(prefix="edgecv-candidate-") as tmp:
            repository = build_candidate_repository(self.production_repository, candidate, Path(tmp) / "repository")
            out = Path(tmp) / "eval.json"
            argv = eval_argv(self.command, dataset_dir, out, repository, candidate.pins)
            try:
                proc = subprocess.run(argv, cwd=self.cwd, env={**os.environ, **self.env}, capture_output=True,
                                      text=True, timeout=self.timeout_s, check=False)
            except subprocess.TimeoutExpired as exc:
                raise ValueError(f"evaluation ran past {self.timeout_s:.0f} s") from exc
            if proc.returncode != 0:
                last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
                raise ValueError(f"evaluation exited {proc.returncode}: {last}")
            try:
                report = json.loads(out.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"evaluation wrote no readable report: {exc}") from exc
        check_served(report, candidate.pins)
        return report
