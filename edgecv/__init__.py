"""edgecv: the front door (CLI and local stack)."""

__version__ = "0.1.0"
