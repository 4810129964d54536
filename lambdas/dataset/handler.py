"""Dataset snapshot handler."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, parse
from lambdas.dataset.core import build_dataset


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    result = build_dataset(parse(TrainingState, event), deps.current())
    logger.info("dataset snapshot", extra=result.model_dump())
    return result
