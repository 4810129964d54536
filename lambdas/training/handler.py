"""Training handlers: start and poll."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, parse
from lambdas.training.core import poll_training, start_training


@lambda_handler
def start(event: dict[str, Any], context: Any) -> Any:
    result = start_training(parse(TrainingState, event), deps.current())
    logger.info("training started", extra=result.model_dump(mode="json"))
    return result


@lambda_handler
def poll(event: dict[str, Any], context: Any) -> Any:
    return poll_training(parse(TrainingState, event), deps.current())
