"""What a path inside a bundle may look like: relative, forward slashes, no `.`/`..`, no oddities."""

from __future__ import annotations

MAX_PATH_CHARS = 1024


def path_problem(name: str) -> str | None:
    """Why `name` is not a safe relative member path, or None when it is."""
    if not name:
        return "empty path"
    if len(name) > MAX_PATH_CHARS:
        return f"path longer than {MAX_PATH_CHARS} characters"
    if name.startswith("/"):
        return "absolute path"
    if "\\" in name:
        return "backslash in path"
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        return "control character in path"
    parts = name.split("/")
    if ".." in parts:
        return "'..' in path"
    if any(part in ("", ".") for part in parts):
        return "empty or '.' path component"
    return None
