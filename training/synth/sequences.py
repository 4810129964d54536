"""Forklift passes and the truck manifest they should reconcile against.

A sequence is an `edgecv-annotations/1` set whose frames are consecutive camera frames at a given
fps: a forklift carries pallets one at a time across the view. Beside it, `tracks.json` gives the
pass (track) of every annotated pallet, and `manifest.json` the truck's `edgecv-manifest/1`, which
lists what the truck should carry: by default one listed pallet never passes (missing) and one
pallet that passes is not listed (unexpected).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from contracts.annotations import AnnotationSet, ManifestPallet, TruckManifest, annotation_set_to_json
from training.synth.label import random_dest, random_pro
from training.synth.render import render, to_annotated_frame
from training.synth.scene import FRAME_W, DomainKnobs, ForkliftSpec, sample_scene


def _pass_scene(seed: int, knobs: DomainKnobs):
    for attempt in range(50):
        scene = sample_scene(seed + attempt, replace(knobs, label_p=1.0), n_pallets=1)
        if scene.pallets[0].label is not None:
            break
    pallet = replace(scene.pallets[0], carried=True, x=-scene.pallets[0].width * 1.1)
    forklift = ForkliftSpec(pallet_index=0, side=-1, color=(230, 180, 30), lift=30.0)
    return replace(scene, pallets=(pallet,), forklift=forklift, people=(), tilt_deg=0.0)


def write_sequence(out_dir: Path, seed: int, passes: int = 3, fps: float = 15.0, speed_px_s: float = 900.0,
                   missing: int = 1, unexpected: int = 1, knobs: DomainKnobs | None = None,
                   truck_id: str = "TRK-1042", door: str = "D07") -> Path:
    knobs = knobs or DomainKnobs()
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "frames").mkdir(parents=True)
    frames, tracks, carried = [], [], []
    step = speed_px_s / fps
    index = 0
    for k in range(passes):
        scene = _pass_scene(int(rng.integers(2**31)), knobs)
        pallet = scene.pallets[0]
        assert pallet.label is not None
        carried.append(ManifestPallet(pro=pallet.label.pro, dest=pallet.label.dest))
        travel = FRAME_W + pallet.width * 2.2
        for t in range(int(travel / step) + 1):
            moved = replace(scene.with_pallet_shift(0, t * step), seed=scene.seed + t)
            frame = render(moved)
            name = f"frames/{index + 1:06d}.jpg"
            frame.image.save(tmp / name, quality=92)
            frames.append(to_annotated_frame(frame, name))
            tracks.append([k] * len(frame.pallets))
            index += 1
    listed = carried[: max(0, len(carried) - unexpected)]
    listed += [ManifestPallet(pro=random_pro(rng), dest=random_dest(rng)) for _ in range(missing)]
    manifest = TruckManifest(truck_id=truck_id, door=door, pallets=listed)
    dataset = AnnotationSet(frames=frames)
    (tmp / "annotations.json").write_text(json.dumps(annotation_set_to_json(dataset), indent=1))
    (tmp / "tracks.json").write_text(json.dumps({"fps": fps, "passes": passes, "frame_tracks": tracks}))
    (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=1))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir
