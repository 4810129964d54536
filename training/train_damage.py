"""Train the pallet damage classifier on pallet crops. SageMaker conventions: see sagemaker_env.

Channels: `train` (an edgecv-annotations/1 set), optional `init` (a checkpoint to fine-tune from) and optional
`replay` (an earlier labeled set: `replay_share` of every batch is drawn from it, so that fine-tuning on new
samples does not forget the domain the model was good at).
Hyperparameters: steps, batch_size, lr, width, seed, crop_jitter, replay_share (default 0.5).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from model_repository.processing import DAMAGE_THRESHOLD, damage_input
from training.common import Stopwatch, iter_frames, load_init, model_width, progress, save_checkpoint, seed_everything
from training.export import training_lineage, write_serving_model
from training.models import DamageClassifier, count_parameters
from training.sagemaker_env import parse_training_env
from training.train_ocr import jitter_box

CROPS_PER_PALLET = 2


def crop_samples(dataset_dir, rng: np.random.Generator, jitter: float) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i, frame, dataset in iter_frames(dataset_dir):
        for pallet in dataset.frames[i].pallets:
            for _ in range(CROPS_PER_PALLET):
                box = jitter_box(pallet.bbox.as_list(), rng, jitter)
                xs.append((damage_input(frame, box) * 255).round().astype(np.uint8))
                ys.append(float(pallet.damaged))
    return np.stack(xs), np.array(ys, dtype=np.float32)


def scores(model: DamageClassifier, xs: np.ndarray) -> np.ndarray:
    """Damage probabilities as served (`processing.damage_batch`): the mean logit of each crop and its mirror."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(xs), 256):
            x = torch.from_numpy(xs[s:s + 256].astype(np.float32) / 255)
            out.append(torch.sigmoid((model(x) + model(torch.flip(x, dims=[3]))) / 2).numpy()[:, 0])
    model.train()
    return np.concatenate(out)


def prf(pred: np.ndarray, truth: np.ndarray) -> dict:
    tp = float(((pred == 1) & (truth == 1)).sum())
    p = tp / max(1.0, float((pred == 1).sum()))
    r = tp / max(1.0, float((truth == 1).sum()))
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(1e-9, p + r)}


def main(argv: list[str] | None = None) -> int:
    env = parse_training_env(argv, __doc__ or "")
    steps = int(env.hp("steps", 2500))
    batch = int(env.hp("batch_size", 64))
    lr = float(env.hp("lr", 3e-3))
    width = model_width(env.hyperparameters, env.channel("init"))
    jitter = float(env.hp("crop_jitter", 0.06))
    rng = seed_everything(int(env.hp("seed", 3)))
    if env.channel("train") is None:
        raise SystemExit("the `train` channel is required (SM_CHANNEL_TRAIN or --channel train=DIR)")
    xs, ys = crop_samples(env.channel("train"), rng, jitter)
    # hold out whole pallets (both crops of a pallet stay on one side)
    n_pallets = len(xs) // CROPS_PER_PALLET
    order = rng.permutation(n_pallets)
    val_p = order[: max(1, n_pallets // 10)]
    val_idx = np.concatenate([val_p * CROPS_PER_PALLET + k for k in range(CROPS_PER_PALLET)])
    train_idx = np.setdiff1d(np.arange(len(xs)), val_idx)
    replay_xs, replay_ys = (crop_samples(env.channel("replay"), rng, jitter) if env.channel("replay") is not None
                            else (xs[:0], ys[:0]))
    replay_share = min(0.9, max(0.0, float(env.hp("replay_share", 0.5)))) if len(replay_xs) else 0.0
    n_replay = round(batch * replay_share)
    model = DamageClassifier(width=width)
    init = load_init(model, env.channel("init"))
    model = model.to(memory_format=torch.channels_last)  # 1.3-1.5x faster steps on CPU (docs/models.md)
    pos_weight = torch.tensor([(ys[train_idx] == 0).sum() / max(1, (ys[train_idx] == 1).sum())])
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    clock = Stopwatch()
    history = []
    with progress("damage classifier") as bar:
        task = bar.add_task("train", total=steps, status="")
        for step in range(steps):
            idx = rng.choice(train_idx, size=batch - n_replay)
            x = xs[idx].astype(np.float32)
            y = ys[idx]
            if n_replay:
                r_idx = rng.choice(len(replay_xs), size=n_replay)
                x = np.concatenate([x, replay_xs[r_idx].astype(np.float32)])
                y = np.concatenate([y, replay_ys[r_idx]])
            flip = rng.random(batch) < 0.5
            x[flip] = x[flip][..., ::-1]
            # gain and colour cast, then sensor noise (sd 0.02), in float32 throughout: half the time of float64
            x *= (rng.uniform(0.5, 1.4, size=(batch, 1, 1, 1)) * rng.uniform(0.9, 1.1, size=(batch, 3, 1, 1))
                  / 255).astype(np.float32)
            x += 0.02 * rng.standard_normal(size=x.shape, dtype=np.float32)
            np.clip(x, 0, 1, out=x)
            logits = model(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))
            loss = bce(logits[:, 0], torch.from_numpy(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % 25 == 0 or step == steps - 1:
                history.append({"step": step, "loss": loss.item()})
                bar.update(task, status=f"loss {loss.item():.3f}")
            if step % 500 == 499:
                m = prf((scores(model, xs[val_idx]) >= DAMAGE_THRESHOLD).astype(int), ys[val_idx])
                history[-1]["val"] = m
                bar.update(task, status=f"loss {loss.item():.3f} val f1 {m['f1']:.3f}")
            bar.advance(task)
    model = model.to(memory_format=torch.contiguous_format)
    val = prf((scores(model, xs[val_idx]) >= DAMAGE_THRESHOLD).astype(int), ys[val_idx])
    metrics = {
        "model": "damage_classifier", "parameters": count_parameters(model), "steps": steps,
        "batch_size": batch, "crops": len(xs), "train_seconds": round(clock.seconds, 1),
        "final_loss": history[-1]["loss"], "val": val, "loss_history": history, "init": init,
        "replay": {"crops": len(replay_xs), "share": replay_share},
    }
    save_checkpoint(env.model_dir, model, {"width": width}, metrics)
    write_serving_model("damage_classifier", model, env.model_dir,
                        training_lineage(env.hyperparameters, env.channel("train"), metrics),
                        samples=xs[val_idx[:8]].astype(np.float32) / 255)
    print(f"damage: {steps} steps in {clock.seconds:.0f}s, val {val}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
