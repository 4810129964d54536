"""SageMaker training-container conventions, so one entry point runs locally and as a training job.

- model output: `SM_MODEL_DIR` (default /opt/ml/model), or `--model-dir`
- input channels: `SM_CHANNEL_<NAME>` (e.g. SM_CHANNEL_TRAIN), or `--channel NAME=DIR`
- hyperparameters: `/opt/ml/input/config/hyperparameters.json` (SageMaker passes strings), then
  `--hp KEY=VALUE` / `--key value` arguments, which win
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

HYPERPARAMETERS_FILE = Path("/opt/ml/input/config/hyperparameters.json")


@dataclass
class TrainingEnv:
    model_dir: Path
    channels: dict[str, Path]
    hyperparameters: dict[str, str] = field(default_factory=dict)
    output_data_dir: Path | None = None

    def hp(self, name: str, default: float | int | str) -> float | int | str:
        raw = self.hyperparameters.get(name)
        if raw is None:
            return default
        try:
            return type(default)(json.loads(raw)) if not isinstance(default, str) else str(raw)
        except (ValueError, TypeError) as exc:
            raise SystemExit(f"hyperparameter {name}={raw!r} is not a {type(default).__name__}") from exc

    def channel(self, name: str) -> Path | None:
        return self.channels.get(name)


def parse_training_env(argv: list[str] | None = None, description: str = "") -> TrainingEnv:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--channel", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE")
    args, rest = parser.parse_known_args(argv)
    channels = {
        key[len("SM_CHANNEL_"):].lower(): Path(value)
        for key, value in os.environ.items() if key.startswith("SM_CHANNEL_")
    }
    for item in args.channel:
        name, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"--channel expects NAME=DIR, got {item!r}")
        channels[name.lower()] = Path(path)
    hps: dict[str, str] = {}
    hp_file = Path(os.environ.get("SM_HP_FILE", HYPERPARAMETERS_FILE))
    if hp_file.is_file():
        hps.update({k: str(v) for k, v in json.loads(hp_file.read_text()).items()})
    for item in args.hp:
        key, _, value = item.partition("=")
        hps[key.replace("-", "_")] = value
    it = iter(rest)
    for token in it:  # SageMaker script mode passes hyperparameters as --key value
        if token.startswith("--"):
            hps[token[2:].replace("-", "_")] = next(it, "true")
    out = os.environ.get("SM_OUTPUT_DATA_DIR")
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    return TrainingEnv(model_dir, channels, hps, Path(out) if out else None)
