"""merge_datasets: several edgecv-annotations/1 sets as one, images kept apart per part, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.annotations import DatasetError, load_annotation_set
from training.synth.dataset import merge_datasets, write_dataset
from training.synth.scene import DomainKnobs


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("parts")
    return {"normal": write_dataset(root / "normal", 11, 3, workers=1),
            "drift": write_dataset(root / "drift", 12, 2, DomainKnobs.drift_preset(), workers=1)}


def test_the_merged_set_holds_every_frame_of_every_part_with_its_annotations(parts: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    merged = load_annotation_set(merge_datasets(tmp_path / "golden", parts))
    sources = {name: load_annotation_set(path).frames for name, path in parts.items()}
    assert len(merged.frames) == sum(len(frames) for frames in sources.values())
    by_image = {frame.image: frame for frame in merged.frames}
    for name, frames in sources.items():
        for frame in frames:
            copy = by_image[f"{name}/{frame.image}"]
            assert copy.model_copy(update={"image": frame.image}) == frame
            assert (tmp_path / "golden" / copy.image).read_bytes() == (parts[name] / frame.image).read_bytes()


def test_merging_again_replaces_the_old_set_and_leaves_no_partial_folder(parts: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    merge_datasets(tmp_path / "golden", parts)
    merge_datasets(tmp_path / "golden", {"normal": parts["normal"]})
    assert len(load_annotation_set(tmp_path / "golden").frames) == len(load_annotation_set(parts["normal"]).frames)
    assert not (tmp_path / "golden" / "drift").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["golden"]


def test_a_part_that_is_not_an_annotation_set_fails_before_anything_is_replaced(parts: dict[str, Path],
                                                                                tmp_path: Path) -> None:
    merge_datasets(tmp_path / "golden", parts)
    with pytest.raises(DatasetError, match="missing"):
        merge_datasets(tmp_path / "golden", {"normal": parts["normal"], "bad": tmp_path / "missing"})
    assert len(load_annotation_set(tmp_path / "golden").frames) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["golden"]
