"""Train the label reader (PRO digits + DEST letters, CTC). SageMaker conventions: see sagemaker_env.

Channels: optional `train` (an edgecv-annotations/1 set: its label crops are used), optional `replay` (another
set, e.g. the previous version's curated data), optional `init`.
Hyperparameters: steps, batch_size, lr, width, seed, train_share (share of each batch from the `train` crops;
0 = uniform over all crops), synthetic_labels (label patches rendered on the
fly with the frame renderer's camera model, in addition to the set's crops), crop_jitter, site_crop_variants (how
many differently jittered crops of each `train` label: a few site labels are otherwise learnt pixel for pixel),
domain (the look of the rendered patches: `default`, or `wide` for the teacher's domain randomisation; see
DomainKnobs.named), fine_tune_share (with `init`: the share of the fine-tune's weight change kept, WiSE-FT; 1 keeps
it all, 0.7 keeps most of a new look's gain and costs the old looks less: docs/demo.md), refine_blocks (residual
blocks per early stage, `LabelReader`; default: the `init` checkpoint's, else 0; more than the checkpoint has grows
it, the new blocks starting as identities), precision (fp32 | bf16 | auto: the forward pass's arithmetic).
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from model_repository.processing import (
    DEST_ALPHABET,
    DEST_PREFIX,
    OCR_H,
    OCR_PAD,
    PRO_ALPHABET,
    ocr_input,
    read_label,
)
from training.common import (
    Stopwatch,
    checkpoint_config,
    forward_precision,
    iter_frames,
    keep_share_of_fine_tune,
    load_init,
    model_width,
    progress,
    save_checkpoint,
    seed_everything,
    training_precision,
)
from training.export import training_lineage, write_serving_model
from training.models import OCR_FEATURE_STRIDE_Y, LabelReader, count_parameters
from training.sagemaker_env import parse_training_env
from training.synth.patches import label_patch
from training.synth.scene import DomainKnobs


def jitter_box(box, rng: np.random.Generator, amount: float) -> list[float]:
    """Move each edge by up to `amount` of the box size: how imprecise detector boxes are."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d = rng.uniform(-amount, amount, size=4) * np.array([w, h, w, h])
    return [x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3]]


def line_row(y: float, box: list[float]) -> float:
    """Feature-row coordinate of patch row `y` once `box` is cropped (with OCR_PAD) to the OCR input."""
    h = box[3] - box[1]
    top = box[1] - OCR_PAD * h
    y_in = (y - top) / (h * (1 + 2 * OCR_PAD)) * OCR_H
    return (y_in - OCR_FEATURE_STRIDE_Y / 2) / OCR_FEATURE_STRIDE_Y


def _patch_sample(args: tuple[int, int, float, str]) -> tuple[np.ndarray, str, str, tuple[float, float]]:
    seed, max_dest_letters, jitter, domain = args
    rng = np.random.default_rng(seed)
    dest_length = 3 if max_dest_letters <= 3 or rng.random() < 0.4 else int(rng.integers(4, max_dest_letters + 1))
    patch = label_patch(seed, DomainKnobs.named(domain), dest_length=dest_length)
    box = jitter_box(patch.box, rng, jitter)
    rows = (line_row(patch.line_centres["pro"][1], box), line_row(patch.line_centres["dest"][1], box))
    return ocr_input(patch.image, box).astype(np.float16), patch.pro, patch.dest, rows


def synthetic_samples(n: int, seed: int, jitter: float, workers: int = 2, max_dest_letters: int = 3,
                      domain: str = "default") -> tuple[np.ndarray, list, list, np.ndarray]:
    xs, pros, dests, rows = [], [], [], []
    with progress("rendering label patches") as bar, ProcessPoolExecutor(workers) as pool:
        task = bar.add_task("patches", total=n, status="")
        jobs = [(seed * 1_000_003 + i, max_dest_letters, jitter, domain) for i in range(n)]
        for x, pro, dest, row in pool.map(_patch_sample, jobs, chunksize=64):
            xs.append(x)
            pros.append(pro)
            dests.append(dest)
            rows.append(row)
            bar.advance(task)
    return np.stack(xs), pros, dests, np.array(rows, dtype=np.float32)


def set_samples(dataset_dir, rng: np.random.Generator, jitter: float,
                variants: int = 1) -> tuple[np.ndarray, list, list, np.ndarray]:
    """Label crops of an annotation set (line positions unknown: no attention supervision), each label cropped
    `variants` times with its own box jitter (a few site labels seen hundreds of times would otherwise be learnt
    pixel for pixel)."""
    xs, pros, dests = [], [], []
    for i, frame, dataset in iter_frames(dataset_dir):
        for pallet in dataset.frames[i].pallets:
            if pallet.label is not None:
                for _ in range(variants):
                    box = jitter_box(pallet.label.bbox.as_list(), rng, jitter)
                    xs.append(ocr_input(frame, box).astype(np.float16))
                    pros.append(pallet.label.pro)
                    dests.append(pallet.label.dest)
    rows = np.full((len(xs), 2), np.nan, np.float32)
    return (np.stack(xs) if xs else np.zeros((0, 1, OCR_H, 1), np.float16)), pros, dests, rows


