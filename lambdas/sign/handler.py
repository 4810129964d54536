"""Signing handler: a training state gets its bundle signed; a rollout state its rollback bundle."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import RolloutState, TrainingState
from lambdas.common.powertools import lambda_handler, logger, parse
from lambdas.sign.core import sign_rollback, sign_training


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    if isinstance(event, dict) and "rollout_id" in event:
        result = sign_rollback(parse(RolloutState, event), deps.current())
    else:
        result = sign_training(parse(TrainingState, event), deps.current())
    logger.info("signed", extra=result.model_dump(mode="json"))
    return result
