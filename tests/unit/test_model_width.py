"""A fine-tune builds the network at the width of the checkpoint it starts from, unless told otherwise."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training.common import model_width, save_checkpoint  # noqa: E402
from training.models import DamageClassifier  # noqa: E402


def _checkpoint(tmp_path: Path, width: float) -> Path:
    save_checkpoint(tmp_path, DamageClassifier(width=width), {"width": width}, {})
    return tmp_path


def test_a_fine_tune_takes_the_width_of_its_init_checkpoint(tmp_path: Path) -> None:
    assert model_width({}, _checkpoint(tmp_path, 1.5)) == 1.5
    assert model_width({}, tmp_path / "model.pt") == 1.5  # the init channel may name the file itself


def test_the_width_hyperparameter_wins_and_the_default_is_the_edge_student(tmp_path: Path) -> None:
    assert model_width({"width": "2.0"}, _checkpoint(tmp_path, 1.5)) == 2.0
    assert model_width({}, None) == 1.0
    assert model_width({}, tmp_path / "empty-channel") == 1.0
