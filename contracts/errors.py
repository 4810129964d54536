"""Exception types shared across planes: one per failure class."""

from pydantic import ValidationError


class EdgecvError(Exception):
    """Base of every error edgecv reports to a user as one clear line."""


class DatasetError(EdgecvError):
    """An annotation set, manifest or image is missing, malformed or of an unknown format."""


def first_validation_error(exc: ValidationError, top: str = "") -> str:
    """The first problem pydantic found, as `where: what` (`top` names the whole document when `where` is empty)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or top
    return f"{where}: {first['msg']}" if where else first["msg"]
