"""Auto-label handler."""

from __future__ import annotations

from typing import Any

from lambdas.autolabel.core import autolabel
from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, metrics, parse


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    result = autolabel(parse(TrainingState, event), deps.current())
    metrics.add_metric(name="SamplesLabeled", unit="Count", value=result.labeled)
    logger.info("auto-labeling done", extra=result.model_dump())
    return result
