"""One exception type per failure class. Step Functions sees the class name as the error name."""

from __future__ import annotations


class CloudError(Exception):
    """Base of the cloud plane's own failures (never raised bare)."""


class BadEventError(CloudError):
    """The event a handler received does not parse: recorded against the execution, not retried."""


class SampleRejectedError(CloudError):
    """One sample is malformed or incomplete (parked, the run goes on)."""


class NotDeidentifiedError(CloudError):
    """A sample's people are not (all) blurred, or its record contradicts itself (quarantined)."""


class ArtifactMissingError(CloudError):
    """An object the step needs is not in its bucket."""


class TrainingError(CloudError):
    """The training job could not be started or described."""


class ProcessingError(CloudError):
    """A processing job (evaluation, teacher labeling) could not be started or described."""


class EvaluationError(CloudError):
    """The candidate could not be evaluated (not a gate verdict: the evaluation itself failed)."""


class BundleSigningError(CloudError):
    """The bundle could not be built or signed."""


class RegistryError(CloudError):
    """The model registry refused the model package."""


class RolloutError(CloudError):
    """A rollout step could not talk to IoT, CloudWatch or EventBridge, or its input is inconsistent."""
