"""The trainers' forward-pass precision: fp32, bf16 autocast, or auto (bf16 where the CPU has it natively)."""

import pytest
import torch

from training.common import forward_precision, native_bf16, training_precision


def test_fp32_and_bf16_are_taken_as_given():
    assert training_precision("fp32") == "fp32"
    assert training_precision("bf16") == "bf16"


@pytest.mark.parametrize(("avx512_bf16", "amx", "picked"),
                         [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")])
def test_auto_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, avx512_bf16, amx, picked):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)  # plain AVX-512: emulated
    assert native_bf16() is (avx512_bf16 or amx)
    assert training_precision("auto") == picked


def test_an_unknown_precision_is_one_clear_error():
    with pytest.raises(SystemExit, match="precision must be one of fp32, bf16, auto, got 'fp16'"):
        training_precision("fp16")


def test_bf16_runs_the_convolutions_in_bfloat16_and_fp32_does_not():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with forward_precision("bf16"):
        assert conv(x).dtype == torch.bfloat16
    with forward_precision("fp32"):
        assert conv(x).dtype == torch.float32
