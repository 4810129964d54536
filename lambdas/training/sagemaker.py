"""`TrainingBackend` on SageMaker: `create_training_job` in script mode, `describe_training_job` to poll.

The container runs `training/<entry_point>.py` with the SageMaker conventions (`SM_MODEL_DIR`,
`SM_CHANNEL_TRAIN`, hyperparameters); the output lands at `<output>/<job>/output/model.tar.gz`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.errors import TrainingError
from lambdas.common.events import TrainingResult, TrainingStatus
from lambdas.common.interfaces import TrainingJobSpec
from lambdas.common.settings import Settings


class SageMakerTraining:
    def __init__(self, client: Any, settings: Settings) -> None:
        self._sm = client
        self._settings = settings

    def start(self, spec: TrainingJobSpec) -> None:
        hps = {**spec.hyperparameters, "sagemaker_program": f"training/{spec.entry_point}.py"}
        channels = spec.channels()
        try:
            self._sm.create_training_job(
                TrainingJobName=spec.job_name,
                AlgorithmSpecification={"TrainingImage": self._settings.training_image, "TrainingInputMode": "File"},
                RoleArn=self._settings.training_role_arn,
                InputDataConfig=[{"ChannelName": name, "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": uri,
                    "S3DataDistributionType": "FullyReplicated"}}} for name, uri in channels],
                OutputDataConfig={"S3OutputPath": spec.output_s3_uri},
                ResourceConfig={"InstanceType": self._settings.training_instance_type, "InstanceCount": 1,
                                "VolumeSizeInGB": 30},
                StoppingCondition={"MaxRuntimeInSeconds": spec.max_runtime_seconds},
                HyperParameters=hps, Tags=[{"Key": "edgecv:entry_point", "Value": spec.entry_point}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceInUse":
                return  # a retried start: the job already exists
            raise TrainingError(f"CreateTrainingJob {spec.job_name}: {exc.response['Error']['Message']}") from exc

    def describe(self, job_name: str) -> TrainingResult:
        try:
            job = self._sm.describe_training_job(TrainingJobName=job_name)
        except ClientError as exc:
            raise TrainingError(f"DescribeTrainingJob {job_name}: {exc.response['Error']['Message']}") from exc
        return TrainingResult(job_name=job_name, status=TrainingStatus(job["TrainingJobStatus"]),
                              model_artifact=job.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
                              failure_reason=job.get("FailureReason"))
