"""De-identification gate: only a sample whose people are all blurred reaches the curated bucket.

Quarantined (never copied to curated; only a reason record is written there):
- the record contradicts itself: `people_blurred` differs from the person boxes it reports;
- the `PersonCheck` finds an unblurred person in the frame (or cannot read the frame).
The frame is copied first and the record last, so a curated record always has its frame.
"""

from __future__ import annotations

from pydantic import ValidationError

from contracts.samples import HardNegativeSample
from lambdas.common.deps import Deps
from lambdas.common.errors import NotDeidentifiedError
from lambdas.common.events import DeidResult, TrainingState
from lambdas.common.interfaces import PersonCheck
from lambdas.common.layout import FRAME, RECORD, quarantine_key, run_key
from lambdas.common.s3io import exists, get_bytes, get_json, put_json


def check_deidentified(sample: HardNegativeSample, image: bytes, check: PersonCheck) -> None:
    """Raise NotDeidentifiedError with the reason; return when the sample may be curated."""
    reported = len(sample.prediction.people)
    if sample.people_blurred != reported:
        raise NotDeidentifiedError(f"record says {sample.people_blurred} people blurred but reports {reported} people")
    unblurred = check.unblurred_people(image, sample)
    if unblurred:
        raise NotDeidentifiedError(f"{unblurred} person region(s) in the frame are not blurred")


def deidentify(state: TrainingState, deps: Deps) -> DeidResult:
    s3, st = deps.aws("s3"), deps.settings
    check = deps.need("person_check")
    manifest = run_key(state.run_id, "deid")
    if exists(s3, st.curated_bucket, manifest):
        return DeidResult.model_validate(get_json(s3, st.curated_bucket, manifest)["result"])
    if state.ingest is None:
        raise NotDeidentifiedError("the state has no ingest result")
    accepted = get_json(s3, st.curated_bucket, state.ingest.manifest_key)["accepted"]
    curated: list[str] = []
    quarantined: list[dict[str, str]] = []
    for prefix in accepted:
        record = get_bytes(s3, st.landing_bucket, f"{prefix}/{RECORD}")
        try:
            sample = HardNegativeSample.model_validate_json(record)
            image = get_bytes(s3, st.landing_bucket, f"{prefix}/{FRAME}")
            check_deidentified(sample, image, check)
        except (NotDeidentifiedError, ValidationError) as exc:
            reason = str(exc).splitlines()[0]
            put_json(s3, st.curated_bucket, quarantine_key(prefix),
                     {"prefix": prefix, "reason": reason, "run_id": state.run_id})
            quarantined.append({"prefix": prefix, "reason": reason})
            continue
        s3.put_object(Bucket=st.curated_bucket, Key=f"{prefix}/{FRAME}", Body=image, ContentType="image/jpeg")
        s3.put_object(Bucket=st.curated_bucket, Key=f"{prefix}/{RECORD}", Body=record,
                      ContentType="application/json")
        curated.append(prefix)
    result = DeidResult(manifest_key=manifest, curated=len(curated), quarantined=len(quarantined))
    put_json(s3, st.curated_bucket, manifest, {"curated": curated, "quarantined": quarantined,
                                               "result": result.model_dump(mode="json")})
    return result
