"""What the pallet pipeline says about one frame: the edge's decisions are built from this."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DetectedLabel(_Model):
    bbox: list[float] = Field(min_length=4, max_length=4)
    score: float
    pro: str | None = None  # only a check-digit-valid, confident read
    dest: str | None = None
    read_confidence: float = 0.0
    raw_text: str = ""  # what the reader saw (digits + letters), kept for CER and sampling
    check_digit_ok: bool = False


class DetectedPallet(_Model):
    bbox: list[float] = Field(min_length=4, max_length=4)
    score: float
    damaged: bool
    damage_score: float
    label_index: int | None = None  # index into FramePrediction.labels


class DetectedPerson(_Model):
    bbox: list[float] = Field(min_length=4, max_length=4)
    score: float


class FramePrediction(_Model):
    pallets: list[DetectedPallet] = Field(default_factory=list)
    labels: list[DetectedLabel] = Field(default_factory=list)
    people: list[DetectedPerson] = Field(default_factory=list)
    model_versions: dict[str, str] = Field(default_factory=dict)
    latency_ms: float = 0.0
