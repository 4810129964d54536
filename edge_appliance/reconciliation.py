"""A truck's load against its manifest: which listed pallets passed, which are missing, which were not listed.

Pure: `reconcile(manifest, decisions)` reads nothing and writes nothing.

Rules, in the order passes happened (`first_seen`, then `pass_id`):
- a pass with no valid PRO read is `unread` (it can neither match nor be unexpected);
- a pass whose PRO is listed is `matched`, once per manifest line: a PRO listed once and seen twice matches
  once and the second pass is `unexpected` (a pallet carried out and back in is for a person to look at);
- a matched pass whose read DEST differs from the listed one is also in `dest_mismatch`
  (a pass with no DEST read is not a mismatch);
- a pass whose PRO is not listed is `unexpected`;
- every manifest line no pass matched is `missing`, in manifest order;
- every pass flagged damaged is also in `damaged`, whatever else it is.
"""

from __future__ import annotations

from collections import Counter

from contracts.annotations import TruckManifest
from contracts.decisions import PalletPassDecision, ReconciledPallet, ReconciliationReport


def _seen(decision: PalletPassDecision) -> ReconciledPallet:
    return ReconciledPallet(pro=decision.pro, dest=decision.dest, pass_id=decision.pass_id, damaged=decision.damaged)


def reconcile(manifest: TruckManifest, decisions: list[PalletPassDecision]) -> ReconciliationReport:
    listed = Counter(p.pro for p in manifest.pallets)
    listed_dest: dict[str, set[str]] = {}
    for p in manifest.pallets:
        listed_dest.setdefault(p.pro, set()).add(p.dest)
    matched_count: Counter[str] = Counter()
    matched, unexpected, unread, damaged, dest_mismatch = [], [], [], [], []
    for decision in sorted(decisions, key=lambda d: (d.first_seen, d.pass_id)):
        if decision.damaged:
            damaged.append(_seen(decision))
        if decision.pro is None:
            unread.append(_seen(decision))
        elif matched_count[decision.pro] < listed[decision.pro]:
            matched_count[decision.pro] += 1
            matched.append(_seen(decision))
            if decision.dest is not None and decision.dest not in listed_dest[decision.pro]:
                dest_mismatch.append(_seen(decision))
        else:
            unexpected.append(_seen(decision))
    missing = []
    remaining = Counter(matched_count)
    for p in manifest.pallets:
        if remaining[p.pro] > 0:
            remaining[p.pro] -= 1
        else:
            missing.append(ReconciledPallet(pro=p.pro, dest=p.dest))
    return ReconciliationReport(truck_id=manifest.truck_id, door=manifest.door, matched=matched, missing=missing,
                                unexpected=unexpected, unread=unread, damaged=damaged, dest_mismatch=dest_mismatch)
