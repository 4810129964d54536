import json

import numpy as np
import pytest

from contracts.annotations import load_annotation_set, load_manifest
from contracts.pro import is_valid_pro
from training.synth.dataset import render_indexed, write_dataset
from training.synth.label import render_label, sample_label
from training.synth.scene import FRAME_H, FRAME_W, DomainKnobs, sample_scene
from training.synth.sequences import write_sequence


def test_same_seed_same_frame_other_seed_other_frame():
    a = render_indexed(7, 3, DomainKnobs())
    b = render_indexed(7, 3, DomainKnobs())
    c = render_indexed(7, 4, DomainKnobs())
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert a.pallets == b.pallets
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))


@pytest.mark.parametrize("knobs", [DomainKnobs(), DomainKnobs.shifted_preset(), DomainKnobs.drift_preset()])
def test_frames_follow_the_spec(knobs):
    seen_label = seen_damage = 0
    for i in range(12):
        frame = render_indexed(11, i, knobs)
        assert frame.image.size == (FRAME_W, FRAME_H)
        assert len(frame.pallets) <= 4
        for p in frame.pallets:
            x1, y1, x2, y2 = p.bbox.as_list()
            assert 0 <= x1 < x2 <= FRAME_W and 0 <= y1 < y2 <= FRAME_H
            seen_damage += p.damaged
            if p.label is not None:
                seen_label += 1
                lx1, ly1, lx2, ly2 = p.label.bbox.as_list()
                assert ly2 - ly1 >= 80, "labels are at least 80 px tall"
                assert is_valid_pro(p.label.pro)
                # the label sits on its pallet
                cx, cy = (lx1 + lx2) / 2, (ly1 + ly2) / 2
                assert x1 <= cx <= x2 and y1 <= cy <= y2
    assert seen_label > 0 and seen_damage > 0


def test_label_is_portrait_two_to_three():
    rng = np.random.default_rng(0)
    for h in (84, 150, 210):
        spec = sample_label(rng, h, shifted=False)
        img = render_label(spec, rng)
        assert img.height == h and 0.6 <= img.width / img.height <= 0.72
        assert spec.pro_text().startswith("PRO ") and spec.pro_text().replace(" ", "").replace("-", "")[3:] == spec.pro


def test_shifted_fonts_are_not_training_fonts():
    from training.synth.fonts import SHIFTED_FONTS, TRAIN_FONTS

    assert not set(SHIFTED_FONTS) & set(TRAIN_FONTS)
    assert sample_scene(1, DomainKnobs.shifted_preset()).background["style"] == "brick"


def test_written_set_loads_and_has_people_key(tmp_path):
    out = write_dataset(tmp_path / "set", seed=3, frames=4, workers=1)
    ds = load_annotation_set(out)
    assert len(ds.frames) == 4
    assert all(f.people is not None for f in ds.frames)
    assert all((out / f.image).is_file() for f in ds.frames)
    assert not (tmp_path / "set.partial").exists()


def test_sequence_and_manifest_are_consistent(tmp_path):
    out = write_sequence(tmp_path / "seq", seed=4, passes=2, fps=10, speed_px_s=2500, missing=1, unexpected=1)
    ds = load_annotation_set(out)
    manifest = load_manifest(out / "manifest.json")
    tracks = json.loads((out / "tracks.json").read_text())
    assert len(tracks["frame_tracks"]) == len(ds.frames)
    carried = {p.label.pro for f in ds.frames for p in f.pallets if p.label is not None}
    listed = {p.pro for p in manifest.pallets}
    assert len(carried) == 2 and len(listed) == 2
    assert len(carried & listed) == 1  # one unexpected pass, one missing manifest line
