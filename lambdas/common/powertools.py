"""Powertools for every handler: structured logs, EMF metrics, X-Ray tracing (disabled locally by env)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from pydantic import BaseModel, ValidationError

from contracts.errors import first_validation_error
from lambdas.common.errors import BadEventError

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "edgecv/cloud")

logger = Logger()
metrics = Metrics()
tracer = Tracer()

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], event: Any) -> M:
    """Parse an event; a malformed one becomes one clear `BadEventError` line (the execution records it)."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise BadEventError(f"{model.__name__}: {first_validation_error(exc, 'event')}") from exc
    except TypeError as exc:  # a validator of a library model (e.g. Powertools' S3Model) that trips on bad input
        raise BadEventError(f"{model.__name__}: malformed event ({exc})") from exc


def lambda_handler(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Logger context, tracing and metrics flush around a handler; results are JSON-ready dicts."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    @wraps(fn)
    def wrapped(event: Any, context: Any) -> Any:
        if is_metrics_disabled():
            # Powertools does not clear a disabled flush: in one long-lived process (the local cloud) the values
            # pile up and its 100-value auto-flush prints EMF lines regardless. Start each invocation clean.
            metrics.clear_metrics()
        result = fn(event, context)
        metrics.add_metric(name="StepSucceeded", unit="Count", value=1)
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

    return wrapped
