"""train_damage's `replay` channel: an earlier labeled set is cropped and mixed into every batch at
`replay_share`, and metrics.json records how much. Tiny budgets: this checks the plumbing, not accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from contracts.annotations import load_annotation_set
from training.synth.dataset import write_dataset

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _no_sagemaker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the channels and hyperparameters a test passes on the command line count."""
    import os

    for key in list(os.environ):
        if key.startswith("SM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SM_HP_FILE", str(tmp_path / "no-hyperparameters.json"))
    monkeypatch.setenv("EDGECV_TORCH_THREADS", "1")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("replay-sets")
    return (write_dataset(root / "new", seed=4101, frames=6, workers=1),
            write_dataset(root / "old", seed=4202, frames=6, workers=1))


def train(out: Path, train_set: Path, replay_set: Path | None, *hps: str) -> dict:
    from training.train_damage import main

    argv = ["--model-dir", str(out), "--channel", f"train={train_set}"]
    if replay_set is not None:
        argv += ["--channel", f"replay={replay_set}"]
    argv += ["--hp", "steps=3", "--hp", "batch_size=8"]
    for hp in hps:
        argv += ["--hp", hp]
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


def pallet_crops(dataset: Path) -> int:
    from training.train_damage import CROPS_PER_PALLET

    return CROPS_PER_PALLET * sum(len(frame.pallets) for frame in load_annotation_set(dataset).frames)


def test_the_replay_channel_is_cropped_and_mixed_in_at_the_given_share(tmp_path: Path,
                                                                       datasets: tuple[Path, Path]) -> None:
    new, old = datasets
    assert pallet_crops(old) > 0  # the rendered replay set has pallets to crop
    metrics = train(tmp_path / "model", new, old, "replay_share=0.5")
    assert metrics["replay"]["crops"] == pallet_crops(old)
    assert metrics["replay"]["crops"] > 0
    assert metrics["replay"]["share"] == 0.5
    assert metrics["crops"] == pallet_crops(new)  # the train set's own crops are counted apart
    assert metrics["steps"] == 3


def test_without_a_replay_channel_nothing_is_replayed(tmp_path: Path, datasets: tuple[Path, Path]) -> None:
    new, _ = datasets
    metrics = train(tmp_path / "model", new, None, "replay_share=0.5")
    assert metrics["replay"] == {"crops": 0, "share": 0.0}


def test_the_replay_share_is_capped_so_every_batch_keeps_new_samples(tmp_path: Path,
                                                                     datasets: tuple[Path, Path]) -> None:
    new, old = datasets
    metrics = train(tmp_path / "model", new, old, "replay_share=1.0")
    assert metrics["replay"]["share"] == 0.9
    assert metrics["replay"]["crops"] == pallet_crops(old)
