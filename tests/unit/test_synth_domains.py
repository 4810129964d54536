"""DomainKnobs.named: the domain presets by name (the CLI's and the demo's --domain)."""

from __future__ import annotations

import pytest

from training.synth.scene import DomainKnobs


@pytest.mark.parametrize(("name", "preset"), [
    ("default", DomainKnobs()), ("shifted", DomainKnobs.shifted_preset()), ("drift", DomainKnobs.drift_preset()),
    ("wide", DomainKnobs.wide_preset()), ("dark", DomainKnobs.dark_preset()),
])
def test_a_known_name_returns_its_preset(name: str, preset: DomainKnobs) -> None:
    assert DomainKnobs.named(name) == preset


def test_the_presets_differ_from_each_other() -> None:
    presets = [DomainKnobs.named(n) for n in ("default", "shifted", "drift", "wide", "dark")]
    assert len(set(presets)) == len(presets)


@pytest.mark.parametrize("name", ["nope", "Default", "", "shifted "])
def test_an_unknown_name_raises_listing_the_choices(name: str) -> None:
    with pytest.raises(ValueError, match="unknown domain") as info:
        DomainKnobs.named(name)
    message = str(info.value)
    assert repr(name) in message
    for choice in ("default", "shifted", "drift", "wide", "dark"):
        assert choice in message
