"""What a truck's manifest says about a pass, as sampling evidence (`site_decisions.manifest_evidence`)."""

from __future__ import annotations

import pytest

from contracts.annotations import ManifestPallet, TruckManifest
from contracts.decisions import PalletPassDecision
from contracts.pro import make_pro
from contracts.samples import SampleReason
from edge_appliance.site_decisions import (
    NEAR_MISS_DIGITS,
    digits_apart,
    double_count_frames,
    manifest_evidence,
    times_seen,
)

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


@pytest.mark.parametrize("decision", [_pass(None), _pass(LISTED, dest="BOS"), _pass(_apart(LISTED, 1)),
                                      _pass(_apart(LISTED, NEAR_MISS_DIGITS))],
                         ids=["unread", "another-dest", "one-digit-off", "near-miss-limit"])
def test_what_the_model_most_likely_got_wrong_is_a_disagreement(decision: PalletPassDecision) -> None:
    assert manifest_evidence(decision, MANIFEST) is SampleReason.MANIFEST_DISAGREEMENT


def test_a_pro_far_from_every_listed_one_is_an_unexpected_pallet() -> None:
    far = _apart(LISTED, NEAR_MISS_DIGITS + 1)
    assert digits_apart(far, LISTED) == NEAR_MISS_DIGITS + 1
    assert manifest_evidence(_pass(far), MANIFEST) is SampleReason.UNEXPECTED_PALLET


def test_digits_apart_counts_positions_and_treats_other_lengths_as_far() -> None:
    assert digits_apart("1234567890", "1234567890") == 0
    assert digits_apart("1234567890", "1234567000") == 2
    assert digits_apart("123", "1234567890") == 10


def test_a_pro_seen_more_often_than_listed_is_a_disagreement() -> None:
    assert manifest_evidence(_pass(LISTED), MANIFEST, seen_before=1) is SampleReason.MANIFEST_DISAGREEMENT
    twice = TruckManifest(truck_id="TRK-2", door="D07", pallets=[ManifestPallet(pro=LISTED, dest="MEM")] * 2)
    assert manifest_evidence(_pass(LISTED), twice, seen_before=1) is None  # listed twice: the second is fine
    assert manifest_evidence(_pass(LISTED), twice, seen_before=2) is SampleReason.MANIFEST_DISAGREEMENT
    far = _apart(LISTED, NEAR_MISS_DIGITS + 1)
    assert manifest_evidence(_pass(far), MANIFEST, seen_before=1) is SampleReason.MANIFEST_DISAGREEMENT


def test_times_seen_counts_the_same_cameras_passes_of_the_same_pro() -> None:
    earlier = [_pass(LISTED), _pass(LISTED).model_copy(update={"camera_id": "other"}), _pass(None),
               _pass(make_pro("100200300"), dest="ATL")]
    assert times_seen(_pass(LISTED), earlier) == 1
    assert times_seen(_pass(None), earlier) == 0  # an unread pass repeats nothing
    assert times_seen(_pass(LISTED), []) == 0


def _framed(pro: str | None, frames: list[int], camera: str = "c") -> PalletPassDecision:
    return PalletPassDecision(site_id="s", camera_id=camera, pass_id=f"{camera}-{frames[0]}", pro=pro,
                              dest="MEM" if pro else None, frame_ids=frames)


def test_a_double_count_is_kept_where_the_tracks_meet() -> None:
    first = _framed(LISTED, [10, 11, 12, 13])
    # a track that broke and was born again on a frame the first one still held: that frame shows both decisions
    assert double_count_frames(_framed(LISTED, [13, 14, 15]), [first]) == [13]
    # no shared frame: the new track's first frame, next to where the last one ended
    assert double_count_frames(_framed(LISTED, [16, 17, 18]), [first]) == [16]
    # the latest earlier pass of the PRO is the one it meets
    second = _framed(LISTED, [14, 15, 16, 17])
    assert double_count_frames(_framed(LISTED, [17, 18]), [first, second]) == [17]


def test_nothing_is_preferred_without_a_repeat() -> None:
    first = _framed(LISTED, [10, 11, 12])
    assert double_count_frames(_framed(make_pro("100200300"), [12, 13]), [first]) == []
    assert double_count_frames(_framed(None, [12, 13]), [first]) == []  # unread: no PRO to repeat
    assert double_count_frames(_framed(LISTED, [12, 13], camera="other"), [first]) == []  # another camera's
