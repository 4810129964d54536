"""Incident handler: an EventBridge event for a halted rollout.

A ServiceNow-style change/incident integration subscribes to the `edgecv-incidents` bus with a rule on
`source = edgecv.rollout` (an API destination); nothing here depends on who listens.
"""

from __future__ import annotations

from typing import Any

from lambdas.common import deps
from lambdas.common.events import IncidentResult, RolloutState
from lambdas.common.powertools import lambda_handler, logger, parse
from lambdas.rollout.core import raise_incident


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    event_id, detail_type = raise_incident(parse(RolloutState, event), deps.current())
    logger.error("rollout halted: incident raised", extra={"event_id": event_id})
    return IncidentResult(event_id=event_id, detail_type=detail_type)
