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


@pytest.fixture(scope="session")
def forklift_sequence(tmp_path_factory):
    """Three forklift passes at 15 fps with a truck manifest: one listed pallet never passes, one passes unlisted."""
    from training.synth.sequences import write_sequence

    return write_sequence(tmp_path_factory.mktemp("seq") / "seq", seed=77, passes=3, fps=15)
