"""SageMaker Processing, emulated: the same module as a local process with the same input/output folders.

moto's SageMaker records a processing job and runs nothing, so this emulator implements `ProcessingBackend`
itself: `start` downloads every input prefix from S3 to `<job>/input/<name>` (as SageMaker's File mode does;
for a manifest-file input, exactly the objects it lists)
and runs `python -m <module> --input-root <job>/input --output-root <job>/output <arguments>` (the container's
command with local roots). `describe` reports InProgress while it runs; after a clean exit it uploads every
`<job>/output/<name>` to its S3 prefix (SageMaker's EndOfJob upload) and reports Completed; otherwise Failed
with the last line the module wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdas.common.errors import ProcessingError
from lambdas.common.events import ProcessingResult, TrainingStatus
from lambdas.common.interfaces import ProcessingJobSpec
from lambdas.common.processing import container_arguments, processing_inputs
from lambdas.common.s3io import download_prefix, get_json, split_s3_uri
from lambdas.localcloud.local_process import LocalJobEmulator, LocalProcess


@dataclass
class _Job:
    spec: ProcessingJobSpec
    root: Path
    process: LocalProcess
    result: ProcessingResult | None = None


class LocalProcessingEmulator(LocalJobEmulator):
    def start(self, spec: ProcessingJobSpec) -> None:
        with self._lock:
            if spec.job_name in self._jobs:
                return  # SageMaker: the job already exists; a retried start is a no-op
            root = self._workdir / spec.job_name
            for name, uri, kind in processing_inputs(spec):
                fetch = download_prefix if kind == "S3Prefix" else self._download_manifest
                bucket, prefix = split_s3_uri(uri)
                if not fetch(self._s3, bucket, prefix, root / "input" / name):
                    raise ProcessingError(f"the {name} input {uri} is empty")
            for name in spec.outputs:
                (root / "output" / name).mkdir(parents=True, exist_ok=True)
            argv = [self._python, "-m", spec.module,
                    *container_arguments(spec, str(root / "input"), str(root / "output"))]
            process = LocalProcess.spawn(argv, self._cwd, {**os.environ, **self._extra_env}, root / "job.log")
            self._jobs[spec.job_name] = _Job(spec, root, process)

    @staticmethod
    def _download_manifest(s3: Any, bucket: str, key: str, dest: Path) -> int:
        """SageMaker's ManifestFile input: each listed key (below the manifest's prefix) to dest/<key>."""
        entries = get_json(s3, bucket, key)
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            raise ProcessingError(f"s3://{bucket}/{key} is not a manifest file")
        base_bucket, base_prefix = split_s3_uri(entries[0]["prefix"])
        for rel in entries[1:]:
            if not isinstance(rel, str) or ".." in Path(rel).parts:
                raise ProcessingError(f"s3://{bucket}/{key} lists an unusable key {rel!r}")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(base_bucket, f"{base_prefix}{rel}", str(target))
        return len(entries) - 1

    def describe(self, job_name: str) -> ProcessingResult:
        with self._lock:
            job = self._jobs.get(job_name)
            if job is None:
                raise ProcessingError(f"no processing job {job_name}")
            if job.result is not None:
                return job.result
            code = job.process.exit_code()
            if code is None:
                return ProcessingResult(job_name=job_name, status=TrainingStatus.IN_PROGRESS)
            if code != 0:
                job.result = ProcessingResult(job_name=job_name, status=TrainingStatus.FAILED,
                                              failure_reason=job.process.failure_reason(code))
                return job.result
            for name, uri in sorted(job.spec.outputs.items()):
                bucket, prefix = split_s3_uri(uri)
                folder = job.root / "output" / name
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        key = f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}".lstrip("/")
                        self._s3.upload_file(str(path), bucket, key)
            job.result = ProcessingResult(job_name=job_name, status=TrainingStatus.COMPLETED)
            return job.result
