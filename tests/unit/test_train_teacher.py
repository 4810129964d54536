"""training.train_teacher's recipe is well formed: every stage's data can be rendered, every network has a trainer,
and the lineage names each part by seed and frames. (Training itself: `make train-teacher`, minutes per network.)"""

from __future__ import annotations

import pytest

from training import train_teacher
from training.synth.scene import DomainKnobs


def test_every_stage_part_is_a_known_set_and_every_domain_a_preset() -> None:
    for network, stages in train_teacher.STAGES.items():
        assert network in train_teacher.TRAINERS
        assert stages, network
        for _name, parts, hyperparameters in stages:
            assert parts and all(p in train_teacher.DOMAIN_SETS or p in train_teacher.DATASETS for p in parts)
            assert all(isinstance(v, str) for v in hyperparameters.values())  # as SageMaker passes them
    for domain, _seed, frames in train_teacher.DOMAIN_SETS.values():
        assert domain in DomainKnobs.names() and frames > 0


def test_part_lineage_names_the_set_by_seed_frames_and_domain() -> None:
    assert train_teacher.part_lineage("wide-4242") == {"set": "wide-4242", "seed": 4242, "frames": 800,
                                                       "domain": "wide"}
    assert train_teacher.part_lineage("train") == {"set": "train", "seed": 1, "frames": 3000, "domain": "default",
                                                   "from": "training.make_all"}


def test_the_detector_teacher_keeps_v1s_look_through_v1s_own_training_frames() -> None:
    (_name, parts, _hp), = train_teacher.STAGES["detector"]
    assert "train" in parts and train_teacher.DATASETS["train"][1] == 3000


def test_an_unknown_network_is_refused_by_the_argument_parser(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train_teacher.main(["--network", "segmenter"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
