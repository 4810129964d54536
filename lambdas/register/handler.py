"""Register handler."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, parse
from lambdas.register.core import register


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    result = register(parse(TrainingState, event), deps.current())
    logger.info("registered", extra=result.model_dump())
    return result
