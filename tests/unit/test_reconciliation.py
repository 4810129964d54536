"""Reconciling a truck's passes against its manifest."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.annotations import ManifestPallet, TruckManifest
from contracts.decisions import PalletPassDecision
from contracts.pro import make_pro
from edge_appliance.reconciliation import reconcile

A, B, C, D = (make_pro(f"{n:09d}") for n in (111111111, 222222222, 333333333, 444444444))


def _manifest(*pallets: tuple[str, str]) -> TruckManifest:
    return TruckManifest(truck_id="TRK-1042", door="D07",
                         pallets=[ManifestPallet(pro=p, dest=d) for p, d in pallets])


def _pass(n: int, pro: str | None, dest: str | None = None, damaged: bool = False) -> PalletPassDecision:
    return PalletPassDecision(site_id="s", camera_id="cam", pass_id=f"cam-{n}-{n * 40}", pro=pro, dest=dest,
                              damaged=damaged, first_seen=100.0 + n, last_seen=102.0 + n)


def test_matched_missing_unexpected_unread_damaged():
    manifest = _manifest((A, "MEM"), (B, "ATL"), (C, "DFW"))
    passes = [_pass(1, A, "MEM"), _pass(2, D, "MEM", damaged=True), _pass(3, None, damaged=True), _pass(4, B)]
    report = reconcile(manifest, passes)
    assert (report.truck_id, report.door) == ("TRK-1042", "D07")
    assert [(m.pro, m.pass_id) for m in report.matched] == [(A, "cam-1-40"), (B, "cam-4-160")]
    assert [(m.pro, m.dest, m.pass_id) for m in report.missing] == [(C, "DFW", None)]
    assert [u.pro for u in report.unexpected] == [D]
    assert [u.pass_id for u in report.unread] == ["cam-3-120"]
    assert [d.pass_id for d in report.damaged] == ["cam-2-80", "cam-3-120"]
    assert report.dest_mismatch == []  # pass 4 read no DEST: not a mismatch


def test_a_listed_pro_with_another_dest_is_matched_and_flagged():
    report = reconcile(_manifest((A, "MEM")), [_pass(1, A, "ATL")])
    assert [m.pro for m in report.matched] == [A]
    assert [(m.pro, m.dest) for m in report.dest_mismatch] == [(A, "ATL")]


def test_a_pallet_seen_twice_matches_once_and_the_second_pass_is_unexpected():
    report = reconcile(_manifest((A, "MEM")), [_pass(2, A, "MEM"), _pass(1, A, "MEM")])
    assert [m.pass_id for m in report.matched] == ["cam-1-40"]  # the earlier pass, whatever the list order
    assert [u.pass_id for u in report.unexpected] == ["cam-2-80"]
    assert report.missing == []


def test_a_pro_listed_twice_needs_two_passes():
    report = reconcile(_manifest((A, "MEM"), (A, "MEM")), [_pass(1, A, "MEM")])
    assert len(report.matched) == 1 and [m.pro for m in report.missing] == [A]


def test_nothing_passed_everything_missing():
    report = reconcile(_manifest((A, "MEM"), (B, "ATL")), [])
    assert [m.pro for m in report.missing] == [A, B]
    assert report.matched == report.unexpected == report.unread == []


_pros = st.integers(0, 10**9 - 1).map(lambda n: make_pro(f"{n:09d}"))


@settings(max_examples=100, deadline=None)
@given(st.lists(_pros, max_size=8), st.lists(st.one_of(st.none(), _pros), max_size=8), st.data())
def test_every_pass_and_every_line_lands_exactly_once(listed, read, data):
    seen = listed[: data.draw(st.integers(0, len(listed)))] + read  # some listed pallets pass, plus others
    order = data.draw(st.permutations(range(len(seen))))
    manifest = _manifest(*((p, "MEM") for p in listed))
    report = reconcile(manifest, [_pass(i, seen[i], "MEM") for i in order])
    placed = [p.pass_id for group in (report.matched, report.unexpected, report.unread) for p in group]
    assert sorted(placed) == sorted(f"cam-{i}-{i * 40}" for i in range(len(seen)))
    assert len(report.matched) + len(report.missing) == len(listed)
    assert all(m.pro in listed for m in report.matched)
    assert all(u.pro is not None for u in report.unexpected) and all(u.pro is None for u in report.unread)
