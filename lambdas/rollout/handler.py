"""Rollout handlers: plan, start_ring, assess, rollback."""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import RolloutState
from lambdas.common.powertools import lambda_handler, logger, metrics, parse
from lambdas.rollout import core


@lambda_handler
def plan(event: dict[str, Any], context: Any) -> Any:
    return core.plan(parse(RolloutState, event), deps.current())


@lambda_handler
def start_ring(event: dict[str, Any], context: Any) -> Any:
    job = core.start_ring(parse(RolloutState, event), deps.current())
    logger.info("ring started", extra=job.model_dump())
    return job


@lambda_handler
def assess(event: dict[str, Any], context: Any) -> Any:
    progress = core.assess(parse(RolloutState, event), deps.current())
    logger.info("ring assessed", extra=progress.model_dump(mode="json"))
    metrics.add_metric(name=f"RingVerdict_{progress.verdict.value}", unit="Count", value=1)
    return progress


@lambda_handler
def rollback(event: dict[str, Any], context: Any) -> Any:
    result = core.rollback(parse(RolloutState, event), deps.current())
    logger.warning("rolled back", extra=result.model_dump())
    return result
