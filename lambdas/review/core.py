"""Review gate: auto-approve confident labels; otherwise a person decides through a task token."""

from __future__ import annotations

import json
from typing import Any

from lambdas.common.deps import Deps
from lambdas.common.events import LabelResult, ReviewDecision, ReviewRequest, ReviewResult
from lambdas.common.s3io import put_json


def decide(labels: LabelResult, auto_approve_confidence: float, min_samples: int) -> ReviewResult:
    """Pure: too few samples -> rejected; every label at/above the threshold -> approved; else a person."""
    if labels.labeled < min_samples:
        return ReviewResult(decision=ReviewDecision.REJECTED,
                            reason=f"{labels.labeled} labeled samples, fewer than {min_samples}")
    if labels.min_confidence >= auto_approve_confidence:
        return ReviewResult(decision=ReviewDecision.APPROVED, reviewer="auto",
                            reason=f"weakest label confidence {labels.min_confidence:.3f} "
                                   f">= {auto_approve_confidence:.3f}")
    return ReviewResult(decision=ReviewDecision.NEEDS_REVIEW,
                        reason=f"weakest label confidence {labels.min_confidence:.3f} < {auto_approve_confidence:.3f}")


def review_task_key(run_id: str) -> str:
    return f"reviews/{run_id}.json"


def request_review(request: ReviewRequest, deps: Deps) -> dict[str, str]:
    """Park the task token where the review tool finds it; the execution waits for its answer."""
    key = review_task_key(request.run_id)
    put_json(deps.aws("s3"), deps.settings.curated_bucket, key, {
        "run_id": request.run_id, "task_token": request.task_token,
        "labels": request.labels.model_dump(mode="json")})
    return {"review_task": key}


def submit_review(sfn: Any, task_token: str, approved: bool, reviewer: str, reason: str = "") -> None:
    """What the review tool calls: resumes the waiting execution with the person's decision."""
    result = ReviewResult(decision=ReviewDecision.APPROVED if approved else ReviewDecision.REJECTED,
                          reviewer=reviewer, reason=reason)
    sfn.send_task_success(taskToken=task_token, output=json.dumps(result.model_dump(mode="json")))
