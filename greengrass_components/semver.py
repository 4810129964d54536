"""Semantic versions and the npm-style version requirements Greengrass recipes use (`>=1.0.0 <2.0.0`, `^1.2.0`,
`~1.2.0`, `1.2.3`, `||` alternatives). Only what the recipes here need; anything else is refused, not guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts.errors import EdgecvError

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
                     r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?(.+)$")


class VersionError(EdgecvError):
    """A component version or version requirement is not valid semver."""


@dataclass(frozen=True, order=False)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _SEMVER.match(text.strip())
        if match is None:
            raise VersionError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        pre = tuple(match.group(4).split(".")) if match.group(4) else ()
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre)

    def key(self) -> tuple:
        # a pre-release sorts before its release; numeric identifiers before alphanumeric ones
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}" + (f"-{'.'.join(self.prerelease)}" if self.prerelease else "")


def _comparator(token: str) -> list[tuple[str, Version]]:
    match = _COMPARATOR.match(token)
    if match is None:
        raise VersionError(f"bad version comparator {token!r}")
    op, version = match.group(1) or "=", Version.parse(match.group(2))
    if op == "^":
        upper = (Version(version.major + 1, 0, 0) if version.major else
                 Version(0, version.minor + 1, 0) if version.minor else Version(0, 0, version.patch + 1))
        return [(">=", version), ("<", upper)]
    if op == "~":
        return [(">=", version), ("<", Version(version.major, version.minor + 1, 0))]
    return [(op, version)]


def _holds(op: str, version: Version, bound: Version) -> bool:
    a, b = version.key(), bound.key()
    return {"=": a == b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


@dataclass(frozen=True)
class Requirement:
    """Alternatives (`||`) of comparator sets (space-separated, all must hold)."""

    text: str
    alternatives: tuple[tuple[tuple[str, Version], ...], ...]

    @classmethod
    def parse(cls, text: str) -> Requirement:
        alternatives = []
        for part in text.split("||"):
            tokens = part.split()
            if not tokens:
                raise VersionError(f"empty alternative in version requirement {text!r}")
            alternatives.append(tuple(c for token in tokens for c in _comparator(token)))
        return cls(text, tuple(alternatives))

    def satisfied_by(self, version: Version) -> bool:
        return any(all(_holds(op, version, bound) for op, bound in alt) for alt in self.alternatives)
