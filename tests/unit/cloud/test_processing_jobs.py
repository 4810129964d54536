"""Processing jobs: the SageMaker adapter against moto, and the local emulator running a real module."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lambdas.common.deps import Deps
from lambdas.common.errors import ProcessingError
from lambdas.common.events import TrainingStatus
from lambdas.common.interfaces import ProcessingJobSpec
from lambdas.common.processing import SageMakerProcessing
from lambdas.common.settings import Settings
from lambdas.localcloud.processing_emulator import LocalProcessingEmulator


def spec(module: str = "tests.unit.cloud.copy_job", *arguments: str, name: str = "edgecv-copy-r1") -> ProcessingJobSpec:
    return ProcessingJobSpec(job_name=name, module=module, inputs={"words": "s3://t-artifacts/in/"},
                             outputs={"shouted": "s3://t-artifacts/out/"}, arguments=arguments,
                             max_runtime_seconds=600)


def test_sagemaker_processing_job_runs_the_module_with_the_container_roots(deps: Deps) -> None:
    settings = Settings(**{**deps.settings.model_dump(), "processing_image": "123.dkr.ecr/edgecv-processing:1",
                           "processing_role_arn": "arn:aws:iam::123456789012:role/edgecv-processing"})
    sm = deps.aws("sagemaker")
    backend = SageMakerProcessing(sm, settings)
    backend.start(spec("edgecv.jobs.evaluate_candidate", "--candidate", "ocr=2"))
    job = sm.describe_processing_job(ProcessingJobName="edgecv-copy-r1")
    assert job["AppSpecification"]["ContainerEntrypoint"] == ["python", "-m", "edgecv.jobs.evaluate_candidate"]
    assert job["AppSpecification"]["ContainerArguments"] == [
        "--input-root", "/opt/ml/processing/input", "--output-root", "/opt/ml/processing/output",
        "--candidate", "ocr=2"]
    (inp,) = job["ProcessingInputs"]
    assert inp["S3Input"]["S3Uri"] == "s3://t-artifacts/in/"
    assert inp["S3Input"]["LocalPath"] == "/opt/ml/processing/input/words"
    (out,) = job["ProcessingOutputConfig"]["Outputs"]
    assert out["S3Output"]["LocalPath"] == "/opt/ml/processing/output/shouted"
    assert backend.describe("edgecv-copy-r1").status is TrainingStatus.COMPLETED  # moto runs nothing


def test_sagemaker_processing_needs_an_image_and_a_role(deps: Deps) -> None:
    with pytest.raises(ProcessingError, match="PROCESSING_IMAGE and PROCESSING_ROLE_ARN"):
        SageMakerProcessing(deps.aws("sagemaker"), deps.settings).start(spec())


def wait(emulator: LocalProcessingEmulator, name: str, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while (result := emulator.describe(name)).status is TrainingStatus.IN_PROGRESS:
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.1)
    return result


def test_the_emulator_downloads_inputs_runs_the_module_and_uploads_outputs(deps: Deps, tmp_path: Path) -> None:
    s3 = deps.aws("s3")
    s3.put_object(Bucket="t-artifacts", Key="in/a.txt", Body=b"pallet")
    s3.put_object(Bucket="t-artifacts", Key="in/deep/b.txt", Body=b"label")
    emulator = LocalProcessingEmulator(s3, tmp_path)
    try:
        emulator.start(spec())
        emulator.start(spec())  # a retried start is a no-op
        assert wait(emulator, "edgecv-copy-r1").status is TrainingStatus.COMPLETED
    finally:
        emulator.close()
    assert s3.get_object(Bucket="t-artifacts", Key="out/a.txt")["Body"].read() == b"PALLET"
    assert s3.get_object(Bucket="t-artifacts", Key="out/deep/b.txt")["Body"].read() == b"LABEL"


def test_a_failing_job_reports_its_last_line_and_uploads_nothing(deps: Deps, tmp_path: Path) -> None:
    s3 = deps.aws("s3")
    s3.put_object(Bucket="t-artifacts", Key="in/a.txt", Body=b"pallet")
    emulator = LocalProcessingEmulator(s3, tmp_path)
    try:
        emulator.start(spec("edgecv.jobs.evaluate_candidate", "--candidate", "ocr"))
        result = wait(emulator, "edgecv-copy-r1")
    finally:
        emulator.close()
    assert result.status is TrainingStatus.FAILED
    assert result.failure_reason == "exit 2: evaluation job: not NETWORK=VERSION: 'ocr'"
    assert "Contents" not in s3.list_objects_v2(Bucket="t-artifacts", Prefix="out/")


def test_the_emulator_refuses_an_empty_input(deps: Deps, tmp_path: Path) -> None:
    with pytest.raises(ProcessingError, match="the words input s3://t-artifacts/in/ is empty"):
        LocalProcessingEmulator(deps.aws("s3"), tmp_path).start(spec())
