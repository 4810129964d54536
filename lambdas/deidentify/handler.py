"""De-identify handler."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, metrics, parse
from lambdas.deidentify.core import deidentify


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    result = deidentify(parse(TrainingState, event), deps.current())
    metrics.add_metric(name="SamplesCurated", unit="Count", value=result.curated)
    metrics.add_metric(name="SamplesQuarantined", unit="Count", value=result.quarantined)
    logger.info("de-identification done", extra=result.model_dump())
    return result
