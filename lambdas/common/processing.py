"""`ProcessingBackend` on SageMaker Processing: `create_processing_job`, polled with `describe_processing_job`.

The work that needs Triton or the teacher networks (the evaluation gate, teacher labeling) runs in the
processing image (`docker/processing.Dockerfile`: Triton, ONNX Runtime and this repository), never in a Lambda.
The container runs `python -m <module> --input-root /opt/ml/processing/input --output-root
/opt/ml/processing/output <arguments>`; SageMaker downloads each input prefix to `input/<name>` first and
uploads each `output/<name>` to its prefix after a clean exit. `lambdas.localcloud.processing_emulator` does
the same on one machine.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.errors import ProcessingError
from lambdas.common.events import ProcessingResult, TrainingStatus
from lambdas.common.interfaces import ProcessingJobSpec
from lambdas.common.settings import Settings

INPUT_ROOT = "/opt/ml/processing/input"
OUTPUT_ROOT = "/opt/ml/processing/output"


def container_arguments(spec: ProcessingJobSpec, input_root: str = INPUT_ROOT,
                        output_root: str = OUTPUT_ROOT) -> list[str]:
    """The job's argv after `python -m <module>` (the emulator passes its own roots)."""
    return ["--input-root", input_root, "--output-root", output_root, *spec.arguments]


def processing_inputs(spec: ProcessingJobSpec) -> list[tuple[str, str, str]]:
    """(name, S3 URI, S3DataType) of every input, sorted by name."""
    inputs = [(n, u, "S3Prefix") for n, u in spec.inputs.items()]
    inputs += [(n, u, "ManifestFile") for n, u in spec.manifest_inputs.items()]
    return sorted(inputs)


def write_manifest(s3: Any, bucket: str, key: str, base: str, keys: list[str]) -> str:
    """Write a SageMaker manifest file listing `keys` (each under `base`, an s3://bucket/prefix/); return its URI."""
    _, _, prefix = base[5:].partition("/")
    entries: list[Any] = [{"prefix": base}]
    for k in keys:
        if not k.startswith(prefix):
            raise ProcessingError(f"{k} is not under {base}")
        entries.append(k[len(prefix):])
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(entries).encode(), ContentType="application/json")
    return f"s3://{bucket}/{key}"


def job_name(kind: str, run_id: str) -> str:
    return f"edgecv-{kind}-{run_id}"[:63]


class SageMakerProcessing:
    def __init__(self, client: Any, settings: Settings) -> None:
        self._sm = client
        self._settings = settings

    def start(self, spec: ProcessingJobSpec) -> None:
        st = self._settings
        if not st.processing_image or not st.processing_role_arn:
            raise ProcessingError("PROCESSING_IMAGE and PROCESSING_ROLE_ARN must be set to run processing jobs")
        try:
            self._sm.create_processing_job(
                ProcessingJobName=spec.job_name,
                AppSpecification={"ImageUri": st.processing_image,
                                  "ContainerEntrypoint": ["python", "-m", spec.module],
                                  "ContainerArguments": container_arguments(spec)},
                ProcessingInputs=[{"InputName": name, "S3Input": {
                    "S3Uri": uri, "LocalPath": f"{INPUT_ROOT}/{name}", "S3DataType": kind,
                    "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}
                    for name, uri, kind in processing_inputs(spec)],
                ProcessingOutputConfig={"Outputs": [{"OutputName": name, "S3Output": {
                    "S3Uri": uri, "LocalPath": f"{OUTPUT_ROOT}/{name}", "S3UploadMode": "EndOfJob"}}
                    for name, uri in sorted(spec.outputs.items())]},
                ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": st.processing_instance_type,
                                                       "VolumeSizeInGB": 30}},
                StoppingCondition={"MaxRuntimeInSeconds": spec.max_runtime_seconds},
                RoleArn=st.processing_role_arn,
                Tags=[{"Key": "edgecv:module", "Value": spec.module}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ResourceInUse", "ValidationException") and \
                    "already exists" in exc.response["Error"].get("Message", ""):
                return  # a retried start: the job already exists
            raise ProcessingError(f"CreateProcessingJob {spec.job_name}: {exc.response['Error']['Message']}") \
                from exc

    def describe(self, job_name: str) -> ProcessingResult:
        try:
            job = self._sm.describe_processing_job(ProcessingJobName=job_name)
        except ClientError as exc:
            raise ProcessingError(f"DescribeProcessingJob {job_name}: {exc.response['Error']['Message']}") from exc
        return ProcessingResult(job_name=job_name, status=TrainingStatus(job["ProcessingJobStatus"]),
                                failure_reason=job.get("FailureReason") or job.get("ExitMessage"))
