"""Exception types shared across planes: one per failure class."""


class EdgecvError(Exception):
    """Base of every error edgecv reports to a user as one clear line."""


class DatasetError(EdgecvError):
    """An annotation set, manifest or image is missing, malformed or of an unknown format."""
