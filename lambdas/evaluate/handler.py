"""Evaluation gate handler."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, metrics, parse
from lambdas.evaluate.core import evaluate


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    result = evaluate(parse(TrainingState, event), deps.current())
    metrics.add_metric(name="GateFailures", unit="Count", value=len(result.failures))
    logger.info("evaluation gate", extra=result.model_dump(mode="json"))
    return result
