"""Snapshot the approved labels of a run as an `edgecv-annotations/1` set: what training reads.

`datasets/{run_id}/images/{sample_id}.jpg` + `datasets/{run_id}/annotations.json` (written last). The
snapshot hash covers the annotations bytes and every image's sha256: it goes into the bundle lineage.
"""

from __future__ import annotations

import hashlib
import json

from contracts.annotations import AnnotatedFrame, AnnotationSet, annotation_set_to_json
from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import DatasetResult, TrainingState
from lambdas.common.layout import FRAME, LABEL, dataset_prefix
from lambdas.common.s3io import get_bytes, get_json


def build_dataset(state: TrainingState, deps: Deps) -> DatasetResult:
    s3, st = deps.aws("s3"), deps.settings
    if state.labels is None:
        raise ArtifactMissingError("the state has no auto-label result")
    entries = get_json(s3, st.curated_bucket, state.labels.manifest_key)["labels"]
    prefix = dataset_prefix(state.run_id)
    frames: list[AnnotatedFrame] = []
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e["prefix"]):
        frame = AnnotatedFrame.model_validate(get_json(s3, st.curated_bucket, f"{entry['prefix']}/{LABEL}")["frame"])
        image = get_bytes(s3, st.curated_bucket, f"{entry['prefix']}/{FRAME}")
        s3.put_object(Bucket=st.curated_bucket, Key=prefix + frame.image, Body=image, ContentType="image/jpeg")
        digest.update(frame.image.encode() + hashlib.sha256(image).digest())
        frames.append(frame)
    data = json.dumps(annotation_set_to_json(AnnotationSet(frames=frames)), sort_keys=True).encode()
    digest.update(data)
    s3.put_object(Bucket=st.curated_bucket, Key=prefix + "annotations.json", Body=data,
                  ContentType="application/json")
    return DatasetResult(prefix=prefix, frames=len(frames), sha256=digest.hexdigest())
