"""Ingest handler: parse the state, run `ingest`, return its result."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, metrics, parse
from lambdas.ingest.core import ingest


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    state = parse(TrainingState, event)
    result = ingest(state, deps.current())
    metrics.add_metric(name="SamplesAccepted", unit="Count", value=result.accepted)
    metrics.add_metric(name="SamplesParked", unit="Count", value=result.parked)
    logger.info("ingest done", extra=result.model_dump())
    return result
