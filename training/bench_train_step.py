"""Time one training step of each network in fp32 and in bf16 autocast, in the same run (`edgecv bench train-step`).

A step is what the trainers do per batch, on random inputs of the recipe's batch and input size: the forward pass
under `forward_precision`, the trainer's own loss on fp32 outputs, backward, gradient clipping and an AdamW step.
One thread by default, as each of `make train`'s two lanes runs. Data preparation is not timed (it does not depend
on the precision).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from model_repository.processing import DEST_ALPHABET, DEST_PREFIX, DETECTOR_H, DETECTOR_W, OCR_H, OCR_W, PRO_ALPHABET
from training.common import forward_precision, native_bf16, training_precision
from training.models import DamageClassifier, LabelReader, PalletDetector
from training.train_detector import OUT_H, OUT_W, detector_loss
from training.train_ocr import attention_loss, encode

FORMAT = "edgecv-train-step-bench/1"


@dataclass(frozen=True)
class StepCase:
    """One network's step: the model, a batch, and its loss on fp32 outputs."""

    model: torch.nn.Module
    inputs: torch.Tensor
    loss: Callable[[tuple[torch.Tensor, ...]], torch.Tensor]
    forward: Callable[[torch.nn.Module, torch.Tensor], tuple[torch.Tensor, ...]]


def detector_case(batch: int = 8) -> StepCase:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, DETECTOR_H, DETECTOR_W, 3, generator=g).permute(0, 3, 1, 2)  # NHWC memory, as trained
    heat = torch.rand(batch, 3, OUT_H, OUT_W, generator=g) * 0.9
    mask = (torch.rand(batch, OUT_H, OUT_W, generator=g) > 0.99).float()
    targets = (heat, torch.rand(batch, 2, OUT_H, OUT_W, generator=g), torch.rand(batch, 2, OUT_H, OUT_W, generator=g),
               mask)
    return StepCase(PalletDetector(), x, lambda out: detector_loss(out, targets)[0], lambda m, x: m(x))


def reader_case(batch: int = 32) -> StepCase:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, OCR_H, OCR_W, generator=g).contiguous(memory_format=torch.channels_last)
    pro_t, pro_len = encode(["1234567890"] * batch, PRO_ALPHABET)
    dest_t, dest_len = encode([DEST_PREFIX + "ABCDEFGH"] * batch, DEST_ALPHABET)
    rows = torch.full((batch,), 4.0)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)

    def loss(out: tuple[torch.Tensor, ...]) -> torch.Tensor:
        pro_lp, dest_lp, pro_att, dest_att = out
        in_len = torch.full((batch,), pro_lp.shape[1], dtype=torch.long)
        return (ctc(pro_lp.permute(1, 0, 2), pro_t, in_len, pro_len)
                + ctc(dest_lp.permute(1, 0, 2), dest_t, in_len, dest_len)
                + attention_loss(pro_att, rows) + attention_loss(dest_att, rows))

    return StepCase(LabelReader(), x, loss, lambda m, x: m.forward_with_attention(x))


def damage_case(batch: int = 64) -> StepCase:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 128, 128, generator=g).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, generator=g) > 0.7).float()
    bce = torch.nn.BCEWithLogitsLoss()
    return StepCase(DamageClassifier(width=1.5), x, lambda out: bce(out[0][:, 0], y), lambda m, x: (m(x),))


CASES: dict[str, Callable[[], StepCase]] = {"detector": detector_case, "ocr": reader_case,
                                            "damage_classifier": damage_case}


def seconds_per_step(case: StepCase, precision: str, steps: int, warmup: int = 3) -> float:
    torch.manual_seed(0)
    model = case.model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        with forward_precision(precision):
            outputs = case.forward(model, case.inputs)
        loss = case.loss(tuple(o.float() for o in outputs))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def bench_train_step(steps: int = 20, threads: int = 1, models: tuple[str, ...] = tuple(CASES),
                     on_result: Callable[[str, dict], None] | None = None) -> dict:
    """Per-step seconds in fp32 and bf16 for each model, and the bf16 speed-up (fp32 time / bf16 time)."""
    torch.set_num_threads(threads)
    result: dict = {"format": FORMAT, "steps": steps, "threads": threads,
                    "native_bf16": native_bf16(),
                    "auto_picks": training_precision("auto"), "models": {}}
    for name in models:
        fp32 = seconds_per_step(CASES[name](), "fp32", steps)
        bf16 = seconds_per_step(CASES[name](), "bf16", steps)
        entry = {"fp32_s": round(fp32, 4), "bf16_s": round(bf16, 4), "bf16_speedup": round(fp32 / bf16, 3)}
        result["models"][name] = entry
        if on_result:
            on_result(name, entry)
    return result
