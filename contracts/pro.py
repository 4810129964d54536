"""PRO numbers: 10 digits, the last a check digit equal to int(first nine) % 7."""

from __future__ import annotations

import re

PRO_LENGTH = 10
_PRO_LINE = re.compile(r"PRO\s*:?\s*([0-9][0-9 \-]{8,14}[0-9])")
_DEST_LINE = re.compile(r"DEST\s*:?\s*([A-Z]{3})\b")


def check_digit(first_nine: str) -> int:
    """The check digit of a PRO number's first nine digits."""
    if len(first_nine) != PRO_LENGTH - 1 or not first_nine.isdigit():
        raise ValueError(f"expected 9 digits, got {first_nine!r}")
    return int(first_nine) % 7


def is_valid_pro(pro: str) -> bool:
    """True when `pro` is 10 bare digits whose last digit is the check digit."""
    return len(pro) == PRO_LENGTH and pro.isdigit() and int(pro[-1]) == check_digit(pro[:-1])


def make_pro(first_nine: str) -> str:
    """Append the check digit."""
    return first_nine + str(check_digit(first_nine))


def canonical_pro(text: str) -> str | None:
    """Strip grouping (spaces, dashes) from a PRO number; None when it is not 10 digits."""
    digits = re.sub(r"[ \-]", "", text)
    return digits if len(digits) == PRO_LENGTH and digits.isdigit() else None


def parse_pro_line(line: str) -> str | None:
    """The canonical PRO number of a line like 'PRO 482711930-1', if the line is one and it is valid."""
    match = _PRO_LINE.search(line)
    if not match:
        return None
    pro = canonical_pro(match.group(1))
    return pro if pro is not None and is_valid_pro(pro) else None


def parse_dest_line(line: str) -> str | None:
    """The terminal code of a line like 'DEST MEM'."""
    match = _DEST_LINE.search(line)
    return match.group(1) if match else None
