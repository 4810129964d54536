"""Evaluate the trained candidate on the golden set and apply the gate.

The golden set (`edgecv-annotations/1` under the configured curated prefix) and the training output
(`model.tar.gz`) are fetched to a scratch folder; the training output is laid out as the candidate Triton
version (production + 1, `lambdas.export.layout`, the same files the export step ships); the injected
`Evaluator` runs the ensemble with that version pinned for the retrained network and every other network
pinned to its production version (one approved after v1 comes from its signed bundle,
`lambdas.evaluate.production`), and returns `edgecv-eval/1`. The report, the pins and the gates applied
are kept under `runs/`.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Any

from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError, EvaluationError
from lambdas.common.events import EvaluationResult, TrainingState
from lambdas.common.interfaces import Candidate
from lambdas.common.layout import run_key
from lambdas.common.registry import PackageVersion, packages, production
from lambdas.common.s3io import list_keys, put_json
from lambdas.evaluate.gate import NETWORK_METRICS, UnknownNetworkError, gates_for, judge
from lambdas.evaluate.production import fetch_production_versions
from lambdas.export.layout import lay_out_version, run_lineage

BASE_VERSION = 1  # the seed models shipped in model_repository/ are version 1


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ArtifactMissingError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def download_prefix(s3: Any, bucket: str, prefix: str, dest: Path) -> int:
    count = 0
    for key in list_keys(s3, bucket, prefix):
        rel = key[len(prefix):].lstrip("/")
        if not rel or ".." in Path(rel).parts:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        count += 1
    return count


def fetch_model(s3: Any, uri: str, dest: Path) -> Path:
    bucket, key = split_s3_uri(uri)
    archive = dest.parent / "model.tar.gz"
    s3.download_file(bucket, key, str(archive))
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def candidate_version(versions: list[PackageVersion]) -> int:
    """The next version of a model line: production + 1 (the highest registered + 1, so a retried or
    rejected run never reuses a version whose bundle key is already taken)."""
    return max([BASE_VERSION, *(p.version for p in versions)]) + 1


def production_packages(sm: Any, networks: tuple[str, ...] = tuple(NETWORK_METRICS)
                        ) -> dict[str, PackageVersion | None]:
    """Each network's newest approved package (None: the shipped v1 serves)."""
    return {name: production(packages(sm, name)) for name in networks}


def evaluate(state: TrainingState, deps: Deps) -> EvaluationResult:
    if state.training is None or not state.training.model_artifact:
        raise EvaluationError("the state has no completed training job")
    s3, sm, st = deps.aws("s3"), deps.aws("sagemaker"), deps.settings
    evaluator = deps.need("evaluator")
    try:
        gates = gates_for(state.model_name, state.config.gates)
    except UnknownNetworkError as exc:
        raise EvaluationError(str(exc)) from exc
    versions = packages(sm, state.model_name)
    prod = production(versions)
    version = candidate_version(versions)
    others = {n: p for n, p in production_packages(sm).items() if n != state.model_name}
    pins = {**{n: p.version if p else BASE_VERSION for n, p in others.items()}, state.model_name: version}
    with tempfile.TemporaryDirectory(prefix="edgecv-eval-") as tmp:
        golden = Path(tmp) / "golden"
        if not download_prefix(s3, st.curated_bucket, state.config.golden_prefix, golden):
            raise ArtifactMissingError(f"no golden set under s3://{st.curated_bucket}/{state.config.golden_prefix}")
        output = fetch_model(s3, state.training.model_artifact, Path(tmp) / "model")
        version_dir = lay_out_version(output, state.model_name, version, Path(tmp) / "candidate", run_lineage(state))
        production_dirs = fetch_production_versions(s3, deps.aws("kms"), st.signing_key_id, others, BASE_VERSION,
                                                    Path(tmp) / "production")
        candidate = Candidate(model_name=state.model_name, version=version, version_dir=version_dir, pins=pins,
                              production_dirs=production_dirs)
        try:
            report = evaluator.evaluate(candidate, golden)
        except (OSError, ValueError) as exc:
            raise EvaluationError(f"evaluation failed: {exc}") from exc
    try:
        verdict, failures, metrics = judge(report, prod.metrics if prod else None, state.config.max_regression,
                                           gates=gates)
    except (KeyError, TypeError) as exc:
        raise EvaluationError(f"the evaluation report lacks a gated metric: {exc}") from exc
    report_key = run_key(state.run_id, "eval")
    put_json(s3, st.curated_bucket, report_key,
             {"report": report, "failures": failures, "candidate": {"model": state.model_name, "version": version},
              "pins": pins, "gates": {".".join(p): v for p, v in gates.items()}})
    return EvaluationResult(verdict=verdict, failures=failures, candidate_version=version,
                            production_version=prod.version if prod else None, report_key=report_key,
                            metrics=metrics)
