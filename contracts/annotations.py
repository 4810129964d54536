"""`edgecv-annotations/1` (annotated frame sets) and `edgecv-manifest/1` (truck manifests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts.errors import DatasetError, first_validation_error
from contracts.pro import is_valid_pro

ANNOTATIONS_FORMAT = "edgecv-annotations/1"
MANIFEST_FORMAT = "edgecv-manifest/1"

TerminalCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Box(_Strict):
    """Pixels `[x1, y1, x2, y2]` with x1 < x2 and y1 < y2."""

    x1: float
    y1: float
    x2: float
    y2: float

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if not (self.x1 < self.x2 and self.y1 < self.y2):
            raise ValueError(f"box must have x1 < x2 and y1 < y2, got {self.as_list()}")
        return self

    @classmethod
    def from_list(cls, values: list[float] | tuple[float, ...]) -> Box:
        if len(values) != 4:
            raise ValueError(f"a box has 4 numbers, got {len(values)}")
        return cls(x1=values[0], y1=values[1], x2=values[2], y2=values[3])

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]


class _HasBox(_Strict):
    bbox: Box

    @field_validator("bbox", mode="before")
    @classmethod
    def _box_from_list(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return Box.from_list(value)
        return value


class ShippingLabel(_HasBox):
    pro: str = Field(pattern=r"^[0-9]{10}$")
    dest: TerminalCode

    @field_validator("pro")
    @classmethod
    def _check_digit(cls, value: str) -> str:
        if not is_valid_pro(value):
            raise ValueError(f"PRO {value} fails its check digit")
        return value


class Pallet(_HasBox):
    damaged: bool
    label: ShippingLabel | None = None


class Person(_HasBox):
    pass


class AnnotatedFrame(_Strict):
    image: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    pallets: list[Pallet] = Field(default_factory=list)
    people: list[Person] | None = None

    @field_validator("image")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ".." in Path(value).parts:
            raise ValueError(f"image path must be relative to the set's directory: {value!r}")
        return value


class AnnotationSet(_Strict):
    format: Literal["edgecv-annotations/1"] = ANNOTATIONS_FORMAT
    frames: list[AnnotatedFrame]


class ManifestPallet(_Strict):
    pro: str = Field(pattern=r"^[0-9]{10}$")
    dest: TerminalCode


class TruckManifest(_Strict):
    format: Literal["edgecv-manifest/1"] = MANIFEST_FORMAT
    truck_id: str = Field(min_length=1)
    door: str = Field(min_length=1)
    pallets: list[ManifestPallet]


def _dump(model: BaseModel) -> dict:
    data = model.model_dump(mode="json", exclude_none=False)
    return data


def annotation_set_to_json(dataset: AnnotationSet) -> dict:
    """The spec's JSON shape (boxes as 4-number lists, `people` omitted when not annotated)."""
    frames = []
    for frame in dataset.frames:
        item: dict = {"image": frame.image, "width": frame.width, "height": frame.height, "pallets": []}
        for pallet in frame.pallets:
            label = None
            if pallet.label is not None:
                label = {"bbox": pallet.label.bbox.as_list(), "pro": pallet.label.pro, "dest": pallet.label.dest}
            item["pallets"].append({"bbox": pallet.bbox.as_list(), "damaged": pallet.damaged, "label": label})
        if frame.people is not None:
            item["people"] = [{"bbox": p.bbox.as_list()} for p in frame.people]
        frames.append(item)
    return {"format": ANNOTATIONS_FORMAT, "frames": frames}


def _first_error(exc: ValidationError) -> str:
    return first_validation_error(exc)


def load_annotation_set(directory: Path) -> AnnotationSet:
    """Read and validate `DIR/annotations.json`; raise DatasetError with one clear line otherwise."""
    path = Path(directory) / "annotations.json"
    if not Path(directory).is_dir():
        raise DatasetError(f"dataset directory not found: {directory}")
    if not path.is_file():
        raise DatasetError(f"no annotations.json in {directory}")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    fmt = raw.get("format")
    if fmt != ANNOTATIONS_FORMAT:
        raise DatasetError(f"{path}: unknown format {fmt!r} (expected {ANNOTATIONS_FORMAT!r})")
    try:
        return AnnotationSet.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError(f"{path}: {_first_error(exc)}") from exc


def load_manifest(path: Path) -> TruckManifest:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise DatasetError(f"manifest not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        got = raw.get("format") if isinstance(raw, dict) else None
        raise DatasetError(f"{path}: unknown format {got!r} (expected {MANIFEST_FORMAT!r})")
    try:
        return TruckManifest.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError(f"{path}: {_first_error(exc)}") from exc
