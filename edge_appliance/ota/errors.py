"""OTA agent failures: one exception type per failure class."""

from __future__ import annotations

from contracts.errors import EdgecvError


class OtaError(EdgecvError):
    """Base of the agent's own failures."""


class JournalError(OtaError):
    """The journal is unreadable or malformed; the agent must not guess what it was doing."""


class DownloadError(OtaError):
    """The bundle could not be fetched (network, HTTP status) after the allowed retries."""


class DownloadMismatchError(OtaError):
    """The fetched bytes differ from the job's sha256 or size; the partial file is discarded."""


class DownloadTooLargeError(OtaError):
    """The bundle is over the agent's size cap (by the job's word or by the bytes sent)."""


class ModelServerError(OtaError):
    """The model server failed to stage, load, test, switch or retire a version."""


class ChannelError(OtaError):
    """The job channel (MQTT, Greengrass IPC) failed to deliver a request or its reply."""


class ReportRefusedError(ChannelError):
    """The cloud refused a status update (job canceled, removed, or already ended); sending it again will not help."""
