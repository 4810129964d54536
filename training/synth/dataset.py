"""Write `edgecv-annotations/1` sets from the renderer, in parallel, deterministically by seed."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from contracts.annotations import AnnotationSet, annotation_set_to_json
from training.synth.render import RenderedFrame, render, to_annotated_frame
from training.synth.scene import DomainKnobs, sample_scene

DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))


def frame_seed(base_seed: int, index: int) -> int:
    """Independent, reproducible seed of frame `index` of a set."""
    return int(np.random.SeedSequence([base_seed, index]).generate_state(1)[0])


def render_indexed(base_seed: int, index: int, knobs: DomainKnobs) -> RenderedFrame:
    return render(sample_scene(frame_seed(base_seed, index), knobs))


def _render_to_file(args: tuple[int, int, DomainKnobs, str, str]) -> tuple[dict, list]:
    base_seed, index, knobs, out_dir, name = args
    frame = render_indexed(base_seed, index, knobs)
    frame.image.save(Path(out_dir) / name, quality=95)
    annotated = to_annotated_frame(frame, name)
    return annotated.model_dump(mode="json"), [list(k) for k in frame.damage_kinds]


def write_dataset(
    out_dir: Path,
    seed: int,
    frames: int,
    knobs: DomainKnobs | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Render `frames` frames into OUT_DIR (replacing it atomically). Returns OUT_DIR."""
    knobs = knobs or DomainKnobs()
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "frames").mkdir(parents=True)
    jobs = [(seed, i, knobs, str(tmp), f"frames/{i + 1:06d}.jpg") for i in range(frames)]
    records: list[dict] = []
    kinds: list[list] = []
    if workers > 1 and frames > 8:
        with ProcessPoolExecutor(workers) as pool:
            for record, k in pool.map(_render_to_file, jobs, chunksize=4):
                records.append(record)
                kinds.append(k)
                if progress:
                    progress(1)
    else:
        for job in jobs:
            record, k = _render_to_file(job)
            records.append(record)
            kinds.append(k)
            if progress:
                progress(1)
    dataset = AnnotationSet.model_validate({"frames": records})
    (tmp / "annotations.json").write_text(json.dumps(annotation_set_to_json(dataset), indent=1))
    meta = {"generator": "edgecv-synth", "seed": seed, "frames": frames, "knobs": knobs.__dict__,
            "damage_kinds": kinds}
    (tmp / "generator.json").write_text(json.dumps(meta))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def merge_datasets(out_dir: Path, parts: dict[str, Path]) -> Path:
    """One edgecv-annotations/1 set from several (each part's images under `<part name>/`), replacing OUT_DIR
    atomically. Returns OUT_DIR."""
    from contracts.annotations import load_annotation_set

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        frames = []
        for name, source in parts.items():
            for frame in load_annotation_set(source).frames:
                image = f"{name}/{frame.image}"
                (tmp / image).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(source) / frame.image, tmp / image)
                frames.append(frame.model_copy(update={"image": image}))
        dataset = AnnotationSet(frames=frames)
        (tmp / "annotations.json").write_text(json.dumps(annotation_set_to_json(dataset), indent=1))
        (tmp / "generator.json").write_text(json.dumps({"merged_from": {k: str(v) for k, v in parts.items()}}))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir
