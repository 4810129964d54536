"""Evaluation job: a candidate version in production's ensemble, on the golden set, through a real Triton.

    python -m edgecv.jobs.evaluate_candidate --input-root IN --output-root OUT \
        --candidate ocr=2 --pin detector=1 --pin damage_classifier=2

Inputs: `golden/` (an `edgecv-annotations/1` set) and `versions/` (`<network>/<version>/` folders: the
candidate's, and every production version after v1, fetched from its signed bundle by the gate's start step).
The candidate repository is a copy of the production repository (this checkout's `model_repository/`: every
model folder with its `config.pbtxt` and v1) plus those version folders. It then runs the real
`edgecv eval --repository REPO --pin NETWORK=V ...` with every network pinned, and checks that the report's
`triton.versions` (what the ensemble actually served) equal the pins. Output: `report/eval.json`.
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

from edgecv.jobs import JobInputError, channel, job_parser, parse_pin

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_REPOSITORY = REPO_ROOT / "model_repository"
EVAL_COMMAND = (sys.executable, "-m", "edgecv.cli", "eval")
REPORT = "eval.json"


class EvaluationFailedError(Exception):
    """`edgecv eval` failed, or served something other than the pins."""


def _ignore(_directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def _files(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def build_candidate_repository(production: Path, versions: Path, candidate: tuple[str, int],
                               pins: Mapping[str, int], dest: Path) -> Path:
    """Copy every model folder of `production` (those with a config.pbtxt) to `dest`, then add every
    `<network>/<version>/` folder of `versions`: the candidate must be new; a production version the
    repository already holds must be byte-identical to its bundle's."""
    production, dest = Path(production), Path(dest)
    models = sorted(p for p in production.iterdir() if (p / "config.pbtxt").is_file())
    if not models:
        raise JobInputError(f"{production} holds no Triton model folders")
    dest.mkdir(parents=True, exist_ok=True)
    for model in models:
        shutil.copytree(model, dest / model.name, ignore=_ignore)
    added = sorted(v for n in sorted(Path(versions).iterdir()) if n.is_dir() for v in n.iterdir() if v.is_dir())
    if not any(v.parent.name == candidate[0] and v.name == str(candidate[1]) for v in added):
        raise JobInputError(f"the versions input lacks the candidate {candidate[0]}/{candidate[1]}")
    for version_dir in added:
        name = version_dir.parent.name
        target = dest / name / version_dir.name
        if not target.parent.is_dir():
            raise JobInputError(f"{production} has no model {name}")
        if (name, version_dir.name) == (candidate[0], str(candidate[1])):
            if target.exists():
                raise JobInputError(f"{production} already has {name}/{version_dir.name}: "
                                    f"a candidate never replaces a served version")
        elif target.exists():
            if _files(target) != _files(version_dir):
                raise JobInputError(f"{name}/{version_dir.name} in {production} differs from its released bundle")
            continue
        shutil.copytree(version_dir, target)
    missing = [f"{name}/{v}" for name, v in sorted(pins.items()) if not (dest / name / str(v)).is_dir()]
    if missing:
        raise JobInputError(f"the candidate repository lacks pinned version(s) {', '.join(missing)}")
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
        raise EvaluationFailedError(f"the evaluation served {wrong}, not the pinned versions {dict(pins)}")


def run_eval(golden: Path, repository: Path, pins: Mapping[str, int], out: Path,
             command: Sequence[str] = EVAL_COMMAND, timeout_s: float = 3000) -> dict:
    argv = eval_argv(command, golden, out, repository, pins)
    try:
        proc = subprocess.run(argv, cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EvaluationFailedError(f"edgecv eval ran past {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise EvaluationFailedError(f"edgecv eval exited {proc.returncode}: {last}")
    try:
        report = json.loads(out.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EvaluationFailedError(f"edgecv eval wrote no readable report: {exc}") from exc
    check_served(report, pins)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = job_parser("Evaluate a candidate network version in production's ensemble on the golden set.")
    parser.add_argument("--candidate", required=True, help="NETWORK=VERSION of the retrained network")
    parser.add_argument("--pin", action="append", default=[], help="NETWORK=VERSION, one per network")
    parser.add_argument("--production-repository", type=Path, default=PRODUCTION_REPOSITORY)
    args = parser.parse_args(argv)
    try:
        candidate = parse_pin(args.candidate)
        pins = dict(parse_pin(p) for p in args.pin)
        if pins.get(candidate[0]) != candidate[1]:
            raise JobInputError(f"the pins {pins} do not pin the candidate {candidate[0]}={candidate[1]}")
        golden, versions = channel(args.input_root, "golden"), channel(args.input_root, "versions")
        out_dir = args.output_root / "report"
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="edgecv-candidate-") as tmp:
            repository = build_candidate_repository(args.production_repository, versions, candidate, pins,
                                                    Path(tmp) / "repository")
            report = run_eval(golden, repository, pins, Path(tmp) / REPORT)
        staging = out_dir / f".{REPORT}.partial"
        staging.write_text(json.dumps(report, indent=2))
        staging.replace(out_dir / REPORT)
    except (JobInputError, EvaluationFailedError, OSError) as exc:
        print(f"evaluation job: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, JobInputError) else 1
    print(f"evaluation job: {candidate[0]} v{candidate[1]} evaluated on {report.get('frames')} frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
