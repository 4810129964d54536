"""A training job's output laid out as one Triton model version: `<model>/<V>/{model.onnx, lineage.json, model.py}`.

One function, used by the evaluation gate (the candidate it evaluates) and the export step (what the bundle
carries), so the two cannot differ. The training entry point has already exported ONNX and checked its parity
(`training.export.write_serving_model`); this only places files, so the Lambdas never need torch.
`model.pt` and the trainer's `metrics.json` stay in the training output: the edge serves ONNX.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import TrainingState

SERVING_MODEL = "model.onnx"
LINEAGE = "lineage.json"
SHIM = "model.py"
VERSION_FILES = (SERVING_MODEL, LINEAGE, SHIM)
# The one-line Python-backend shim every network version carries (as model_repository/<network>/1/model.py).
TRITON_SHIM = ('"""Served by ONNX Runtime inside the Python backend; the code lives in '
               'model_repository.triton_python."""\n'
               "from model_repository.triton_python.network import TritonPythonModel  # noqa: F401\n")


def read_training_lineage(training_output: Path) -> dict[str, Any]:
    path = Path(training_output) / LINEAGE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactMissingError(f"the training output has no {LINEAGE}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactMissingError(f"the training output's {LINEAGE} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactMissingError(f"the training output's {LINEAGE} is not a JSON object")
    return data


def lay_out_version(training_output: Path, model_name: str, version: int, dest_root: Path,
                    lineage: Mapping[str, Any] | None = None) -> Path:
    """Write `dest_root/<model_name>/<version>/` from a training output folder; return that folder.

    The version's `lineage.json` is the training job's, plus the model name and version and `lineage`'s keys.
    """
    source = Path(training_output)
    onnx = source / SERVING_MODEL
    if not onnx.is_file() or onnx.is_symlink():
        raise ArtifactMissingError(f"the training output has no {SERVING_MODEL} (the training entry point "
                                   f"exports it into SM_MODEL_DIR)")
    data = {**read_training_lineage(source), **dict(lineage or {}), "model": model_name, "version": str(version)}
    dest = Path(dest_root) / model_name / str(version)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copyfile(onnx, dest / SERVING_MODEL)
    (dest / LINEAGE).write_text(json.dumps(data, indent=2, sort_keys=True))
    (dest / SHIM).write_text(TRITON_SHIM)
    return dest


def run_lineage(state: TrainingState) -> dict[str, Any]:
    """What the pipeline adds to the training job's lineage; known before the gate, so the version the gate
    evaluates and the version the export ships are byte-identical."""
    return {"run_id": state.run_id, "training_job": state.training.job_name if state.training else None,
            "dataset_snapshot_sha256": state.dataset.sha256 if state.dataset else None,
            "code_commit": state.config.code_commit}
