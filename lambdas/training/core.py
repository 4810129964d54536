"""Start the training job for a run (idempotent name), and poll it."""

from __future__ import annotations

from lambdas.common.deps import Deps
from lambdas.common.errors import TrainingError
from lambdas.common.events import TrainingResult, TrainingState
from lambdas.common.interfaces import TrainingBackend, TrainingJobSpec


def job_name(run_id: str) -> str:
    return f"edgecv-{run_id}"[:63]


def start_training(state: TrainingState, deps: Deps) -> TrainingResult:
    if state.dataset is None:
        raise TrainingError("the state has no dataset snapshot")
    backend: TrainingBackend = deps.need("training")
    st = deps.settings
    spec = TrainingJobSpec(
        job_name=job_name(state.run_id), entry_point=state.config.entry_point,
        train_s3_uri=f"s3://{st.curated_bucket}/{state.dataset.prefix}",
        output_s3_uri=f"s3://{st.artifacts_bucket}/training/",
        hyperparameters=dict(state.config.hyperparameters), max_runtime_seconds=state.config.max_runtime_seconds,
        init_s3_uri=state.config.init_checkpoint, replay_s3_uri=state.config.replay_data)
    backend.start(spec)
    return backend.describe(spec.job_name)


def poll_training(state: TrainingState, deps: Deps) -> TrainingResult:
    if state.training is None:
        raise TrainingError("the state has no training job")
    result = deps.need("training").describe(state.training.job_name)
    return result.model_copy(update={"polls": state.training.polls + 1})
