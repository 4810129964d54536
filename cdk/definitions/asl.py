"""Small helpers to write ASL in Python and substitute `${Name}` placeholders."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")

# Transient Lambda-service errors worth retrying; our own errors (bad input, gate verdicts) are not.
TRANSIENT_ERRORS = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException"]


def task(function: str, next_state: str | None, result_path: str, *, comment: str = "",
         catch_to: str | None = None) -> dict[str, Any]:
    """A Lambda task on the function's ARN placeholder: input is the whole state, result lands at result_path."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": f"${{{function}}}",
        "ResultPath": result_path,
        "Retry": [{"ErrorEquals": TRANSIENT_ERRORS, "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}],
    }
    if comment:
        state["Comment"] = comment
    if catch_to:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}]
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def wait_then(poll_state: str) -> dict[str, Any]:
    """Wait `config.poll_seconds`, then poll a job (training and processing jobs: no `.sync` on moto)."""
    return {"Type": "Wait", "SecondsPath": "$.config.poll_seconds", "Next": poll_state}


def still_running(status_path: str, wait_state: str) -> dict[str, Any]:
    """The Choice rule that sends a job still running (SageMaker: InProgress or Stopping) back to its wait."""
    return {"Or": [{"Variable": status_path, "StringEquals": "InProgress"},
                   {"Variable": status_path, "StringEquals": "Stopping"}], "Next": wait_state}


def placeholders(definition: Mapping[str, Any]) -> set[str]:
    return set(_PLACEHOLDER.findall(json.dumps(definition)))


def render(definition: Mapping[str, Any], arns: Mapping[str, str]) -> str:
    """The ASL JSON with every placeholder replaced; a missing ARN is an error, not a silent hole."""
    text = json.dumps(definition, indent=1)
    missing = placeholders(definition) - set(arns)
    if missing:
        raise KeyError(f"no ARN for {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: arns[m.group(1)], text)