def attention_loss(att: torch.Tensor, rows: torch.Tensor, sigma: float = 0.7) -> torch.Tensor:
    """Cross-entropy between each column's row attention (B, R, T) and a Gaussian at the line's row."""
    valid = ~torch.isnan(rows)
    if not valid.any():
        return att.sum() * 0
    r = torch.arange(att.shape[1], dtype=att.dtype)
    target = torch.exp(-((r[None, :] - rows[valid][:, None]) ** 2) / (2 * sigma**2))
    target = target / target.sum(dim=1, keepdim=True).clamp(min=1e-6)
    return -(target[:, :, None] * torch.log(att[valid] + 1e-6)).sum(dim=1).mean()


def encode(texts: list[str], alphabet: str) -> tuple[torch.Tensor, torch.Tensor]:
    flat = [alphabet.index(c) + 1 for t in texts for c in t]
    return torch.tensor(flat, dtype=torch.long), torch.tensor([len(t) for t in texts], dtype=torch.long)


def exact_match(model: LabelReader, xs: np.ndarray, pros: list, dests: list) -> float:
    model.eval()
    right = 0
    with torch.no_grad():
        for start in range(0, len(xs), 256):
            pro_lp, dest_lp = model(torch.from_numpy(xs[start:start + 256].astype(np.float32)))
            for j in range(pro_lp.shape[0]):
                read = read_label(pro_lp[j].numpy(), dest_lp[j].numpy())
                right += read.pro == pros[start + j] and read.dest == dests[start + j]
    model.train()
    return right / max(1, len(xs))


