"""Export handler."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import TrainingState
from lambdas.common.powertools import lambda_handler, logger, parse
from lambdas.export.core import export


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    result = export(parse(TrainingState, event), deps.current())
    logger.info("exported", extra=result.model_dump())
    return result
