"""Train the pallet/label/person detector (CenterNet-style). SageMaker conventions: see sagemaker_env.

Channels: `train` (an edgecv-annotations/1 set), optional `init` (a previous version to fine-tune).
Hyperparameters: steps, batch_size, lr, width, seed, precision (fp32 | bf16 | auto).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

from model_repository.processing import DETECTOR_CLASSES, DETECTOR_H, DETECTOR_STRIDE, DETECTOR_W, detector_input
from training.common import (
    Stopwatch,
    forward_precision,
    iter_frames,
    load_init,
    model_width,
    progress,
    save_checkpoint,
    seed_everything,
    training_precision,
)
from training.export import training_lineage, write_serving_model
from training.models import PalletDetector, count_parameters
from training.sagemaker_env import parse_training_env

OUT_H, OUT_W = DETECTOR_H // DETECTOR_STRIDE, DETECTOR_W // DETECTOR_STRIDE


def load_detection_set(dataset_dir) -> tuple[np.ndarray, list[np.ndarray]]:
    """Images at detector input size (uint8) and per-image (N, 5) [x1, y1, x2, y2, class] in input px."""
    images, targets = [], []
    with progress("loading frames") as bar:
        task = None
        for i, frame, dataset in iter_frames(dataset_dir):
            if task is None:
                task = bar.add_task("load", total=len(dataset.frames), status="")
            x, scale = detector_input(frame)
            images.append((x.transpose(1, 2, 0) * 255).round().astype(np.uint8))
            f = dataset.frames[i]
            rows = [[*p.bbox.as_list(), 0] for p in f.pallets]
            rows += [[*p.label.bbox.as_list(), 1] for p in f.pallets if p.label is not None]
            rows += [[*q.bbox.as_list(), 2] for q in (f.people or [])]
            t = np.array(rows, dtype=np.float32).reshape(-1, 5)
            t[:, :4] *= scale
            targets.append(t)
            bar.advance(task)
    return np.stack(images), targets


def build_targets(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Heatmap (C,H,W), size/offset targets (2,H,W) and a centre mask (H,W) for one image."""
    heat = np.zeros((len(DETECTOR_CLASSES), OUT_H, OUT_W), np.float32)
    size = np.zeros((2, OUT_H, OUT_W), np.float32)
    offset = np.zeros((2, OUT_H, OUT_W), np.float32)
    mask = np.zeros((OUT_H, OUT_W), np.float32)
    ys, xs = np.arange(OUT_H)[:, None], np.arange(OUT_W)[None, :]
    for x1, y1, x2, y2, c in boxes:
        cx, cy = (x1 + x2) / 2 / DETECTOR_STRIDE, (y1 + y2) / 2 / DETECTOR_STRIDE
        w, h = (x2 - x1) / DETECTOR_STRIDE, (y2 - y1) / DETECTOR_STRIDE
        ix, iy = min(int(cx), OUT_W - 1), min(int(cy), OUT_H - 1)
        sx, sy = max(0.6, 0.06 * w), max(0.6, 0.06 * h)
        g = np.exp(-((xs - ix) ** 2) / (2 * sx**2) - ((ys - iy) ** 2) / (2 * sy**2))
        heat[int(c)] = np.maximum(heat[int(c)], g)
        heat[int(c), iy, ix] = 1.0
        size[:, iy, ix] = (math.log(max(w, 0.5)), math.log(max(h, 0.5)))
        offset[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
    return heat, size, offset, mask


def augment(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random mirror, gain, colour cast and bias; float32 in [0, 1] (float32 throughout: half the time of float64)."""
    boxes = boxes.copy()
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes[:, [0, 2]] = DETECTOR_W - boxes[:, [2, 0]]
    gain = rng.uniform(0.6, 1.4)
    bias = rng.uniform(-20, 20)
    cast = rng.uniform(0.9, 1.1, size=3)
    img = image.astype(np.float32)
    img *= (gain * cast / 255).astype(np.float32)
    img += np.float32(bias / 255)
    return np.clip(img, 0, 1, out=img), boxes


def focal_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred = pred.clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1 - pos
    pos_loss = -(torch.log(pred) * (1 - pred) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - pred) * pred**2 * (1 - target) ** 4 * neg).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def detector_loss(outputs, targets) -> tuple[torch.Tensor, dict]:
    heat_p, size_p, off_p = outputs
    heat_t, size_t, off_t, mask = targets
    m = mask.unsqueeze(1)
    n = mask.sum().clamp(min=1)
    l_heat = focal_loss(heat_p, heat_t)
    l_size = (torch.abs(size_p - size_t) * m).sum() / n
    l_off = (torch.abs(off_p - off_t) * m).sum() / n
    return l_heat + l_size + l_off, {"heat": l_heat.item(), "size": l_size.item(), "offset": l_off.item()}


def main(argv: list[str] | None = None) -> int:
    env = parse_training_env(argv, __doc__ or "")
    steps = int(env.hp("steps", 900))
    batch = int(env.hp("batch_size", 8))
    lr = float(env.hp("lr", 2e-3))
    width = model_width(env.hyperparameters, env.channel("init"))
    precision = training_precision(str(env.hp("precision", "fp32")))
    rng = seed_everything(int(env.hp("seed", 1)))
    train_dir = env.channel("train")
    if train_dir is None:
        raise SystemExit("the `train` channel is required (SM_CHANNEL_TRAIN or --channel train=DIR)")
    images, boxes = load_detection_set(train_dir)
    model = PalletDetector(width=width)
    init = load_init(model, env.channel("init"))
    model = model.to(memory_format=torch.channels_last)  # ~1.05x faster steps on CPU (docs/models.md)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1 if not init else 0.02)
    clock = Stopwatch()
    model.train()
    history = []
    with progress("detector") as bar:
        task = bar.add_task("train", total=steps, status="")
        for step in range(steps):
            idx = rng.integers(0, len(images), size=batch)
            xs, tgs = [], []
            for i in idx:
                img, b = augment(images[i], boxes[i], rng)
                xs.append(img)
                tgs.append(build_targets(b))
            x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2)  # NHWC memory: channels-last
            targets = tuple(torch.from_numpy(np.stack([t[k] for t in tgs])) for k in range(4))
            with forward_precision(precision):
                outputs = model(x)
            loss, parts = detector_loss(tuple(o.float() for o in outputs), targets)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            if step % 20 == 0 or step == steps - 1:
                history.append({"step": step, "loss": loss.item(), **parts})
                bar.update(task, status=f"loss {loss.item():.3f}")
            bar.advance(task)
    model = model.to(memory_format=torch.contiguous_format)
    metrics = {
        "model": "detector", "parameters": count_parameters(model), "steps": steps, "batch_size": batch,
        "images_seen": steps * batch, "train_frames": len(images), "precision": precision,
        "train_seconds": round(clock.seconds, 1),
        "final_loss": history[-1]["loss"], "loss_history": history, "init": init,
    }
    save_checkpoint(env.model_dir, model, {"width": width}, metrics)
    write_serving_model("detector", model, env.model_dir,
                        training_lineage(env.hyperparameters, env.channel("train"), metrics))
    print(f"detector: {steps} steps in {clock.seconds:.0f}s, final loss {history[-1]['loss']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
