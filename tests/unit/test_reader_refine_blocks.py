"""The label reader grows residual blocks without forgetting: a trained network loaded into a deeper one reads the
same until training moves the new blocks; a checkpoint of another shape is refused."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training.common import checkpoint_config, load_init, save_checkpoint  # noqa: E402
from training.models import LabelReader  # noqa: E402
from training.train_ocr import main  # noqa: E402


def _trained_v1(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = LabelReader()
    with torch.no_grad():  # not a fresh network: every weight and statistic moved
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for name, buf in model.named_buffers():
            if "running_mean" in name:
                buf.add_(0.05)
    save_checkpoint(tmp_path, model, {"width": 1.0}, {})
    return tmp_path


def test_grown_blocks_start_as_identities(tmp_path: Path) -> None:
    init = _trained_v1(tmp_path)
    v1, grown = LabelReader(), LabelReader(refine_blocks=2)
    load_init(v1, init)
    load_init(grown, init, grown="refine.")
    v1.eval()
    grown.eval()
    x = torch.rand(3, 1, 128, 96)
    with torch.no_grad():
        for a, b in zip(v1(x), grown(x), strict=True):
            assert torch.allclose(a, b, atol=1e-6)
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in v1.parameters())


def test_once_trained_the_blocks_change_the_reading() -> None:
    torch.manual_seed(1)
    model = LabelReader(refine_blocks=1)
    model.eval()
    x = torch.rand(2, 1, 128, 96)
    with torch.no_grad():
        before = model(x)[0].clone()
        for block in model.refine:
            block[0].body[2].weight.fill_(1.0)  # the zero-initialised scale, as training would move it
        after = model(x)[0]
    assert not torch.allclose(before, after)


def test_a_checkpoint_of_another_network_is_refused(tmp_path: Path) -> None:
    init = _trained_v1(tmp_path)
    with pytest.raises(ValueError, match="not this network"):
        load_init(LabelReader(refine_blocks=1), init, grown="features.")  # only the named prefix may be new
    with pytest.raises(RuntimeError):
        load_init(LabelReader(refine_blocks=1), init)  # growing must be asked for


def test_train_ocr_refuses_to_shrink_or_to_grow_under_wise_ft(tmp_path: Path) -> None:
    deep = tmp_path / "deep"
    deep.mkdir()
    save_checkpoint(deep, LabelReader(refine_blocks=2), {"width": 1.0, "refine_blocks": 2}, {})
    assert checkpoint_config(deep)["refine_blocks"] == 2
    with pytest.raises(SystemExit, match="fewer than the init checkpoint's 2"):
        main(["--model-dir", str(tmp_path / "m1"), "--hp", "refine_blocks=1", "--channel", f"init={deep}"])
    with pytest.raises(SystemExit, match="must be >= 0"):
        main(["--model-dir", str(tmp_path / "m0"), "--hp", "refine_blocks=-1"])
    with pytest.raises(SystemExit, match="cannot grow blocks"):
        main(["--model-dir", str(tmp_path / "m2"), "--hp", "refine_blocks=3", "--hp", "fine_tune_share=0.7",
              "--channel", f"init={deep}"])
    assert not (tmp_path / "m1").exists() or not any((tmp_path / "m1").iterdir())
