"""The training job's channels: `train` always, `init` (a checkpoint to fine-tune from) and `replay` (an earlier
labeled set) when the run names them, both for SageMaker (CreateTrainingJob's InputDataConfig) and for the local
emulator (SM_CHANNEL_INIT, SM_CHANNEL_REPLAY)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdas.common.deps import Deps
from lambdas.common.errors import TrainingError
from lambdas.common.events import DatasetResult, PipelineConfig, TrainingResult, TrainingState, TrainingStatus
from lambdas.common.interfaces import TrainingJobSpec
from lambdas.common.settings import Settings
from lambdas.localcloud.training_emulator import LocalTrainingEmulator
from lambdas.training.core import start_training
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


def run_to_completion(emulator: LocalTrainingEmulator, job: TrainingJobSpec) -> None:
    """Start the job, wait (30 s at most) for it to leave IN_PROGRESS, close the emulator; it must have completed."""
    emulator.start(job)
    deadline = time.monotonic() + 30
    while (result := emulator.describe(job.job_name)).status is TrainingStatus.IN_PROGRESS:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    emulator.close()
    assert result.status is TrainingStatus.COMPLETED, result.failure_reason


@pytest.mark.parametrize("fine_tune", [False, True])
def test_the_emulator_downloads_the_init_channel(aws: None, tmp_path: Path, fine_tune: bool) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("curated", "artifacts"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="curated", Key="runs/1/annotations.json", Body=b"{}")
    s3.put_object(Bucket="artifacts", Key="checkpoints/ocr/1/model.pt", Body=b"weights")
    emulator = LocalTrainingEmulator(s3, tmp_path / "work", python=fake_python(tmp_path / "py.sh"), cwd=tmp_path)
    job = spec("s3://artifacts/checkpoints/ocr/1/" if fine_tune else None)
    run_to_completion(emulator, job)
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


# ---- the `replay` channel: earlier labeled data mixed in against forgetting ------------------------------------

def replay_spec(replay: str | None, init: str | None = None) -> TrainingJobSpec:
    return TrainingJobSpec(job_name="edgecv-run-2", entry_point="train_damage", train_s3_uri="s3://curated/runs/2/",
                           output_s3_uri="s3://artifacts/training/", hyperparameters={"steps": "3"},
                           max_runtime_seconds=600, init_s3_uri=init, replay_s3_uri=replay)


def test_the_spec_lists_train_then_init_then_replay_and_leaves_out_the_unnamed() -> None:
    assert replay_spec(None).channels() == [("train", "s3://curated/runs/2/")]
    assert replay_spec("s3://curated/golden-v1/").channels() == [("train", "s3://curated/runs/2/"),
                                                                  ("replay", "s3://curated/golden-v1/")]
    assert replay_spec("s3://curated/golden-v1/", "s3://artifacts/checkpoints/damage/1/").channels() == [
        ("train", "s3://curated/runs/2/"), ("init", "s3://artifacts/checkpoints/damage/1/"),
        ("replay", "s3://curated/golden-v1/")]


def test_the_spec_treats_an_empty_replay_uri_as_no_channel() -> None:
    assert [name for name, _ in replay_spec("").channels()] == ["train"]


def test_sagemaker_gets_a_replay_channel_only_when_the_run_names_replay_data(deps: Any) -> None:
    sm = RecordingSageMaker()
    backend = SageMakerTraining(sm, deps.settings)
    backend.start(replay_spec(None))
    backend.start(replay_spec("s3://curated/replay/v1/", "s3://artifacts/checkpoints/damage/1/"))
    channels = [[(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in call["InputDataConfig"]]
                for call in sm.calls]
    assert channels == [[("train", "s3://curated/runs/2/")],
                        [("train", "s3://curated/runs/2/"), ("init", "s3://artifacts/checkpoints/damage/1/"),
                         ("replay", "s3://curated/replay/v1/")]]
    replay = sm.calls[1]["InputDataConfig"][2]["DataSource"]["S3DataSource"]
    assert replay["S3DataType"] == "S3Prefix" and replay["S3DataDistributionType"] == "FullyReplicated"


def test_the_run_config_refuses_replay_data_that_is_not_an_s3_prefix() -> None:
    with pytest.raises(ValueError, match="replay_data"):
        PipelineConfig(replay_data="/data/golden-v1")


def test_the_run_config_accepts_an_s3_replay_prefix() -> None:
    assert PipelineConfig(replay_data="s3://edgecv-curated/golden/").replay_data == "s3://edgecv-curated/golden/"


class RecordingBackend:
    def __init__(self) -> None:
        self.specs: list[TrainingJobSpec] = []

    def start(self, spec: TrainingJobSpec) -> None:
        self.specs.append(spec)

    def describe(self, job_name: str) -> TrainingResult:
        return TrainingResult(job_name=job_name, status=TrainingStatus.IN_PROGRESS)


@pytest.mark.parametrize("replay", [None, "s3://t-curated/golden/"])
def test_start_training_passes_the_runs_replay_data_to_the_job(replay: str | None) -> None:
    backend = RecordingBackend()
    deps = Deps(settings=Settings(landing_bucket="t-landing", curated_bucket="t-curated",
                                  artifacts_bucket="t-artifacts"), training=backend)
    state = TrainingState(run_id="r7", config=PipelineConfig(replay_data=replay,
                                                             init_checkpoint="s3://t-artifacts/checkpoints/d/1/"),
                          dataset=DatasetResult(prefix="runs/r7/dataset/", frames=4, sha256="0" * 64))
    result = start_training(state, deps)
    assert result.status is TrainingStatus.IN_PROGRESS
    [spec_started] = backend.specs
    assert spec_started.replay_s3_uri == replay
    assert spec_started.init_s3_uri == "s3://t-artifacts/checkpoints/d/1/"
    assert spec_started.channels()[0] == ("train", "s3://t-curated/runs/r7/dataset/")
    assert ("replay" in dict(spec_started.channels())) is (replay is not None)


def fake_python_listing_replay(path: Path) -> str:
    """Like fake_python, but lists the replay channel's folder into the model dir."""
    path.write_text("#!/bin/sh\nenv | grep '^SM_' | sort > \"$SM_MODEL_DIR/env.txt\"\n"
                    "ls -R \"$SM_CHANNEL_REPLAY\" > \"$SM_MODEL_DIR/replay.txt\" 2>/dev/null\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def s3_with_runs(replay_files: bool) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("curated", "artifacts"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="curated", Key="runs/2/annotations.json", Body=b"{}")
    if replay_files:
        s3.put_object(Bucket="curated", Key="replay/v1/annotations.json", Body=b"{\"frames\": []}")
        s3.put_object(Bucket="curated", Key="replay/v1/images/000001.jpg", Body=b"jpeg")
    return s3


@pytest.mark.parametrize("with_replay", [False, True])
def test_the_emulator_downloads_the_replay_channel(aws: None, tmp_path: Path, with_replay: bool) -> None:
    s3 = s3_with_runs(replay_files=True)
    emulator = LocalTrainingEmulator(s3, tmp_path / "work", python=fake_python_listing_replay(tmp_path / "py.sh"),
                                     cwd=tmp_path)
    job = replay_spec("s3://curated/replay/v1/" if with_replay else None)
    run_to_completion(emulator, job)
    root = tmp_path / "work" / job.job_name
    env = dict(line.split("=", 1) for line in (root / "model" / "env.txt").read_text().splitlines())
    assert json.loads(env["SM_CHANNELS"]) == (["replay", "train"] if with_replay else ["train"])
    assert ("SM_CHANNEL_REPLAY" in env) is with_replay
    if with_replay:
        replay_dir = root / "input" / "data" / "replay"
        assert Path(env["SM_CHANNEL_REPLAY"]) == replay_dir
        assert (replay_dir / "annotations.json").read_bytes() == b"{\"frames\": []}"
        assert (replay_dir / "images" / "000001.jpg").read_bytes() == b"jpeg"
        assert "annotations.json" in (root / "model" / "replay.txt").read_text().split()
    else:
        assert not (root / "input" / "data" / "replay").exists()


def test_the_emulator_refuses_an_empty_replay_channel_naming_it(aws: None, tmp_path: Path) -> None:
    s3 = s3_with_runs(replay_files=False)
    emulator = LocalTrainingEmulator(s3, tmp_path / "work", python=fake_python_listing_replay(tmp_path / "py.sh"),
                                     cwd=tmp_path)
    with pytest.raises(TrainingError, match="the replay channel s3://curated/replay/none/ is empty"):
        emulator.start(replay_spec("s3://curated/replay/none/"))
    with pytest.raises(TrainingError, match="no training job"):
        emulator.describe("edgecv-run-2")  # nothing was started
