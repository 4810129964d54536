import json

from training.sagemaker_env import parse_training_env


def test_sagemaker_environment_and_hyperparameters(tmp_path, monkeypatch):
    hp = tmp_path / "hyperparameters.json"
    hp.write_text(json.dumps({"steps": "50", "lr": "0.01", "width": "2.0"}))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "train"))
    monkeypatch.setenv("SM_HP_FILE", str(hp))
    env = parse_training_env(["--steps", "70"])
    assert env.model_dir == tmp_path / "model" and env.model_dir.is_dir()
    assert env.channel("train") == tmp_path / "train"
    assert env.hp("steps", 1) == 70  # arguments win over the file
    assert env.hp("lr", 0.1) == 0.01
    assert env.hp("missing", 3) == 3


def test_channel_arguments(tmp_path, monkeypatch):
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    env = parse_training_env(["--model-dir", str(tmp_path), "--channel", f"init={tmp_path}"])
    assert env.channel("init") == tmp_path
