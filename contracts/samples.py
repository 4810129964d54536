"""Hard-negative samples: what a site captures for retraining and drains to the cloud's landing bucket.

Layout in the landing bucket (idempotent keys: the same sample always lands at the same key):
    samples/{site_id}/{camera_id}/{sample_id}/frame.jpg     (people already blurred on the device)
    samples/{site_id}/{camera_id}/{sample_id}/sample.json   (this record, written last: its presence
                                                             means the sample is complete)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.predictions import FramePrediction

SAMPLE_FORMAT = "edgecv-sample/1"
SAMPLE_KEY_PREFIX = "samples"


class SampleReason(StrEnum):
    LOW_CONFIDENCE_READ = "low_confidence_read"
    CHECK_DIGIT_FAILURE = "check_digit_failure"
    MANIFEST_DISAGREEMENT = "manifest_disagreement"  # unread, another DEST, or a near miss of a listed PRO
    UNEXPECTED_PALLET = "unexpected_pallet"  # a read PRO far from every listed one: likely really not on the manifest
    TRACK_OCR_DISAGREEMENT = "track_ocr_disagreement"
    TRACK_DAMAGE_DISAGREEMENT = "track_damage_disagreement"
    LOW_CONFIDENCE_DETECTION = "low_confidence_detection"
    UNCERTAIN_DAMAGE = "uncertain_damage"  # a pass whose damage score sits near the decision threshold
    RANDOM_BASELINE = "random_baseline"


class HardNegativeSample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["edgecv-sample/1"] = SAMPLE_FORMAT
    sample_id: str = Field(pattern=r"^[A-Za-z0-9._-]{8,128}$")
    site_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    camera_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    frame_id: int = Field(ge=0)
    captured_at: float  # unix seconds
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    people_blurred: int = Field(ge=0)  # how many person boxes were blurred before the frame was written
    reasons: list[SampleReason] = Field(min_length=1)
    priority: float = Field(ge=0.0)  # higher = more informative; the buffer evicts the lowest first
    prediction: FramePrediction
    model_versions: dict[str, str] = Field(default_factory=dict)
    pass_id: str | None = None

    def key_prefix(self) -> str:
        return f"{SAMPLE_KEY_PREFIX}/{self.site_id}/{self.camera_id}/{self.sample_id}"
