"""Export: lay the training output out as the new Triton version of its network under `exports/{run_id}/`.

`<model>/<V>/{model.onnx, lineage.json, model.py}` (V = the gate's candidate version, production + 1), built
by `lambdas.export.layout` exactly as the gate evaluated it; the sign step bundles exactly these files. ONNX
export and its parity check happened in the training job; `model.pt` stays in the training output.
Idempotent: same keys on a retry.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError, EvaluationError
from lambdas.common.events import ExportResult, GateVerdict, TrainingState
from lambdas.common.layout import export_prefix
from lambdas.common.s3io import fetch_model
from lambdas.export.layout import VERSION_FILES, lay_out_version, run_lineage


def export(state: TrainingState, deps: Deps) -> ExportResult:
    if state.training is None or not state.training.model_artifact or state.evaluation is None:
        raise ArtifactMissingError("the state has no trained and evaluated model to export")
    if state.evaluation.verdict is not GateVerdict.PASS:
        raise EvaluationError(f"the candidate has not passed the gate (verdict {state.evaluation.verdict}): "
                              "it is never exported")
    s3, st = deps.aws("s3"), deps.settings
    version = state.evaluation.candidate_version
    prefix = export_prefix(state.run_id)
    with tempfile.TemporaryDirectory(prefix="edgecv-export-") as tmp:
        output = fetch_model(s3, state.training.model_artifact, Path(tmp) / "model")
        version_dir = lay_out_version(output, state.model_name, version, Path(tmp) / "export", run_lineage(state))
        for name in VERSION_FILES:
            s3.upload_file(str(version_dir / name), st.artifacts_bucket, f"{prefix}{state.model_name}/{version}/{name}")
    return ExportResult(prefix=prefix, model_name=state.model_name, version=version, files=len(VERSION_FILES))
