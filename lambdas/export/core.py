"""Export: lay the training output out as one Triton model version under `exports/{run_id}/`.

`<model>/<version>/<every file of model.tar.gz>`, plus `<model>/config.pbtxt` when the training output
carries one. (Converting a checkpoint to ONNX belongs to the training entry point, which writes what
the edge serves into SM_MODEL_DIR; this step only places it.) Idempotent: same keys on a retry.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import ExportResult, TrainingState
from lambdas.common.layout import export_prefix
from lambdas.evaluate.core import fetch_model

CONFIG = "config.pbtxt"


def export(state: TrainingState, deps: Deps) -> ExportResult:
    if state.training is None or not state.training.model_artifact or state.evaluation is None:
        raise ArtifactMissingError("the state has no trained and evaluated model to export")
    s3, st = deps.aws("s3"), deps.settings
    version = state.evaluation.candidate_version
    prefix = export_prefix(state.run_id)
    count = 0
    with tempfile.TemporaryDirectory(prefix="edgecv-export-") as tmp:
        model_dir = fetch_model(s3, state.training.model_artifact, Path(tmp) / "model")
        for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = path.relative_to(model_dir).as_posix()
            key = f"{prefix}{state.model_name}/{CONFIG}" if rel == CONFIG else \
                f"{prefix}{state.model_name}/{version}/{rel}"
            s3.upload_file(str(path), st.artifacts_bucket, key)
            count += rel != CONFIG
    if not count:
        raise ArtifactMissingError(f"{state.training.model_artifact} holds no model files")
    return ExportResult(prefix=prefix, model_name=state.model_name, version=version, files=count)
