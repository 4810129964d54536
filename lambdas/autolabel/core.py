"""Auto-label the curated samples of a run with the teacher; keep each label next to its sample.

Idempotent per sample: an existing `label.json` is reused (a retried invocation does not re-label).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from contracts.annotations import TruckManifest
from contracts.samples import HardNegativeSample
from lambdas.common.deps import Deps
from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import LabelResult, TrainingState
from lambdas.common.layout import FRAME, LABEL, RECORD, manifest_prefix, run_key
from lambdas.common.s3io import exists, get_bytes, get_json, list_keys, put_json

log = logging.getLogger(__name__)


def image_name(sample: HardNegativeSample) -> str:
    return f"images/{sample.sample_id}.jpg"


def site_lexicon(s3: Any, bucket: str, site_id: str) -> list[tuple[str, str]]:
    """The (PRO, DEST) pairs of every truck manifest of a site in the curated bucket (`manifest_prefix`). A
    manifest that is not `edgecv-manifest/1` is skipped and logged: it must not stop the labeling."""
    pairs: list[tuple[str, str]] = []
    for key in list_keys(s3, bucket, manifest_prefix(site_id)):
        if not key.endswith(".json"):
            continue
        try:
            manifest = TruckManifest.model_validate_json(get_bytes(s3, bucket, key))
        except ValidationError as exc:
            log.warning("skipping manifest %s: %s", key, str(exc).splitlines()[0])
            continue
        pairs.extend((pallet.pro, pallet.dest) for pallet in manifest.pallets)
    return pairs


def autolabel(state: TrainingState, deps: Deps) -> LabelResult:
    s3, st = deps.aws("s3"), deps.settings
    labeler = deps.need("labeler")
    if state.deid is None:
        raise ArtifactMissingError("the state has no de-identification result")
    curated = get_json(s3, st.curated_bucket, state.deid.manifest_key)["curated"]
    entries = []
    lexicons: dict[str, list[tuple[str, str]]] = {}
    for prefix in curated:
        key = f"{prefix}/{LABEL}"
        if exists(s3, st.curated_bucket, key):
            stored = get_json(s3, st.curated_bucket, key)
        else:
            sample = HardNegativeSample.model_validate_json(get_bytes(s3, st.curated_bucket, f"{prefix}/{RECORD}"))
            if sample.site_id not in lexicons:
                lexicons[sample.site_id] = site_lexicon(s3, st.curated_bucket, sample.site_id)
            labeled = labeler.label(get_bytes(s3, st.curated_bucket, f"{prefix}/{FRAME}"), sample,
                                    image_name(sample), lexicon=lexicons[sample.site_id])
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
