"""The seams between a step's logic and what does the heavy or remote work.

Each has an AWS implementation next to the step that uses it and, where AWS (or moto) has nothing
to offer locally, a clearly named emulator in `lambdas.localcloud`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from contracts.jobs import JobStatusReport
from contracts.samples import HardNegativeSample
from lambdas.common.events import ProcessingResult, TrainingResult


class PersonCheck(Protocol):
    """Counts people in the frame that are NOT blurred (0 means the frame is de-identified)."""

    def unblurred_people(self, image: bytes, sample: HardNegativeSample) -> int: ...


@dataclass(frozen=True)
class TrainingJobSpec:
    job_name: str
    entry_point: str               # training.<module>, e.g. train_damage
    train_s3_uri: str              # an edgecv-annotations/1 set (annotations.json + images/)
    output_s3_uri: str             # SageMaker writes <output>/<job>/output/model.tar.gz
    hyperparameters: dict[str, str]
    max_runtime_seconds: int
    init_s3_uri: str | None = None  # the `init` channel: a checkpoint to fine-tune from
    replay_s3_uri: str | None = None  # the `replay` channel: earlier labeled data, mixed in against forgetting

    def channels(self) -> list[tuple[str, str]]:
        """(channel name, S3 URI) of every input channel the job gets."""
        optional = [("init", self.init_s3_uri), ("replay", self.replay_s3_uri)]
        return [("train", self.train_s3_uri)] + [(name, uri) for name, uri in optional if uri]


class TrainingBackend(Protocol):
    def start(self, spec: TrainingJobSpec) -> None: ...

    def describe(self, job_name: str) -> TrainingResult: ...


@dataclass(frozen=True)
class ProcessingJobSpec:
    """A SageMaker Processing job: `python -m <module> --input-root IN --output-root OUT <arguments>` in the
    processing image. Each input (an S3 prefix) is downloaded to IN/<name> before the module starts; each
    output folder OUT/<name> is uploaded to its S3 prefix when the module exits 0."""

    job_name: str
    module: str                        # e.g. edgecv.jobs.evaluate_candidate
    inputs: Mapping[str, str]          # name -> s3://bucket/prefix/
    outputs: Mapping[str, str]         # name -> s3://bucket/prefix/
    arguments: Sequence[str] = ()
    max_runtime_seconds: int = 3600
    # name -> s3:// URI of a SageMaker manifest file (`[{"prefix": "s3://bucket/"}, "key/below/prefix", ...]`):
    # exactly the listed objects are downloaded to <input root>/<name>/<key below prefix>
    manifest_inputs: Mapping[str, str] = field(default_factory=dict)


class ProcessingBackend(Protocol):
    def start(self, spec: ProcessingJobSpec) -> None: ...

    def describe(self, job_name: str) -> ProcessingResult: ...


class JobExecutions(Protocol):
    """What the devices of a job reported (IoT Jobs executions; emulated locally)."""

    def reports(self, job_id: str) -> list[JobStatusReport]: ...

    def targeted(self, job_id: str) -> int: ...
