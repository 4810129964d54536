"""DomainKnobs.named: the domain presets by name (the CLI's and the demo's --domain)."""

from __future__ import annotations

import pytest

from training.synth.scene import DomainKnobs


@pytest.mark.parametrize(("name", "preset"), [
    ("default", DomainKnobs()), ("shifted", DomainKnobs.shifted_preset()), ("drift", DomainKnobs.drift_preset()),
    ("wide", DomainKnobs.wide_preset()), ("dark", DomainKnobs.dark_preset()),
    ("printer", DomainKnobs.printer_preset()), ("shifted-fonts", DomainKnobs.shifted_fonts_preset()),
    ("shifted-light", DomainKnobs.shifted_light_preset()),
])
def test_a_known_name_returns_its_preset(name: str, preset: DomainKnobs) -> None:
    assert DomainKnobs.named(name) == preset


def test_the_presets_differ_from_each_other() -> None:
    presets = [DomainKnobs.named(n) for n in ("default", "shifted", "drift", "wide", "dark", "printer",
                                              "shifted-fonts", "shifted-light")]
    assert len(set(presets)) == len(presets)


def test_the_two_halves_of_the_shift_make_up_the_shifted_preset() -> None:
    from dataclasses import replace

    fonts, light, shifted = (DomainKnobs.named(n) for n in ("shifted-fonts", "shifted-light", "shifted"))
    assert fonts.shifted and not light.shifted  # unseen fonts and backgrounds in one half only
    assert replace(light, shifted=True) == shifted  # the other half is the rest of the shift
    assert replace(fonts, shifted=False) == DomainKnobs()  # with the training look otherwise


@pytest.mark.parametrize("name", ["nope", "Default", "", "shifted "])
def test_an_unknown_name_raises_listing_the_choices(name: str) -> None:
    with pytest.raises(ValueError, match="unknown domain") as info:
        DomainKnobs.named(name)
    message = str(info.value)
    assert repr(name) in message
    for choice in ("default", "shifted", "drift", "wide", "dark", "printer"):
        assert choice in message


def test_the_printer_drift_prints_every_label_in_its_one_unseen_typeface() -> None:
    from training.synth.fonts import FONT_ROOT, SHIFTED_FONTS, TRAIN_FONTS
    from training.synth.scene import sample_scene

    knobs = DomainKnobs.printer_preset()
    assert knobs.label_font not in TRAIN_FONTS and knobs.label_font in SHIFTED_FONTS
    labels = [p.label for seed in range(20) for p in sample_scene(seed, knobs).pallets if p.label is not None]
    assert labels
    assert {(label.font, label.dest_font) for label in labels} == {(str(FONT_ROOT / knobs.label_font),) * 2}
    # the training look's labels never use it
    normal = [p.label for seed in range(20) for p in sample_scene(seed, DomainKnobs()).pallets if p.label is not None]
    assert str(FONT_ROOT / knobs.label_font) not in {label.font for label in normal}


def test_the_generator_presets_are_every_name_but_the_teachers_domains() -> None:
    every, offered = DomainKnobs.names(), DomainKnobs.names(teacher_domains=False)
    assert set(every) - set(offered) == {"wide", "dark"}
    for name in every:
        DomainKnobs.named(name)  # every listed name is accepted
