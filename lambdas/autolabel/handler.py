"""Auto-label handlers: start the teacher's labeling job, poll it (and collect its labels once it completed)."""

from __future__ import annotations

from typing import Any

from lambdas.autolabel.core import poll_autolabel, start_autolabel
from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, metrics, parse


@lambda_handler
def start(event: dict[str, Any], context: Any) -> Any:
    result = start_autolabel(parse(TrainingState, event), deps.current())
    logger.info("labeling started", extra=result.model_dump(mode="json"))
    return result


@lambda_handler
def poll(event: dict[str, Any], context: Any) -> Any:
    result = poll_autolabel(parse(TrainingState, event), deps.current())
    if result.status == "Completed":
        metrics.add_metric(name="SamplesLabeled", unit="Count", value=result.labeled)
        logger.info("auto-labeling done", extra=result.model_dump(mode="json"))
    return result
