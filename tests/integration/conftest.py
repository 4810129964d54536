"""Shared real processes for integration tests: one local Triton serving the pallet pipeline per session."""

import pytest

from training.synth.dataset import write_dataset


@pytest.fixture(scope="session")
def triton_pipeline(tmp_path_factory):
    """A real tritonserver (loopback, explicit model control) serving the shipped v1 pipeline."""
    from edgecv.local_triton import local_pipeline

    with local_pipeline(workdir=tmp_path_factory.mktemp("triton"), watchdog=True) as pipeline:
        yield pipeline


@pytest.fixture(scope="session")
def rendered_frames(tmp_path_factory):
    """A few golden-style frames (a seed never used in training)."""
    return write_dataset(tmp_path_factory.mktemp("frames") / "set", seed=515151, frames=6, workers=1)
