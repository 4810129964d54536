"""A teacher's `FramePrediction` as an `AnnotatedFrame` label, with the weakest confidence in it."""

from __future__ import annotations

from pydantic import ValidationError

from contracts.annotations import AnnotatedFrame, Pallet, Person, ShippingLabel
from contracts.predictions import FramePrediction
from lambdas.common.interfaces import Labeled


def prediction_to_label(pred: FramePrediction, image_name: str, width: int, height: int) -> Labeled:
    confidences: list[float] = []
    pallets = []
    for pallet in pred.pallets:
        confidences.append(pallet.score)
        label = None
        if pallet.label_index is not None and 0 <= pallet.label_index < len(pred.labels):
            read = pred.labels[pallet.label_index]
            confidences.append(min(read.score, read.read_confidence))
            if read.pro and read.dest:
                try:
                    label = ShippingLabel(bbox=read.bbox, pro=read.pro, dest=read.dest)
                except ValidationError:
                    confidences.append(0.0)  # an unreadable label: a person has to look
        pallets.append(Pallet(bbox=pallet.bbox, damaged=pallet.damaged, label=label))
    people = [Person(bbox=p.bbox) for p in pred.people]
    confidences.extend(p.score for p in pred.people)
    frame = AnnotatedFrame(image=image_name, width=width, height=height, pallets=pallets, people=people)
    return Labeled(frame=frame, confidence=min(confidences) if confidences else 0.0)
