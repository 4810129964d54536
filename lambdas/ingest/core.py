"""Ingest: find complete samples in the landing bucket, validate each record, park what is malformed.

A sample is complete when its `sample.json` exists (the device writes it last). A record that does not
parse, that names another key prefix than where it lies, or whose frame is missing is parked under
`parked/{run_id}/...` (with a reason) and removed from `samples/`: it is not lost, and it does not stop
the other samples. Idempotent: a re-run of the same run id returns the stored result.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from contracts.errors import first_validation_error
from contracts.samples import SAMPLE_KEY_PREFIX, HardNegativeSample
from lambdas.common.deps import Deps
from lambdas.common.errors import SampleRejectedError
from lambdas.common.events import IngestResult, TrainingState
from lambdas.common.layout import FRAME, RECORD, quarantine_key, run_key, sample_prefix_of
from lambdas.common.s3io import exists, get_bytes, get_json, list_keys, put_json


def validate_sample(prefix: str, files: set[str], record: bytes) -> HardNegativeSample:
    """The parsed record, or SampleRejectedError with one line saying why."""
    try:
        sample = HardNegativeSample.model_validate_json(record)
    except ValidationError as exc:
        raise SampleRejectedError(f"sample.json: {first_validation_error(exc, 'record')}") from exc
    if sample.key_prefix() != prefix:
        raise SampleRejectedError(f"sample.json describes {sample.key_prefix()}, but lies under {prefix}")
    if FRAME not in files:
        raise SampleRejectedError("frame.jpg is missing")
    return sample


def park(s3: Any, bucket: str, run_id: str, prefix: str, names: set[str], reason: str) -> None:
    for name in sorted(names):
        s3.copy_object(Bucket=bucket, Key=f"parked/{run_id}/{prefix}/{name}",
                       CopySource={"Bucket": bucket, "Key": f"{prefix}/{name}"})
    put_json(s3, bucket, f"parked/{run_id}/{prefix}/reason.json", {"prefix": prefix, "reason": reason})
    for name in sorted(names):
        s3.delete_object(Bucket=bucket, Key=f"{prefix}/{name}")


def ingest(state: TrainingState, deps: Deps) -> IngestResult:
    s3, st = deps.aws("s3"), deps.settings
    manifest = run_key(state.run_id, "ingest")
    if exists(s3, st.curated_bucket, manifest):
        return IngestResult.model_validate(get_json(s3, st.curated_bucket, manifest)["result"])
    by_prefix: dict[str, set[str]] = defaultdict(set)
    for key in list_keys(s3, st.landing_bucket, f"{SAMPLE_KEY_PREFIX}/"):
        prefix = sample_prefix_of(key)
        if prefix:
            by_prefix[prefix].add(key.rsplit("/", 1)[1])
    accepted: list[str] = []
    parked: list[dict[str, str]] = []
    skipped = 0
    for prefix, names in sorted(by_prefix.items()):
        if RECORD not in names:
            continue  # still uploading: the record is written last
        if exists(s3, st.curated_bucket, f"{prefix}/{RECORD}") or exists(s3, st.curated_bucket,
                                                                          quarantine_key(prefix)):
            skipped += 1
            continue
        try:
            validate_sample(prefix, names, get_bytes(s3, st.landing_bucket, f"{prefix}/{RECORD}"))
        except SampleRejectedError as exc:
            park(s3, st.landing_bucket, state.run_id, prefix, names, str(exc))
            parked.append({"prefix": prefix, "reason": str(exc)})
            continue
        accepted.append(prefix)
    result = IngestResult(manifest_key=manifest, accepted=len(accepted), parked=len(parked), skipped=skipped)
    put_json(s3, st.curated_bucket, manifest, {"accepted": accepted, "parked": parked,
                                               "result": result.model_dump(mode="json")})
    return result
