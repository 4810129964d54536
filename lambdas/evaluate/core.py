"""The evaluation gate: start the evaluation job of a trained candidate, poll it, judge its report.

Start: the training output (`model.tar.gz`) is laid out as the candidate Triton version (production + 1,
`lambdas.export.layout`, the same files the export step ships) and staged under `evaluations/<run>/versions/`
in the artifacts bucket with every production version after v1 (fetched from its signed bundle,
`lambdas.evaluate.production`). A processing job (`edgecv.jobs.evaluate_candidate` in the processing image;
locally the same module as a process) runs the ensemble on the golden set with the candidate pinned for the
retrained network and every other network pinned to its production version, and writes `edgecv-eval/1` to
`evaluations/<run>/report/`. Poll: once the job completed, the gate judges that report (per-network gates, no
regression against production); the report, the pins and the gates applied are kept under `runs/`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError, EvaluationError
from lambdas.common.events import EvaluationResult, TrainingState, TrainingStatus
from lambdas.common.interfaces import ProcessingJobSpec
from lambdas.common.layout import run_key
from lambdas.common.processing import job_name
from lambdas.common.registry import PackageVersion, packages, production
from lambdas.common.s3io import fetch_model, get_json, has_keys, put_json
from lambdas.evaluate.gate import NETWORK_METRICS, UnknownNetworkError, gates_for, judge
from lambdas.evaluate.production import fetch_production_versions
from lambdas.export.layout import lay_out_version, run_lineage

BASE_VERSION = 1  # the seed models shipped in model_repository/ are version 1


def candidate_version(versions: list[PackageVersion]) -> int:
    """The next version of a model line: production + 1 (the highest registered + 1, so a retried or
    rejected run never reuses a version whose bundle key is already taken)."""
    return max([BASE_VERSION, *(p.version for p in versions)]) + 1


def production_packages(sm: Any, networks: tuple[str, ...] = tuple(NETWORK_METRICS)
                        ) -> dict[str, PackageVersion | None]:
    """Each network's newest approved package (None: the shipped v1 serves)."""
    return {name: production(packages(sm, name)) for name in networks}


EVALUATION_MODULE = "edgecv.jobs.evaluate_candidate"
REPORT_NAME = "eval.json"


def evaluation_prefix(run_id: str) -> str:
    """Artifacts-bucket prefix of a run's evaluation job: `versions/` in, `report/` out."""
    return f"evaluations/{run_id}/"


def _upload_folder(s3: Any, folder: Path, bucket: str, prefix: str) -> int:
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"{prefix}{path.relative_to(folder).as_posix()}")
            count += 1
    return count


def start_evaluation(state: TrainingState, deps: Deps) -> EvaluationResult:
    """Lay the candidate out as a Triton version, stage it with the production versions after v1, and start
    the evaluation job (`edgecv.jobs.evaluate_candidate` in the processing image)."""
    if state.training is None or not state.training.model_artifact:
        raise EvaluationError("the state has no completed training job")
    s3, sm, st = deps.aws("s3"), deps.aws("sagemaker"), deps.settings
    backend = deps.need("processing")
    try:
        gates_for(state.model_name, state.config.gates)
    except UnknownNetworkError as exc:
        raise EvaluationError(str(exc)) from exc
    if not has_keys(s3, st.curated_bucket, state.config.golden_prefix):
        raise ArtifactMissingError(f"no golden set under s3://{st.curated_bucket}/{state.config.golden_prefix}")
    versions = packages(sm, state.model_name)
    prod = production(versions)
    version = candidate_version(versions)
    others = {n: p for n, p in production_packages(sm).items() if n != state.model_name}
    pins = {**{n: p.version if p else BASE_VERSION for n, p in others.items()}, state.model_name: version}
    prefix = evaluation_prefix(state.run_id)
    with tempfile.TemporaryDirectory(prefix="edgecv-eval-") as tmp:
        staged = Path(tmp) / "versions"
        output = fetch_model(s3, state.training.model_artifact, Path(tmp) / "model")
        lay_out_version(output, state.model_name, version, staged, run_lineage(state))
        fetched = fetch_production_versions(s3, deps.aws("kms"), st.signing_key_id, others, BASE_VERSION,
                                            Path(tmp) / "production")
        for name, version_dir in fetched.items():
            shutil.copytree(version_dir, staged / name / version_dir.name)
        _upload_folder(s3, staged, st.artifacts_bucket, f"{prefix}versions/")
    spec = ProcessingJobSpec(
        job_name=job_name("eval", state.run_id), module=EVALUATION_MODULE,
        inputs={"golden": f"s3://{st.curated_bucket}/{state.config.golden_prefix}",
                "versions": f"s3://{st.artifacts_bucket}/{prefix}versions/"},
        outputs={"report": f"s3://{st.artifacts_bucket}/{prefix}report/"},
        arguments=["--candidate", f"{state.model_name}={version}",
                   *(a for name, v in sorted(pins.items()) for a in ("--pin", f"{name}={v}"))],
        max_runtime_seconds=state.config.max_runtime_seconds)
    backend.start(spec)
    job = backend.describe(spec.job_name)
    return EvaluationResult(job_name=spec.job_name, status=job.status, failure_reason=job.failure_reason,
                            candidate_version=version, production_version=prod.version if prod else None, pins=pins)


def poll_evaluation(state: TrainingState, deps: Deps) -> EvaluationResult:
    """The evaluation job's state; once it completed, the gate's verdict on its report."""
    ev = state.evaluation
    if ev is None:
        raise EvaluationError("the state has no evaluation job")
    job = deps.need("processing").describe(ev.job_name)
    polled = ev.model_copy(update={"status": job.status, "failure_reason": job.failure_reason, "polls": ev.polls + 1})
    if job.status is not TrainingStatus.COMPLETED:
        return polled
    s3, sm, st = deps.aws("s3"), deps.aws("sagemaker"), deps.settings
    report_uri = f"s3://{st.artifacts_bucket}/{evaluation_prefix(state.run_id)}report/{REPORT_NAME}"
    try:
        report = get_json(s3, st.artifacts_bucket, f"{evaluation_prefix(state.run_id)}report/{REPORT_NAME}")
    except ArtifactMissingError as exc:
        raise EvaluationError(f"the evaluation job completed without a report at {report_uri}") from exc
    gates = gates_for(state.model_name, state.config.gates)
    prod = production(packages(sm, state.model_name))
    try:
        verdict, failures, metrics = judge(report, prod.metrics if prod else None, state.config.max_regression,
                                           gates=gates)
    except (KeyError, TypeError) as exc:
        raise EvaluationError(f"the evaluation report lacks a gated metric: {exc}") from exc
    report_key = run_key(state.run_id, "eval")
    put_json(s3, st.curated_bucket, report_key,
             {"report": report, "failures": failures,
              "candidate": {"model": state.model_name, "version": ev.candidate_version},
              "pins": ev.pins, "gates": {".".join(p): v for p, v in gates.items()}, "job": ev.job_name})
    return polled.model_copy(update={"verdict": verdict, "failures": failures, "metrics": metrics,
                                     "report_key": report_key})
