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
