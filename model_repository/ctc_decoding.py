"""Constrained CTC decoding: the most probable string of a CTC lattice that a small grammar allows.

A lattice is (T, 1 + K) log-probabilities with blank at index 0; strings are tuples of class indices
1..K. `prefix_search` is the CTC prefix beam search (it sums the probability of every path that spells
a prefix, unlike best-path decoding), restricted to the prefixes a `Grammar` allows, and returns only
complete strings. `string_log_prob` is the exact CTC forward probability of one string.

numpy only; used by `processing.read_label` (in-process and inside Triton).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

Prefix = tuple[int, ...]
BEAM_WIDTH = 8
PRUNE_PROB = 1e-3  # a character below this probability at a step does not start a new prefix there
RESCALE_BELOW = 1e-100


class Grammar(Protocol):
    def allowed(self, prefix: Prefix) -> Sequence[int] | None:
        """Classes that may follow `prefix` (None: any class)."""

    def complete(self, prefix: Prefix) -> bool:
        """Whether `prefix` is a whole string of the language."""


class AnyString:
    """No constraint: what plain prefix beam search finds."""

    def allowed(self, prefix: Prefix) -> Sequence[int] | None:
        return None

    def complete(self, prefix: Prefix) -> bool:
        return True


class FixedLength:
    """Exactly `length` characters; positions listed in `fixed` must be the given class."""

    def __init__(self, length: int, fixed: dict[int, int] | None = None) -> None:
        self.length = length
        self.fixed = fixed or {}

    def allowed(self, prefix: Prefix) -> Sequence[int] | None:
        n = len(prefix)
        if n >= self.length:
            return ()
        return (self.fixed[n],) if n in self.fixed else None

    def complete(self, prefix: Prefix) -> bool:
        return len(prefix) == self.length


class CheckedNumber:
    """`length` decimal digits (class d + 1 is digit d) whose last digit is int(the others) % `modulus`."""

    def __init__(self, length: int, modulus: int) -> None:
        self.length = length
        self.modulus = modulus

    def allowed(self, prefix: Prefix) -> Sequence[int] | None:
        n = len(prefix)
        if n < self.length - 1:
            return None
        if n == self.length - 1:
            residue = 0
            for k in prefix:
                residue = (residue * 10 + k - 1) % self.modulus
            return (residue + 1,)
        return ()

    def complete(self, prefix: Prefix) -> bool:
        return len(prefix) == self.length


def prefix_search(log_probs: np.ndarray, grammar: Grammar, beam: int = BEAM_WIDTH,
                  prune: float = PRUNE_PROB) -> list[tuple[Prefix, float]]:
    """Complete strings of the grammar found by CTC prefix beam search, most probable first, with the
    log-probability the search accumulated for each (a lower bound of `string_log_prob`)."""
    probs_np = np.exp(log_probs.astype(np.float64))
    starts: list[list[int]] = [[] for _ in range(len(probs_np))]
    for t, k in zip(*np.nonzero(probs_np[:, 1:] > prune), strict=True):
        starts[t].append(int(k) + 1)
    probs = probs_np.tolist()  # Python floats: scalar access is what this loop does most
    beams: dict[Prefix, tuple[float, float]] = {(): (1.0, 0.0)}  # prefix -> (ends in blank, ends in char)
    log_scale = 0.0  # beams are rescaled (best one sums to 1) when they get small, so nothing underflows
    for p, cands in zip(probs, starts, strict=True):
        blank = p[0]
        if not cands:  # no character starts here: every prefix only continues, none is born
            beams = {prefix: ((pb + pnb) * blank, pnb * p[prefix[-1]] if prefix else 0.0)
                     for prefix, (pb, pnb) in beams.items()}
        else:
            nxt: dict[Prefix, list[float]] = {}
            for prefix, (pb, pnb) in beams.items():
                total = pb + pnb
                entry = nxt.setdefault(prefix, [0.0, 0.0])
                entry[0] += total * blank
                if prefix:
                    entry[1] += pnb * p[prefix[-1]]  # the last character repeats without a blank
                allowed = grammar.allowed(prefix)
                for k in cands if allowed is None else [k for k in allowed if k in cands]:
                    # a repeated character needs a blank in between to count twice
                    mass = (pb if prefix and k == prefix[-1] else total) * p[k]
                    nxt.setdefault((*prefix, k), [0.0, 0.0])[1] += mass
            ranked = sorted(nxt.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:beam]
            beams = {prefix: (pb, pnb) for prefix, (pb, pnb) in ranked}
        top = max(pb + pnb for pb, pnb in beams.values())
        if top < RESCALE_BELOW:
            if top <= 0.0:
                return []
            log_scale += math.log(top)
            beams = {prefix: (pb / top, pnb / top) for prefix, (pb, pnb) in beams.items()}
    found = [(prefix, math.log(pb + pnb) + log_scale) for prefix, (pb, pnb) in beams.items()
             if pb + pnb > 0.0 and grammar.complete(prefix)]
    return sorted(found, key=lambda item: -item[1])


def string_log_prob(log_probs: np.ndarray, labels: Sequence[int]) -> float:
    """Exact log P(labels | lattice): the CTC forward algorithm over all paths that spell `labels`."""
    lp = log_probs.astype(np.float64)
    if not len(labels):
        return float(lp[:, 0].sum())  # only the all-blank path spells nothing
    ext = np.zeros(2 * len(labels) + 1, np.int64)
    ext[1::2] = labels
    can_skip = np.zeros(len(ext), bool)  # a character may follow the previous one without a blank
    can_skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(len(ext), -np.inf)
    alpha[0], alpha[1] = lp[0, 0], lp[0, ext[1]]
    for t in range(1, lp.shape[0]):
        shifted1 = np.concatenate(([-np.inf], alpha[:-1]))
        shifted2 = np.where(can_skip, np.concatenate(([-np.inf, -np.inf], alpha[:-2])), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, shifted1), shifted2) + lp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]))
