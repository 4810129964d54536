"""The training job's channels: `train` always, `init` (a checkpoint to fine-tune from) when the run names one,
both for SageMaker (CreateTrainingJob's InputDataConfig) and for the local emulator (SM_CHANNEL_INIT)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdas.common.events import PipelineConfig, TrainingStatus
from lambdas.common.interfaces import TrainingJobSpec
from lambdas.localcloud.training_emulator import LocalTrainingEmulator
from lambdas.training.sagemaker import SageMakerTraining


class RecordingSageMaker:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def create_training_job(self, **kwargs: Any) -> dict:
        self.calls.append(kwargs)
        return {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x"}


def spec(init: str | None) -> TrainingJobSpec:
    return TrainingJobSpec(job_name="edgecv-run-1", entry_point="train_ocr", train_s3_uri="s3://curated/runs/1/",
                           output_s3_uri="s3://artifacts/training/", hyperparameters={"steps": "3"},
                           max_runtime_seconds=600, init_s3_uri=init)


def test_sagemaker_gets_an_init_channel_only_when_fine_tuning(deps: Any) -> None:
    sm = RecordingSageMaker()
    backend = SageMakerTraining(sm, deps.settings)
    backend.start(spec(None))
    backend.start(spec("s3://artifacts/checkpoints/ocr/1/"))
    channels = [[(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in call["InputDataConfig"]]
                for call in sm.calls]
    assert channels == [[("train", "s3://curated/runs/1/")],
                        [("train", "s3://curated/runs/1/"), ("init", "s3://artifacts/checkpoints/ocr/1/")]]


def test_the_run_config_refuses_a_checkpoint_that_is_not_an_s3_prefix() -> None:
    with pytest.raises(ValueError, match="init_checkpoint"):
        PipelineConfig(init_checkpoint="/tmp/model.pt")


def fake_python(path: Path) -> str:
    """Stands in for the interpreter: records the channels it was given into the model dir, like a trainer."""
    path.write_text("#!/bin/sh\nenv | grep '^SM_' | sort > \"$SM_MODEL_DIR/env.txt\"\n"
                    "ls \"$SM_CHANNEL_INIT\" > \"$SM_MODEL_DIR/init.txt\" 2>/dev/null\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize("fine_tune", [False, True])
def test_the_emulator_downloads_the_init_channel(aws: None, tmp_path: Path, fine_tune: bool) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("curated", "artifacts"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="curated", Key="runs/1/annotations.json", Body=b"{}")
    s3.put_object(Bucket="artifacts", Key="checkpoints/ocr/1/model.pt", Body=b"weights")
    emulator = LocalTrainingEmulator(s3, tmp_path / "work", python=fake_python(tmp_path / "py.sh"), cwd=tmp_path)
    job = spec("s3://artifacts/checkpoints/ocr/1/" if fine_tune else None)
    emulator.start(job)
    deadline = time.monotonic() + 30
    while (result := emulator.describe(job.job_name)).status is TrainingStatus.IN_PROGRESS:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    emulator.close()
    assert result.status is TrainingStatus.COMPLETED, result.failure_reason
    model_dir = tmp_path / "work" / job.job_name / "model"
    env = dict(line.split("=", 1) for line in (model_dir / "env.txt").read_text().splitlines())
    assert json.loads(env["SM_CHANNELS"]) == (["init", "train"] if fine_tune else ["train"])
    assert ("SM_CHANNEL_INIT" in env) is fine_tune
    if fine_tune:
        assert (model_dir / "init.txt").read_text().split() == ["model.pt"]
    assert os.path.isdir(env["SM_CHANNEL_TRAIN"])


def test_the_emulator_refuses_an_empty_init_channel(aws: None, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("curated", "artifacts"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="curated", Key="runs/1/annotations.json", Body=b"{}")
    emulator = LocalTrainingEmulator(s3, tmp_path / "work", python=fake_python(tmp_path / "py.sh"), cwd=tmp_path)
    with pytest.raises(Exception, match="init channel"):
        emulator.start(spec("s3://artifacts/checkpoints/none/"))
