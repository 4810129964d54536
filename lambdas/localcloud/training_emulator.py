"""SageMaker training, emulated: the same entry point as a local process with the same `SM_*` environment.

moto's SageMaker marks a training job Completed at once and runs nothing, so this emulator implements
`TrainingBackend` itself: `start` downloads the `train` channel (and the `init` checkpoint channel, when the
run fine-tunes) from S3 (as SageMaker's File mode does),
writes `input/config/hyperparameters.json`, and runs `python -m training.<entry_point>` with
`SM_MODEL_DIR`, `SM_CHANNEL_TRAIN`, `SM_OUTPUT_DATA_DIR`, `SM_HP_FILE`, `SM_CHANNELS` and `SM_HPS`.
`describe` reports InProgress while it runs; on success it tars the model folder into
`<output>/<job>/output/model.tar.gz` on S3 (SageMaker's layout) and reports Completed.
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from lambdas.common.errors import TrainingError
from lambdas.common.events import TrainingResult, TrainingStatus
from lambdas.common.interfaces import TrainingJobSpec
from lambdas.common.s3io import download_prefix, split_s3_uri
from lambdas.localcloud.local_process import LocalJobEmulator, LocalProcess


@dataclass
class _Job:
    spec: TrainingJobSpec
    root: Path
    process: LocalProcess
    result: TrainingResult | None = None


class LocalTrainingEmulator(LocalJobEmulator):
    def start(self, spec: TrainingJobSpec) -> None:
        with self._lock:
            if spec.job_name in self._jobs:
                return  # SageMaker: ResourceInUse; a retried start is a no-op
            root = self._workdir / spec.job_name
            channels = {}
            for name, uri in spec.channels():
                folder = root / "input" / "data" / name
                bucket, prefix = split_s3_uri(uri)
                if not download_prefix(self._s3, bucket, prefix, folder):
                    raise TrainingError(f"the {name} channel {uri} is empty")
                channels[name] = folder
            config = root / "input" / "config"
            config.mkdir(parents=True, exist_ok=True)
            (config / "hyperparameters.json").write_text(json.dumps(spec.hyperparameters))
            (root / "model").mkdir(parents=True, exist_ok=True)
            (root / "output" / "data").mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **self._extra_env,
                   "SM_MODEL_DIR": str(root / "model"), "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
                   **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
                   "SM_HP_FILE": str(config / "hyperparameters.json"), "SM_CHANNELS": json.dumps(sorted(channels)),
                   "SM_HPS": json.dumps(spec.hyperparameters), "SM_TRAINING_JOB_NAME": spec.job_name}
            process = LocalProcess.spawn([self._python, "-m", f"training.{spec.entry_point}"], self._cwd, env,
                                         root / "training.log")
            self._jobs[spec.job_name] = _Job(spec, root, process)

    def describe(self, job_name: str) -> TrainingResult:
        with self._lock:
            job = self._jobs.get(job_name)
            if job is None:
                raise TrainingError(f"no training job {job_name}")
            if job.result is not None:
                return job.result
            code = job.process.exit_code()
            if code is None:
                return TrainingResult(job_name=job_name, status=TrainingStatus.IN_PROGRESS)
            if code != 0:
                job.result = TrainingResult(job_name=job_name, status=TrainingStatus.FAILED,
                                            failure_reason=job.process.failure_reason(code))
                return job.result
            archive = job.root / "output" / "model.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                for path in sorted((job.root / "model").rglob("*")):
                    if path.is_file():
                        tar.add(path, arcname=path.relative_to(job.root / "model").as_posix())
            bucket, prefix = split_s3_uri(job.spec.output_s3_uri)
            key = f"{prefix.rstrip('/')}/{job_name}/output/model.tar.gz".lstrip("/")
            self._s3.upload_file(str(archive), bucket, key)
            job.result = TrainingResult(job_name=job_name, status=TrainingStatus.COMPLETED,
                                        model_artifact=f"s3://{bucket}/{key}")
            return job.result
