"""Small frame-scale patches for the crop models, rendered like full frames but ~20x cheaper.

A label patch is a label on a load face with the frame's camera effects (tilt, light, blur, noise,
JPEG); the OCR model trains on crops cut from these exactly as the pipeline cuts them from frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from training.synth.label import LETTERS
from training.synth.render import _draw_load, apply_camera_effects, place_label_with_lines
from training.synth.scene import DomainKnobs, sample_scene


@dataclass(frozen=True)
class LabelPatch:
    image: np.ndarray  # RGB uint8
    box: tuple[float, float, float, float]  # the label's axis-aligned box in the patch
    pro: str
    dest: str
    line_centres: dict[str, tuple[float, float]]  # "pro"/"dest" -> (x, y) centre of that line, patch px


def label_patch(seed: int, knobs: DomainKnobs | None = None, dest_length: int = 3) -> LabelPatch:
    """A label on a load face. `dest_length` > 3 prints a longer letter code after DEST: a training-only
    way to show the reader more letters (3-letter codes alone leave letters 8x rarer than digits)."""
    knobs = replace(knobs or DomainKnobs(), label_p=1.0)
    for attempt in range(20):
        scene = sample_scene(seed + attempt * 7919, knobs, n_pallets=1)
        pallet = scene.pallets[0]
        if pallet.label is not None:
            break
    else:  # pragma: no cover - label_p=1 makes this unreachable in practice
        raise RuntimeError("could not sample a label")
    label = pallet.label
    rng = np.random.default_rng(pallet.seed)
    if dest_length != 3:
        label = replace(label, dest="".join(rng.choice(list(LETTERS), size=dest_length)))
    w = label.width_px * rng.uniform(1.8, 2.6)
    h = label.height_px * rng.uniform(1.4, 1.8)
    face = replace(
        pallet, width=w / 0.98, load_height=h, label_pos=(0.5, 0.5),
        label_tilt=pallet.label_tilt + scene.tilt_deg, damage=(), label=label,
    )
    layer = _draw_load(face, rng)
    placed = place_label_with_lines(face, layer, rng)
    assert placed is not None
    corners, lines = placed
    canvas = Image.new("RGB", layer.size, (90, 90, 90))
    canvas.paste(layer, (0, 0), layer)
    image = apply_camera_effects(canvas, scene, rng)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    centres = {k: (float(v[0]), float(v[1])) for k, v in lines.items()}
    return LabelPatch(np.asarray(image), box, label.pro, label.dest, centres)
