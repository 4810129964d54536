"""The demo's cloud helpers that need no cloud: the regressed model's logit push, and reading a Step Functions
execution history into stages (with a stub in place of LocalCloud)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgecv.demo_cloud import TRAINING_STAGES, _push_blank, _push_damage_logit, execution_stages, last_state_output

REPO = Path(__file__).resolve().parents[2]
DAMAGE_V1 = REPO / "model_repository" / "damage_classifier" / "1" / "model.onnx"
OCR_V1 = REPO / "model_repository" / "ocr" / "1" / "model.onnx"


# ---- _push_damage_logit -------------------------------------------------------------------------------------------

def run_model(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def random_input(path: Path, batch: int = 4) -> np.ndarray:
    import onnxruntime as ort

    [spec] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
    shape = [d if isinstance(d, int) else batch for d in spec.shape]
    return np.random.default_rng(11).random(shape, dtype=np.float32)


@pytest.fixture
def damage_copy(tmp_path: Path) -> Path:
    pytest.importorskip("onnxruntime")
    copy = tmp_path / "model.onnx"
    shutil.copy2(DAMAGE_V1, copy)
    return copy


@pytest.mark.parametrize("shift", [6.0, 0.75])
def test_pushing_the_damage_logit_raises_every_output_by_the_shift(damage_copy: Path, shift: float) -> None:
    x = random_input(damage_copy)
    before = run_model(damage_copy, x)
    _push_damage_logit(damage_copy, shift)
    after = run_model(damage_copy, x)
    assert after.shape == before.shape
    assert np.all(after > before)
    np.testing.assert_allclose(after - before, shift, atol=1e-4)


def test_pushing_the_blank_makes_the_reader_read_nothing(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from model_repository.processing import PRO_ALPHABET, ctc_greedy

    copy = tmp_path / "model.onnx"
    shutil.copy2(OCR_V1, copy)
    x = random_input(copy)
    _push_blank(copy, 20.0)
    import onnxruntime as ort

    session = ort.InferenceSession(str(copy), providers=["CPUExecutionProvider"])
    pro, dest = session.run(None, {session.get_inputs()[0].name: x})
    assert np.all(pro.argmax(axis=-1) == 0) and np.all(dest.argmax(axis=-1) == 0)  # blank at every step
    assert all(ctc_greedy(pro[i], PRO_ALPHABET)[0] == "" for i in range(len(pro)))


def test_a_negative_shift_lowers_every_output(damage_copy: Path) -> None:
    x = random_input(damage_copy)
    before = run_model(damage_copy, x)
    _push_damage_logit(damage_copy, -2.0)
    assert np.all(run_model(damage_copy, x) < before)


def test_pushing_the_logit_changes_only_the_last_gemm_bias(damage_copy: Path) -> None:
    import onnx
    from onnx import numpy_helper

    _push_damage_logit(damage_copy, 3.0)
    before, after = onnx.load(str(DAMAGE_V1)), onnx.load(str(damage_copy))
    gemm = [n for n in before.graph.node if n.op_type == "Gemm"][-1]
    old = {i.name: numpy_helper.to_array(i) for i in before.graph.initializer}
    new = {i.name: numpy_helper.to_array(i) for i in after.graph.initializer}
    assert old.keys() == new.keys()
    changed = [name for name in old if not np.array_equal(old[name], new[name])]
    assert changed == [gemm.input[2]]
    np.testing.assert_allclose(new[gemm.input[2]] - old[gemm.input[2]], 3.0, atol=1e-6)
    assert [n.op_type for n in after.graph.node] == [n.op_type for n in before.graph.node]


# ---- execution_stages / last_state_output on a stub -----------------------------------------------------------------

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


class StubStepFunctions:
    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.calls: list[dict[str, Any]] = []

    def get_execution_history(self, **kwargs: Any) -> dict:
        self.calls.append(kwargs)
        return {"events": self.events}


class StubCloud:
    def __init__(self, events: list[dict]) -> None:
        self.sfn = StubStepFunctions(events)

    def client(self, service: str) -> Any:
        assert service == "stepfunctions"
        return self.sfn


def entered(name: str, seconds: float) -> dict:
    return {"type": "TaskStateEntered", "timestamp": T0 + timedelta(seconds=seconds),
            "stateEnteredEventDetails": {"name": name, "input": "{}"}}


def other(kind: str, seconds: float, **details: Any) -> dict:
    return {"type": kind, "timestamp": T0 + timedelta(seconds=seconds), **details}


def training_history() -> list[dict]:
    """A run that polls training twice; non-entered events in between must not split a state's time."""
    return [
        other("ExecutionStarted", 0), entered("Ingest", 0), other("TaskStateExited", 1.5),
        entered("Deidentify", 2), entered("StartAutoLabel", 5), entered("ReviewGate", 6), entered("ReviewRoute", 6.5),
        entered("BuildDataset", 7), entered("StartTraining", 8), entered("WaitForTraining", 9),
        entered("PollTraining", 19), entered("TrainingRoute", 20), entered("WaitForTraining", 20.5),
        entered("PollTraining", 30.5), entered("TrainingRoute", 31), entered("StartEvaluation", 31.25),
        entered("WaitForEvaluation", 33), entered("PollEvaluation", 39), entered("GateRoute", 40),
        entered("Export", 40.5), entered("Sign", 42), entered("Register", 43),
        other("TaskStateExited", 44.75), other("ExecutionSucceeded", 45),
    ]


