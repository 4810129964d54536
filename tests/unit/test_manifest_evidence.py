"""What a truck's manifest says about a pass, as sampling evidence (`site_decisions.manifest_evidence`)."""

from __future__ import annotations

import pytest

from contracts.annotations import ManifestPallet, TruckManifest
from contracts.decisions import PalletPassDecision
from contracts.pro import make_pro
from contracts.samples import SampleReason
from edge_appliance.site_decisions import NEAR_MISS_DIGITS, digits_apart, manifest_disagrees, manifest_evidence

LISTED = make_pro("482711930")
MANIFEST = TruckManifest(truck_id="TRK-1", door="D07", pallets=[ManifestPallet(pro=LISTED, dest="MEM"),
                                                                 ManifestPallet(pro=make_pro("100200300"),
                                                                                dest="ATL")])


def _pass(pro: str | None, dest: str | None = "MEM") -> PalletPassDecision:
    return PalletPassDecision(site_id="s", camera_id="c", pass_id="c-1-1", pro=pro, dest=dest if pro else None)


def _apart(pro: str, digits: int) -> str:
    """`pro` with its first `digits` digits changed."""
    return "".join(str((int(c) + 1) % 10) if i < digits else c for i, c in enumerate(pro))


def test_a_listed_pallet_with_its_dest_is_explained() -> None:
    assert manifest_evidence(_pass(LISTED), MANIFEST) is None
    assert manifest_evidence(_pass(LISTED, dest=None), MANIFEST) is None  # no DEST read is not a mismatch
    assert not manifest_disagrees(_pass(LISTED), MANIFEST)


@pytest.mark.parametrize("decision", [_pass(None), _pass(LISTED, dest="BOS"), _pass(_apart(LISTED, 1)),
                                      _pass(_apart(LISTED, NEAR_MISS_DIGITS))],
                         ids=["unread", "another-dest", "one-digit-off", "near-miss-limit"])
def test_what_the_model_most_likely_got_wrong_is_a_disagreement(decision: PalletPassDecision) -> None:
    assert manifest_evidence(decision, MANIFEST) is SampleReason.MANIFEST_DISAGREEMENT
    assert manifest_disagrees(decision, MANIFEST)


def test_a_pro_far_from_every_listed_one_is_an_unexpected_pallet() -> None:
    far = _apart(LISTED, NEAR_MISS_DIGITS + 1)
    assert digits_apart(far, LISTED) == NEAR_MISS_DIGITS + 1
    assert manifest_evidence(_pass(far), MANIFEST) is SampleReason.UNEXPECTED_PALLET
    assert manifest_disagrees(_pass(far), MANIFEST)  # still something the manifest does not explain


def test_digits_apart_counts_positions_and_treats_other_lengths_as_far() -> None:
    assert digits_apart("1234567890", "1234567890") == 0
    assert digits_apart("1234567890", "1234567000") == 2
    assert digits_apart("123", "1234567890") == 10
