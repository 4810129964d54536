"""WiSE-FT: a fine-tune keeps the asked share of its weight change from the init checkpoint, and train_ocr refuses
a share it cannot honour before any work."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training.common import keep_share_of_fine_tune  # noqa: E402
from training.models import DamageClassifier  # noqa: E402
from training.train_ocr import main  # noqa: E402


def _tuned_pair() -> tuple[torch.nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = DamageClassifier()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        for buf in model.buffers():
            if buf.is_floating_point():
                buf.add_(1.0)
    return model, init, {k: v.clone() for k, v in model.state_dict().items()}


def test_the_weights_move_back_toward_init_by_the_share_not_kept() -> None:
    model, init, tuned = _tuned_pair()
    keep_share_of_fine_tune(model, init, 0.7)
    now = model.state_dict()
    floats = [k for k, v in now.items() if v.is_floating_point()]
    assert floats and any("running" in k for k in floats)  # batch-norm statistics move too
    for name in floats:
        assert torch.allclose(now[name], init[name] + 0.7 * (tuned[name] - init[name]), atol=1e-6), name
    counters = [k for k, v in now.items() if not v.is_floating_point()]
    assert all(torch.equal(now[k], tuned[k]) for k in counters)  # e.g. num_batches_tracked: left as tuned


def test_share_one_keeps_the_fine_tune_and_a_bad_share_or_network_is_refused() -> None:
    model, init, tuned = _tuned_pair()
    keep_share_of_fine_tune(model, init, 1.0)
    assert all(torch.equal(model.state_dict()[k], tuned[k]) for k in tuned)
    for share in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="must be in"):
            keep_share_of_fine_tune(model, init, share)
    with pytest.raises(ValueError, match="not this network"):
        keep_share_of_fine_tune(model, {"other": torch.zeros(1)}, 0.5)


def test_train_ocr_refuses_a_share_without_init_or_out_of_range_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="give an `init` channel"):
        main(["--model-dir", str(tmp_path / "model"), "--hp", "fine_tune_share=0.7"])
    with pytest.raises(SystemExit, match=r"must be in \(0, 1\]"):
        main(["--model-dir", str(tmp_path / "model"), "--hp", "fine_tune_share=0"])
    assert not (tmp_path / "model" / "model.onnx").exists()
