"""Auto-label the curated samples of a run with the teacher; keep each label next to its sample.

Idempotent per sample: an existing `label.json` is reused (a retried invocation does not re-label).
"""

from __future__ import annotations

import json

from contracts.samples import HardNegativeSample
from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import LabelResult, TrainingState
from lambdas.common.layout import FRAME, LABEL, RECORD, run_key
from lambdas.common.s3io import exists, get_bytes, get_json, put_json


def image_name(sample: HardNegativeSample) -> str:
    return f"images/{sample.sample_id}.jpg"


def autolabel(state: TrainingState, deps: Deps) -> LabelResult:
    s3, st = deps.aws("s3"), deps.settings
    labeler = deps.need("labeler")
    if state.deid is None:
        raise ArtifactMissingError("the state has no de-identification result")
    curated = get_json(s3, st.curated_bucket, state.deid.manifest_key)["curated"]
    entries = []
    for prefix in curated:
        key = f"{prefix}/{LABEL}"
        if exists(s3, st.curated_bucket, key):
            stored = get_json(s3, st.curated_bucket, key)
        else:
            sample = HardNegativeSample.model_validate_json(get_bytes(s3, st.curated_bucket, f"{prefix}/{RECORD}"))
            labeled = labeler.label(get_bytes(s3, st.curated_bucket, f"{prefix}/{FRAME}"), sample,
                                    image_name(sample))
            stored = {"frame": json.loads(labeled.frame.model_dump_json()), "confidence": labeled.confidence,
                      "labeler": getattr(labeler, "name", type(labeler).__name__)}
            put_json(s3, st.curated_bucket, key, stored)
        entries.append({"prefix": prefix, "confidence": float(stored["confidence"])})
    confidences = [e["confidence"] for e in entries]
    result = LabelResult(manifest_key=run_key(state.run_id, "labels"), labeled=len(entries),
                         min_confidence=min(confidences, default=0.0),
                         mean_confidence=sum(confidences) / len(confidences) if confidences else 0.0)
    put_json(s3, st.curated_bucket, result.manifest_key, {"labels": entries, "result": result.model_dump(mode="json")})
    return result
