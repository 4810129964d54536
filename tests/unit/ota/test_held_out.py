"""Held-out frames for the smoke test, read from an edgecv-annotations/1 set."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.errors import DatasetError
from edge_appliance.ota.held_out import HeldOutFrames, no_held_out
from training.synth.dataset import write_dataset


def test_frames_decode_with_their_annotations(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "set", seed=99, frames=2, workers=1)
    held_out = HeldOutFrames(dataset)
    frames = held_out(5)
    assert len(frames) == 2 and len(held_out(1)) == 1
    for annotation, pixels in frames:
        assert pixels.shape == (annotation.height, annotation.width, 3) and pixels.dtype.name == "uint8"
    (dataset / frames[0][0].image).write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="unreadable"):
        held_out(1)
    assert no_held_out(10) == []
