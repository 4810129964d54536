"""train_ocr's `domain` hyperparameter: it changes the look of the rendered label patches, never their text, and
an unknown domain stops the job before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from training.train_ocr import _patch_sample, main


def test_the_domain_changes_the_look_and_keeps_the_text() -> None:
    default = _patch_sample((7, 3, 0.0, "default"))
    again = _patch_sample((7, 3, 0.0, "default"))
    dark = _patch_sample((7, 3, 0.0, "dark"))
    assert np.array_equal(default[0], again[0])  # deterministic by seed
    assert (dark[1], dark[2]) == (default[1], default[2])  # same PRO and DEST: the labels stay true
    assert dark[0].astype(np.float32).mean() < default[0].astype(np.float32).mean() - 0.05  # darker patch


def test_an_unknown_domain_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown domain 'moonlight'"):
        main(["--model-dir", str(tmp_path / "model"), "--hp", "domain=moonlight"])
    assert not (tmp_path / "model" / "model.onnx").exists()


@pytest.mark.slow
def test_train_share_and_replay_channel_are_used_and_reported(tmp_path: Path) -> None:
    import json

    from training.synth.dataset import write_dataset
    from training.synth.scene import DomainKnobs

    site = write_dataset(tmp_path / "site", seed=5, frames=3, knobs=DomainKnobs.printer_preset(), workers=1)
    replay = write_dataset(tmp_path / "replay", seed=6, frames=3, workers=1)
    code = main(["--model-dir", str(tmp_path / "model"), "--channel", f"train={site}", "--channel",
                 f"replay={replay}", "--hp", "steps=2", "--hp", "batch_size=4", "--hp", "synthetic_labels=8",
                 "--hp", "train_share=0.5", "--hp", "max_dest_letters=8"])
    assert code == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    labels = [p for f in json.loads((site / "annotations.json").read_text())["frames"] for p in f["pallets"]
              if p.get("label")]
    assert metrics["site_samples"] == len(labels) > 0 and metrics["train_share"] == 0.5
    assert metrics["samples"] > metrics["site_samples"] + 8  # site + replay crops + the rendered patches
    assert (tmp_path / "model" / "model.onnx").is_file()


def test_each_site_label_is_cropped_as_many_times_as_asked_each_crop_jittered_on_its_own(tmp_path: Path) -> None:
    from training.synth.dataset import write_dataset
    from training.train_ocr import set_samples

    site = write_dataset(tmp_path / "site", seed=5, frames=2, workers=1)
    once = set_samples(site, np.random.default_rng(0), jitter=0.06)
    thrice = set_samples(site, np.random.default_rng(0), jitter=0.06, variants=3)
    assert len(once[0]) > 0 and len(thrice[0]) == 3 * len(once[0])
    assert thrice[1] == [pro for pro in once[1] for _ in range(3)]  # the labels stay true
    assert thrice[2] == [dest for dest in once[2] for _ in range(3)]
    first = thrice[0][:3].astype(np.float32)
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])  # three crops
