"""Detections + reader and damage outputs -> the decision tensor set of one frame (see `configs.DECISION_OUTPUTS`)."""

from __future__ import annotations

import numpy as np

from model_repository import processing as P
from model_repository.onnx_pipeline import assign_labels
from model_repository.triton_python._tensors import input_array, response

PALLET, LABEL, PERSON = (P.DETECTOR_CLASSES.index(n) for n in ("pallet", "label", "person"))


def _strings(values: list[str]) -> np.ndarray:
    return np.array([v.encode() for v in values], dtype=np.object_)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        pass

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:
            boxes = input_array(request, "boxes").reshape(-1, 4)
            scores = input_array(request, "scores")
            classes = input_array(request, "classes")
            pro_lp, dest_lp = input_array(request, "pro_log_probs"), input_array(request, "dest_log_probs")
            logits = input_array(request, "logit").reshape(-1)
            pallets, labels, people = (classes == PALLET), (classes == LABEL), (classes == PERSON)
            n_labels, n_pallets = int(labels.sum()), int(pallets.sum())
            pro_lp, dest_lp = P.merge_reader_views(pro_lp, n_labels), P.merge_reader_views(dest_lp, n_labels)
            reads = [P.read_label(pro_lp[i], dest_lp[i]) for i in range(n_labels)]
            owner = assign_labels(boxes[pallets], boxes[labels])
            out.append(response({
                "pallet_boxes": boxes[pallets].astype(np.float32).reshape(-1, 4),
                "pallet_scores": scores[pallets].astype(np.float32),
                "damage_scores": P.merge_damage_views(logits, n_pallets),
                "pallet_label_index": np.array([-1 if o is None else o for o in owner], np.int32),
                "label_boxes": boxes[labels].astype(np.float32).reshape(-1, 4),
                "label_scores": scores[labels].astype(np.float32),
                "label_pro": _strings([r.pro or "" for r in reads]),
                "label_dest": _strings([r.dest or "" for r in reads]),
                "label_raw": _strings([r.raw_pro + r.raw_dest for r in reads]),
                "label_read_confidence": np.array([r.confidence for r in reads], np.float32),
                "label_check_digit_ok": np.array([r.check_digit_ok for r in reads], bool),
                "person_boxes": boxes[people].astype(np.float32).reshape(-1, 4),
                "person_scores": scores[people].astype(np.float32),
            }))
        return out
