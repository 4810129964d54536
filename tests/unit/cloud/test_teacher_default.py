"""TeacherPipelineLabeler.local_default: the trained teacher networks where they exist, v1 standing in for the rest,
and a name that says which is which. Construction only: no inference runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecv.jobs.teacher import LABEL_DETECTOR, NETWORKS, TeacherPipelineLabeler


def teacher_network(teacher: Path, name: str) -> Path:
    path = teacher / name / "1" / "model.onnx"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"onnx")
    return path


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    teacher, stand_in = tmp_path / "teacher", tmp_path / "model_repository"
    teacher.mkdir()
    stand_in.mkdir()
    return teacher, stand_in


def test_no_teacher_networks_means_v1_stands_in_with_no_overrides(folders: tuple[Path, Path]) -> None:
    teacher, stand_in = folders
    labeler = TeacherPipelineLabeler.local_default(teacher, stand_in)
    assert labeler.name == "v1-stand-in-for-teacher"
    assert labeler.networks == {}
    assert labeler.repository == stand_in and labeler.version == "1"


def test_a_missing_teacher_folder_is_the_same_as_an_empty_one(tmp_path: Path) -> None:
    labeler = TeacherPipelineLabeler.local_default(tmp_path / "absent", tmp_path / "model_repository")
    assert labeler.name == "v1-stand-in-for-teacher" and labeler.networks == {}


def test_a_version_folder_without_model_onnx_does_not_count(folders: tuple[Path, Path]) -> None:
    teacher, stand_in = folders
    (teacher / "detector" / "1").mkdir(parents=True)
    (teacher / "detector" / "1" / "model.pt").write_bytes(b"torch")
    assert TeacherPipelineLabeler.local_default(teacher, stand_in).networks == {}


def test_only_the_damage_teacher_overrides_damage_and_the_name_says_v1_stands_in_for_the_rest(
        folders: tuple[Path, Path]) -> None:
    teacher, stand_in = folders
    damage = teacher_network(teacher, "damage_classifier")
    labeler = TeacherPipelineLabeler.local_default(teacher, stand_in)
    assert labeler.networks == {"damage_classifier": damage}
    assert labeler.name == "teacher@1 (v1 standing in for detector, ocr)"
    assert labeler.repository == stand_in and labeler.version == "1"


def test_all_three_teacher_networks_override_everything_but_the_label_boxes(folders: tuple[Path, Path]) -> None:
    teacher, stand_in = folders
    paths = {name: teacher_network(teacher, name) for name in NETWORKS}
    labeler = TeacherPipelineLabeler.local_default(teacher, stand_in)
    assert labeler.name == "teacher@1; label boxes from v1's detector"
    assert labeler.networks == {**paths, LABEL_DETECTOR: stand_in / "detector" / "1" / "model.onnx"}


def test_a_detector_teacher_finds_pallets_and_people_while_v1_finds_the_label_boxes(
        folders: tuple[Path, Path]) -> None:
    teacher, stand_in = folders
    damage, detector = teacher_network(teacher, "damage_classifier"), teacher_network(teacher, "detector")
    labeler = TeacherPipelineLabeler.local_default(teacher, stand_in)
    assert labeler.networks == {"damage_classifier": damage, "detector": detector,
                                LABEL_DETECTOR: stand_in / "detector" / "1" / "model.onnx"}
    assert labeler.name == "teacher@1 (v1 standing in for ocr); label boxes from v1's detector"


def test_the_networks_map_is_a_copy(folders: tuple[Path, Path]) -> None:
    teacher, stand_in = folders
    networks = {"ocr": teacher_network(teacher, "ocr")}
    labeler = TeacherPipelineLabeler(stand_in, networks=networks)
    networks.clear()
    assert set(labeler.networks) == {"ocr"}
    assert labeler.name == "pipeline:model_repository@1"


@pytest.mark.slow
def test_labels_in_a_new_typeface_are_resolved_against_the_manifest_or_left_as_read() -> None:
    """The v1 reader on labels of the 'printer' drift, with the true pairs among distractors as the lexicon: every
    label the lexicon resolves is the truth (a label it cannot resolve keeps the reader's own read, right or wrong),
    and the lexicon answers more labels right than the reader alone."""
    import io

    from contracts.pro import make_pro
    from edgecv.jobs.teacher import STAND_IN_REPOSITORY
    from tests.unit.cloud.conftest import sample_record
    from training.synth.render import render
    from training.synth.scene import DomainKnobs, sample_scene

    labeler = TeacherPipelineLabeler(STAND_IN_REPOSITORY, "1")
    alone = with_lexicon = 0
    for seed in range(6):
        frame = render(sample_scene(seed, DomainKnobs.printer_preset()))
        truth = {(p.label.pro, p.label.dest) for p in frame.pallets if p.label is not None}
        lexicon = sorted(truth | {(make_pro(f"{n:09d}"), "ZZZ") for n in (123456789, 987654321, 555000111)})
        buf = io.BytesIO()
        frame.image.save(buf, format="JPEG", quality=92)
        record = sample_record(f"printer-{seed:04d}", None)
        reads = {}
        for name, lex in (("alone", ()), ("lexicon", lexicon)):
            labeled = labeler.label(buf.getvalue(), record, "x.jpg", lexicon=lex)
            reads[name] = {(p.label.pro, p.label.dest) for p in labeled.frame.pallets if p.label is not None}
        resolved = reads["lexicon"] - reads["alone"]
        assert resolved <= truth, f"seed {seed}: the lexicon chose {resolved - truth}, which is not on the frame"
        alone += len(reads["alone"] & truth)
        with_lexicon += len(reads["lexicon"] & truth)
    assert with_lexicon > alone, (with_lexicon, alone)