def main(argv: list[str] | None = None) -> int:
    env = parse_training_env(argv, __doc__ or "")
    steps = int(env.hp("steps", 2000))
    batch = int(env.hp("batch_size", 48))
    lr = float(env.hp("lr", 2e-3))
    width = model_width(env.hyperparameters, env.channel("init"))
    seed = int(env.hp("seed", 2))
    n_synth = int(env.hp("synthetic_labels", 30000))
    jitter = float(env.hp("crop_jitter", 0.06))
    att_weight = float(env.hp("attention_weight", 1.0))
    max_dest = int(env.hp("max_dest_letters", 3))
    dest_weight = float(env.hp("dest_weight", 1.0))
    domain = str(env.hp("domain", "default"))
    variants = max(1, int(env.hp("site_crop_variants", 1)))
    DomainKnobs.named(domain)  # an unknown domain fails here, before any work
    init_config = checkpoint_config(env.channel("init"))
    had_blocks = int(init_config.get("refine_blocks", 0))
    refine_blocks = int(env.hp("refine_blocks", had_blocks))
    if refine_blocks < 0:
        raise SystemExit(f"refine_blocks must be >= 0, got {refine_blocks}")
    if refine_blocks < had_blocks:
        raise SystemExit(f"refine_blocks {refine_blocks} is fewer than the init checkpoint's {had_blocks}")
    fine_tune_share = float(env.hp("fine_tune_share", 1.0))
    if not 0.0 < fine_tune_share <= 1.0:
        raise SystemExit(f"fine_tune_share must be in (0, 1], got {fine_tune_share}")
    if fine_tune_share < 1.0 and env.channel("init") is None:
        raise SystemExit("fine_tune_share < 1 interpolates toward the `init` checkpoint: give an `init` channel")
    if fine_tune_share < 1.0 and refine_blocks != had_blocks:
        raise SystemExit("fine_tune_share < 1 interpolates toward the `init` checkpoint: it cannot grow blocks too")
    precision = training_precision(str(env.hp("precision", "fp32")))
    rng = seed_everything(seed)
    parts = []
    if env.channel("train") is not None:
        parts.append(set_samples(env.channel("train"), rng, jitter, variants))
    if env.channel("replay") is not None:  # the previous version's curated data: keeps its look while fine-tuning
        parts.append(set_samples(env.channel("replay"), rng, jitter))
    if n_synth:
        parts.append(synthetic_samples(n_synth, seed, jitter, max_dest_letters=max_dest, domain=domain))
    if not parts:
        raise SystemExit("no training data: give a `train` channel or synthetic_labels > 0")
    xs = np.concatenate([p[0] for p in parts])
    pros = [t for p in parts for t in p[1]]
    dests = [t for p in parts for t in p[2]]
    rows = np.concatenate([p[3] for p in parts])
    held = rng.permutation(len(xs))
    n_val = min(500, len(xs) // 10)
    val_idx, train_idx = held[:n_val], held[n_val:]
    # train_share: the share of each batch drawn from the `train` channel's crops (a site's few samples would
    # otherwise be a few percent of what the reader sees); 0 draws uniformly from everything.
    n_site = len(parts[0][0]) if env.channel("train") is not None else 0
    train_share = min(0.9, max(0.0, float(env.hp("train_share", 0.0)))) if n_site else 0.0
    site_idx, other_idx = train_idx[train_idx < n_site], train_idx[train_idx >= n_site]
    n_from_site = round(batch * train_share) if len(site_idx) and len(other_idx) else 0
    model = LabelReader(width=width, refine_blocks=refine_blocks)
    init = load_init(model, env.channel("init"), grown="refine." if refine_blocks > had_blocks else None)
    model = model.to(memory_format=torch.channels_last)  # ~1.3x faster convolutions on CPU
    init_state = {k: v.clone() for k, v in model.state_dict().items()} if fine_tune_share < 1.0 else None
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    clock = Stopwatch()
    history = []
    model.train()
    with progress("label reader") as bar:
        task = bar.add_task("train", total=steps, status="")
        for step in range(steps):
            idx = (np.concatenate([rng.choice(site_idx, size=n_from_site),
                                   rng.choice(other_idx, size=batch - n_from_site)])
                   if n_from_site else rng.choice(train_idx, size=batch))
            x = torch.from_numpy(xs[idx].astype(np.float32)).contiguous(memory_format=torch.channels_last)
            if rng.random() < 0.5:  # contrast / inversion-free photometric jitter
                x = x * float(rng.uniform(0.7, 1.3)) + float(rng.uniform(-0.15, 0.15))
            with forward_precision(precision):
                outputs = model.forward_with_attention(x)
            pro_lp, dest_lp, pro_att, dest_att = (o.float() for o in outputs)
            t = pro_lp.shape[1]
            row_t = torch.from_numpy(rows[idx])
            in_len = torch.full((batch,), t, dtype=torch.long)
            pro_t, pro_len = encode([pros[i] for i in idx], PRO_ALPHABET)
            dest_t, dest_len = encode([DEST_PREFIX + dests[i] for i in idx], DEST_ALPHABET)
            l_pro = ctc(pro_lp.permute(1, 0, 2), pro_t, in_len, pro_len)
            l_dest = ctc(dest_lp.permute(1, 0, 2), dest_t, in_len, dest_len)
            l_att = attention_loss(pro_att, row_t[:, 0]) + attention_loss(dest_att, row_t[:, 1])
            loss = l_pro + dest_weight * l_dest + att_weight * l_att
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            if step % 25 == 0 or step == steps - 1:
                history.append({"step": step, "loss": loss.item(), "ctc_pro": l_pro.item(),
                                "ctc_dest": l_dest.item(), "attention": l_att.item()})
                bar.update(task, status=f"loss {loss.item():.3f}")
            if step % 500 == 499:
                em = exact_match(model, xs[val_idx], [pros[i] for i in val_idx], [dests[i] for i in val_idx])
                history[-1]["val_exact_match"] = em
                bar.update(task, status=f"loss {loss.item():.3f} val exact {em:.3f}")
            bar.advance(task)
    model = model.to(memory_format=torch.contiguous_format)
    if init_state is not None:
        keep_share_of_fine_tune(model, init_state, fine_tune_share)
    val_em = exact_match(model, xs[val_idx], [pros[i] for i in val_idx], [dests[i] for i in val_idx])
    metrics = {
        "model": "ocr", "parameters": count_parameters(model), "refine_blocks": refine_blocks, "steps": steps,
        "batch_size": batch,
        "samples": len(xs), "synthetic_labels": n_synth, "site_samples": n_site, "site_crop_variants": variants,
        "train_share": train_share, "fine_tune_share": fine_tune_share, "precision": precision,
        "train_seconds": round(clock.seconds, 1),
        "final_loss": history[-1]["loss"], "val_exact_match": val_em, "loss_history": history, "init": init,
    }
    save_checkpoint(env.model_dir, model, {"width": width, "refine_blocks": refine_blocks}, metrics)
    write_serving_model("ocr", model, env.model_dir,
                        training_lineage(env.hyperparameters, env.channel("train"), metrics),
                        samples=xs[val_idx[:8]].astype(np.float32))
    print(f"ocr: {steps} steps in {clock.seconds:.0f}s, val exact match {val_em:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
