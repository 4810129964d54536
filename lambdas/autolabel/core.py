"""Auto-label the curated samples of a run with the teacher: start the labeling job, poll it, collect its labels.

Start: the run's curated samples that have no `label.json` yet are listed in a SageMaker manifest file
(`runs/<run>/teacher-input.manifest`); a processing job (`edgecv.jobs.label_samples` in the processing image;
locally the same module as a process) gets exactly those samples and the sites' truck manifests
(`manifests/`, the transport management system's feed), and writes each label next to its sample
(`<sample>/label.json`). Poll: once the job completed, every curated sample must have its label; the labels
manifest (`runs/<run>/labels.json`: prefix and confidence per sample) is what review and the dataset read.
Idempotent per sample: an existing `label.json` is reused (a retried run does not re-label).
A second look at privacy: the teacher finds people better than a site's v1 detector, and a label that reports a
person the site did not blur (`unblurred_people`) withholds its sample: a quarantine record, the frame deleted
from curated, never in the labels manifest (so never reviewed or trained on).
"""

from __future__ import annotations

from typing import Any

from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import LabelResult, TrainingState, TrainingStatus
from lambdas.common.interfaces import ProcessingJobSpec
from lambdas.common.layout import FRAME, LABEL, RECORD, quarantine_key, run_key
from lambdas.common.processing import job_name, write_manifest
from lambdas.common.s3io import delete_for_good, exists, get_json, has_keys, put_json

LABEL_MODULE = "edgecv.jobs.label_samples"
MANIFESTS_PREFIX = "manifests/"  # `layout.manifest_prefix(site)` for every site


def curated_prefixes(s3: Any, bucket: str, state: TrainingState) -> list[str]:
    if state.deid is None:
        raise ArtifactMissingError("the state has no de-identification result")
    return list(get_json(s3, bucket, state.deid.manifest_key)["curated"])


def start_autolabel(state: TrainingState, deps: Deps) -> LabelResult:
    s3, st = deps.aws("s3"), deps.settings
    prefixes = curated_prefixes(s3, st.curated_bucket, state)
    unlabeled = [p for p in prefixes if not exists(s3, st.curated_bucket, f"{p}/{LABEL}")]
    manifest_key = run_key(state.run_id, "labels")
    if not unlabeled:  # nothing to do (a retried run, or an empty one): collect what is there
        return collect_labels(state, deps, LabelResult(manifest_key=manifest_key))
    backend = deps.need("processing")
    base = f"s3://{st.curated_bucket}/"
    samples = write_manifest(s3, st.curated_bucket, f"runs/{state.run_id}/teacher-input.manifest", base,
                             [f"{p}/{name}" for p in unlabeled for name in (RECORD, FRAME)])
    inputs = {"manifests": f"{base}{MANIFESTS_PREFIX}"} if has_keys(s3, st.curated_bucket, MANIFESTS_PREFIX) else {}
    spec = ProcessingJobSpec(
        job_name=job_name("label", state.run_id), module=LABEL_MODULE, inputs=inputs,
        manifest_inputs={"samples": samples}, outputs={"labels": base},
        arguments=["--teacher", state.config.teacher], max_runtime_seconds=state.config.max_runtime_seconds)
    backend.start(spec)
    job = backend.describe(spec.job_name)
    return LabelResult(job_name=spec.job_name, status=job.status, failure_reason=job.failure_reason,
                       manifest_key=manifest_key)


def poll_autolabel(state: TrainingState, deps: Deps) -> LabelResult:
    labels = state.labels
    if labels is None or labels.job_name is None:
        raise ArtifactMissingError("the state has no labeling job")
    job = deps.need("processing").describe(labels.job_name)
    polled = labels.model_copy(update={"status": job.status, "failure_reason": job.failure_reason,
                                       "polls": labels.polls + 1})
    if job.status is not TrainingStatus.COMPLETED:
        return polled
    return collect_labels(state, deps, polled)


def withhold(s3: Any, bucket: str, prefix: str, people: int, run_id: str) -> None:
    """The teacher found `people` the site did not blur: the frame leaves curated, every version of it (the reason
    stays, as the de-identification gate's quarantine keeps it), and the sample is never trained on."""
    put_json(s3, bucket, quarantine_key(prefix),
             {"prefix": prefix, "reason": f"the teacher found {people} person(s) the site did not blur",
              "run_id": run_id})
    delete_for_good(s3, bucket, f"{prefix}/{FRAME}")


def collect_labels(state: TrainingState, deps: Deps, result: LabelResult) -> LabelResult:
    """Every curated sample's label (the job must have labeled them all); the labels manifest for review. A sample
    whose label reports unblurred people (`edgecv.jobs.label_samples.unblurred_people`) is withheld."""
    s3, st = deps.aws("s3"), deps.settings
    entries = []
    withheld = 0
    for prefix in curated_prefixes(s3, st.curated_bucket, state):
        try:
            stored = get_json(s3, st.curated_bucket, f"{prefix}/{LABEL}")
        except ArtifactMissingError as exc:
            raise ArtifactMissingError(f"the labeling job left {prefix} without a label") from exc
        people = int(stored.get("unblurred_people", 0))
        if people:
            withhold(s3, st.curated_bucket, prefix, people, state.run_id)
            withheld += 1
            continue
        entries.append({"prefix": prefix, "confidence": float(stored["confidence"])})
    confidences = [e["confidence"] for e in entries]
    result = result.model_copy(update={
        "labeled": len(entries), "withheld": withheld, "min_confidence": min(confidences, default=0.0),
        "mean_confidence": sum(confidences) / len(confidences) if confidences else 0.0})
    put_json(s3, st.curated_bucket, result.manifest_key, {"labels": entries, "result": result.model_dump(mode="json")})
    return result
