"""The committed v1 checkpoints are the weights the fleet serves: each exports to its served ONNX."""

from pathlib import Path

import pytest

pytest.importorskip("torch")

from model_repository.onnx_pipeline import MODEL_NAMES, REPOSITORY
from training.export import load_model, parity, parity_samples

pytestmark = [pytest.mark.integration]
CHECKPOINTS = Path(__file__).resolve().parents[2] / "training" / "checkpoints" / "v1"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_committed_checkpoint_matches_the_served_onnx(name: str) -> None:
    model = load_model(name, CHECKPOINTS / name)
    diff = parity(name, model, REPOSITORY / name / "1" / "model.onnx", parity_samples(name))
    assert diff < 1e-3, f"{name}: the checkpoint is not the served version 1 (max abs diff {diff:.2e})"


def test_a_perturbed_checkpoint_is_told_apart(tmp_path: Path) -> None:
    import torch

    model = load_model("damage_classifier", CHECKPOINTS / "damage_classifier")
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    diff = parity("damage_classifier", model, REPOSITORY / "damage_classifier" / "1" / "model.onnx",
                  parity_samples("damage_classifier"))
    assert diff >= 1e-3
