"""The model path of the training pipeline: version layout, gate scope, candidate repository, eval command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from contracts.evaluation import GATES
from edgecv.jobs import JobInputError
from edgecv.jobs.evaluate_candidate import EvaluationFailedError, build_candidate_repository, check_served, eval_argv
from lambdas.common.errors import ArtifactMissingError
from lambdas.common.events import GateVerdict, PipelineConfig
from lambdas.evaluate.gate import NETWORK_METRICS, UnknownNetworkError, gates_for, judge
from lambdas.export.layout import TRITON_SHIM, VERSION_FILES, lay_out_version

REPO = Path(__file__).resolve().parents[3]


def training_output(tmp_path: Path) -> Path:
    out = tmp_path / "output"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"onnx")
    (out / "model.pt").write_bytes(b"torch")
    (out / "lineage.json").write_text(json.dumps({"hyperparameters": {"steps": "3"}, "model": "x"}))
    return out


@pytest.mark.parametrize("network", ["detector", "ocr", "damage_classifier"])
def test_shim_is_the_repositorys(network: str) -> None:
    assert (REPO / "model_repository" / network / "1" / "model.py").read_text() == TRITON_SHIM


def test_version_layout_carries_exactly_three_files(tmp_path: Path) -> None:
    dest = lay_out_version(training_output(tmp_path), "ocr", 4, tmp_path / "repo", {"run_id": "r1"})
    assert dest == tmp_path / "repo" / "ocr" / "4"
    assert sorted(p.name for p in dest.iterdir()) == sorted(VERSION_FILES)
    lineage = json.loads((dest / "lineage.json").read_text())
    assert lineage == {"hyperparameters": {"steps": "3"}, "model": "ocr", "version": "4", "run_id": "r1"}
    assert (dest / "model.onnx").read_bytes() == b"onnx"


def test_version_layout_refuses_an_output_without_onnx(tmp_path: Path) -> None:
    out = training_output(tmp_path)
    (out / "model.onnx").unlink()
    with pytest.raises(ArtifactMissingError, match=r"no model\.onnx"):
        lay_out_version(out, "ocr", 2, tmp_path / "repo")


def test_gates_cover_only_the_retrained_networks_metrics() -> None:
    assert set(gates_for("damage_classifier")) == {("damage", "precision"), ("damage", "recall"), ("damage", "f1")}
    assert gates_for("ocr") == {("ocr", "exact_match"): GATES[("ocr", "exact_match")]}
    assert set().union(*map(set, NETWORK_METRICS.values())) == set(GATES)
    assert gates_for("damage_classifier", {"damage.f1": 0.5})[("damage", "f1")] == 0.5
    with pytest.raises(UnknownNetworkError):
        gates_for("teacher")


def report_with(value: float, **overrides: float) -> dict:
    report: dict = {}
    for path in GATES:
        node = report
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = overrides.get(".".join(path), value)
    return report


def test_a_damage_candidate_is_not_held_to_the_ocr_gate_but_to_no_regression() -> None:
    report = report_with(0.99, **{"ocr.exact_match": 0.6})
    assert judge(report, None, gates=gates_for("damage_classifier"))[0] is GateVerdict.PASS
    verdict, failures, metrics = judge(report, {"ocr.exact_match": 0.7}, gates=gates_for("damage_classifier"))
    assert verdict is GateVerdict.FAIL and failures == ["ocr.exact_match 0.6000 regressed from production 0.7000"]
    assert len(metrics) == len(GATES)


def test_pipeline_config_gate_names_are_checked() -> None:
    assert PipelineConfig(gates={"damage.f1": 0.4}).gates == {"damage.f1": 0.4}
    for bad in ({"Damage F1": 0.4}, {"damage.f1": 1.5}):
        with pytest.raises(ValueError):
            PipelineConfig(gates=bad)


PINS = {"detector": 1, "ocr": 1, "damage_classifier": 2}


def staged_versions(tmp_path: Path, version: int = 2) -> Path:
    """The evaluation job's `versions` input: the candidate's version folder."""
    lay_out_version(training_output(tmp_path), "damage_classifier", version, tmp_path / "versions")
    return tmp_path / "versions"


def test_candidate_repository_is_production_plus_the_candidate(tmp_path: Path) -> None:
    repo = build_candidate_repository(REPO / "model_repository", staged_versions(tmp_path), ("damage_classifier", 2),
                                      PINS, tmp_path / "candidate")
    assert (repo / "pallet_pipeline" / "config.pbtxt").is_file() and (repo / "detector" / "1" / "model.onnx").is_file()
    assert sorted(p.name for p in (repo / "damage_classifier" / "2").iterdir()) == sorted(VERSION_FILES)
    assert not any(repo.rglob("__pycache__")) and not (repo / "triton_python").exists()


def test_candidate_repository_refuses_to_replace_a_served_version(tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match="already has damage_classifier/1"):
        build_candidate_repository(REPO / "model_repository", staged_versions(tmp_path, 1), ("damage_classifier", 1),
                                   {**PINS, "damage_classifier": 1}, tmp_path / "c")


def test_a_staged_production_version_must_match_the_one_the_repository_holds(tmp_path: Path) -> None:
    versions = staged_versions(tmp_path)
    shutil.copytree(REPO / "model_repository" / "ocr" / "1", versions / "ocr" / "1",
                    ignore=shutil.ignore_patterns("__pycache__"))
    build_candidate_repository(REPO / "model_repository", versions, ("damage_classifier", 2), PINS, tmp_path / "a")
    (versions / "ocr" / "1" / "model.onnx").write_bytes(b"another reader")
    with pytest.raises(JobInputError, match=r"ocr/1 in .* differs from its released bundle"):
        build_candidate_repository(REPO / "model_repository", versions, ("damage_classifier", 2), PINS, tmp_path / "b")


def test_candidate_repository_needs_every_pinned_version(tmp_path: Path) -> None:
    with pytest.raises(JobInputError, match=r"lacks pinned version\(s\) ocr/3"):
        build_candidate_repository(REPO / "model_repository", staged_versions(tmp_path), ("damage_classifier", 2),
                                   {**PINS, "ocr": 3}, tmp_path / "c")


def test_eval_command_pins_every_network_and_the_report_must_agree(tmp_path: Path) -> None:
    pins = {"detector": 1, "ocr": 1, "damage_classifier": 2}
    argv = eval_argv(["edgecv", "eval"], Path("g"), Path("o.json"), Path("r"), pins)
    assert argv == ["edgecv", "eval", "--dataset", "g", "--out", "o.json", "--repository", "r",
                    "--pin", "damage_classifier=2", "--pin", "detector=1", "--pin", "ocr=1"]
    check_served({"triton": {"versions": {"detector": "1", "ocr": "1", "damage_classifier": "2"}}}, pins)
    with pytest.raises(EvaluationFailedError, match="not the pinned versions"):
        check_served({"triton": {"versions": {"detector": "1", "ocr": "1", "damage_classifier": "1"}}}, pins)
