"""The seams between a step's logic and what does the heavy or remote work.

Each has an AWS implementation next to the step that uses it and, where AWS (or moto) has nothing
to offer locally, a clearly named emulator in `lambdas.localcloud`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from contracts.annotations import AnnotatedFrame
from contracts.jobs import JobStatusReport
from contracts.samples import HardNegativeSample
from lambdas.common.events import TrainingResult


@dataclass(frozen=True)
class Labeled:
    frame: AnnotatedFrame
    confidence: float  # the weakest box's confidence: what the review gate compares


class Labeler(Protocol):
    """The teacher: labels one de-identified frame (JPEG bytes) of a sample."""

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str,
              lexicon: Sequence[tuple[str, str]] = ()) -> Labeled:
        """`lexicon`: the (PRO, DEST) pairs the site's truck manifests expect; a label the teacher's reader
        cannot read on its own may be resolved against them."""
        ...


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
class Candidate:
    """A trained network laid out as a Triton version, and the ensemble it is to be judged in."""

    model_name: str                # the retrained network (detector, ocr, damage_classifier)
    version: int                   # its new version: production + 1
    version_dir: Path              # <model>/<version>/ with model.onnx, lineage.json, model.py
    pins: Mapping[str, int]        # every network's version in the ensemble: production, this one the candidate
    # production versions the shipped repository lacks (approved after v1), extracted from their signed bundles
    production_dirs: Mapping[str, Path] = field(default_factory=dict)  # network -> <network>/<version>/


class Evaluator(Protocol):
    """Runs the pallet pipeline with a candidate version over an edgecv-annotations/1 set; returns edgecv-eval/1."""

    def evaluate(self, candidate: Candidate, dataset_dir: Path) -> dict: ...


class JobExecutions(Protocol):
    """What the devices of a job reported (IoT Jobs executions; emulated locally)."""

    def reports(self, job_id: str) -> list[JobStatusReport]: ...

    def targeted(self, job_id: str) -> int: ...