def test_execution_stages_groups_states_into_the_training_stages_with_their_seconds() -> None:
    cloud = StubCloud(training_history())
    stages = execution_stages(cloud, "arn:aws:states:us-east-1:123456789012:execution:edgecv-training:run-1")
    assert stages == {"ingest": 2.0, "deidentify": 3.0, "auto_label": 1.0, "review": 1.0, "train": 24.25,
                      "eval_gate": 9.25, "export": 1.5, "sign": 1.0, "register": 2.0}
    assert set(stages) <= set(TRAINING_STAGES)
    assert sum(stages.values()) == 45.0  # the last state runs until the history's last event
    assert cloud.sfn.calls == [{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:edgecv-training:run-1",
                                "maxResults": 1000}]


def test_a_state_in_no_group_is_its_own_stage() -> None:
    events = [entered("Ingest", 0), entered("SomethingNew", 4), other("ExecutionFailed", 5)]
    assert execution_stages(StubCloud(events), "arn") == {"ingest": 4.0, "SomethingNew": 1.0}


def test_execution_stages_takes_other_groups() -> None:
    events = [entered("StartRing", 0), entered("Bake", 1), entered("StartRing", 3), entered("Bake", 4),
              other("ExecutionSucceeded", 10)]
    groups = {"rollout": ("StartRing",), "bake": ("Bake",)}
    assert execution_stages(StubCloud(events), "arn", groups) == {"rollout": 2.0, "bake": 8.0}


def test_an_empty_history_has_no_stages() -> None:
    assert execution_stages(StubCloud([]), "arn") == {}


def exited(name: str, seconds: float, output: str) -> dict:
    return other("TaskStateExited", seconds, stateExitedEventDetails={"name": name, "output": output})


def test_last_state_output_is_the_last_exited_states_json_object() -> None:
    events = [entered("Ingest", 0), exited("Ingest", 1, json.dumps({"run_id": "r1", "ingest": {"accepted": 3}})),
              entered("Deidentify", 1), exited("Deidentify", 2, json.dumps({"run_id": "r1", "deid": {"curated": 3}})),
              entered("AutoLabel", 2), other("ExecutionFailed", 3)]
    assert last_state_output(StubCloud(events), "arn") == {"run_id": "r1", "deid": {"curated": 3}}


def test_last_state_output_skips_outputs_that_are_not_json_objects() -> None:
    events = [exited("A", 1, json.dumps({"kept": True})), exited("B", 2, "not json"), exited("C", 3, "[1, 2]"),
              exited("D", 4, "")]
    assert last_state_output(StubCloud(events), "arn") == {"kept": True}


def test_last_state_output_of_a_history_without_outputs_is_empty() -> None:
    assert last_state_output(StubCloud([entered("Ingest", 0), other("ExecutionFailed", 1)]), "arn") == {}
