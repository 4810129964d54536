"""Review handlers: the gate decision, and the human-review task request (waitForTaskToken)."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.errors import BadEventError
from lambdas.common.events import ReviewRequest, TrainingState
from lambdas.common.powertools import lambda_handler, logger, parse
from lambdas.review.core import decide, request_review


@lambda_handler
def gate(event: dict[str, Any], context: Any) -> Any:
    state = parse(TrainingState, event)
    if state.labels is None:
        raise BadEventError("TrainingState: labels: the review gate needs the auto-label result")
    result = decide(state.labels, state.config.auto_approve_confidence, state.config.min_samples)
    logger.info("review gate", extra=result.model_dump(mode="json"))
    return result


@lambda_handler
def request_review_task(event: dict[str, Any], context: Any) -> Any:
    return request_review(parse(ReviewRequest, event), deps.current())

