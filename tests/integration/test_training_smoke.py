"""Each training entry point runs with SageMaker's conventions, exports to ONNX that matches torch,
and fine-tunes from a previous version (the flywheel's path). Tiny budgets: this checks the plumbing,
not accuracy."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from training.synth.dataset import write_dataset

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("train") / "set", seed=31, frames=6, workers=1)


def run_entry_point(module, model_dir, train_dir, hps, init=None):
    env = dict(os.environ, SM_MODEL_DIR=str(model_dir), SM_CHANNEL_TRAIN=str(train_dir), EDGECV_TORCH_THREADS="1")
    hp_file = model_dir.parent / f"{model_dir.name}-hp.json"
    hp_file.write_text(json.dumps({k: str(v) for k, v in hps.items()}))
    env["SM_HP_FILE"] = str(hp_file)
    if init is not None:
        env["SM_CHANNEL_INIT"] = str(init)
    result = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((model_dir / "metrics.json").read_text())


@pytest.mark.parametrize(("name", "module", "hps"), [
    ("detector", "training.train_detector", {"steps": 3, "batch_size": 2}),
    ("ocr", "training.train_ocr", {"steps": 3, "batch_size": 4, "synthetic_labels": 24}),
    ("damage_classifier", "training.train_damage", {"steps": 3, "batch_size": 4}),
])
def test_train_export_and_fine_tune(tmp_path, tiny_set, name, module, hps):
    from training.export import SPECS, export_onnx, load_model, parity

    first = run_entry_point(module, tmp_path / "v1", tiny_set, hps)
    assert first["steps"] == 3 and first["init"] is None
    tuned = run_entry_point(module, tmp_path / "v2", tiny_set, hps, init=tmp_path / "v1")
    assert tuned["init"].endswith("model.pt")
    model = load_model(name, tmp_path / "v2")
    onnx_path = tmp_path / f"{name}.onnx"
    export_onnx(name, model, onnx_path)
    sample = np.random.default_rng(0).random((2, *SPECS[name][2]), dtype=np.float32)
    assert parity(name, model, onnx_path, sample) < 1e-3
