"""Evaluation gate handlers: start the evaluation job, poll it (and judge its report once it completed)."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, metrics, parse
from lambdas.evaluate.core import poll_evaluation, start_evaluation


@lambda_handler
def start(event: dict[str, Any], context: Any) -> Any:
    result = start_evaluation(parse(TrainingState, event), deps.current())
    logger.info("evaluation started", extra=result.model_dump(mode="json"))
    return result


@lambda_handler
def poll(event: dict[str, Any], context: Any) -> Any:
    result = poll_evaluation(parse(TrainingState, event), deps.current())
    if result.verdict is not None:
        metrics.add_metric(name="GateFailures", unit="Count", value=len(result.failures))
        logger.info("evaluation gate", extra=result.model_dump(mode="json"))
    return result
