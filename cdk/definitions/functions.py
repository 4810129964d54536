"""Which handler serves each state-machine placeholder (CDK and the local runner read the same table)."""

from __future__ import annotations

# placeholder -> (function key, handler path). Several placeholders may share one function: the rollback
# re-signing runs in the signing function, because only that function may call kms:Sign.
HANDLERS: dict[str, tuple[str, str]] = {
    "Ingest": ("ingest", "lambdas.ingest.handler.handler"),
    "Deidentify": ("deidentify", "lambdas.deidentify.handler.handler"),
    "StartAutoLabel": ("start-autolabel", "lambdas.autolabel.handler.start"),
    "PollAutoLabel": ("autolabel", "lambdas.autolabel.handler.poll"),
    "ReviewGate": ("review-gate", "lambdas.review.handler.gate"),
    "RequestReview": ("request-review", "lambdas.review.handler.request_review_task"),
    "BuildDataset": ("build-dataset", "lambdas.dataset.handler.handler"),
    "StartTraining": ("start-training", "lambdas.training.handler.start"),
    "PollTraining": ("poll-training", "lambdas.training.handler.poll"),
    "StartEvaluation": ("start-evaluation", "lambdas.evaluate.handler.start"),
    "PollEvaluation": ("evaluation-gate", "lambdas.evaluate.handler.poll"),
    "Export": ("export", "lambdas.export.handler.handler"),
    "Sign": ("sign", "lambdas.sign.handler.handler"),
    "SignRollback": ("sign", "lambdas.sign.handler.handler"),
    "Register": ("register", "lambdas.register.handler.handler"),
    "PlanRollout": ("plan-rollout", "lambdas.rollout.handler.plan"),
    "StartRing": ("start-ring", "lambdas.rollout.handler.start_ring"),
    "AssessRing": ("assess-ring", "lambdas.rollout.handler.assess"),
    "RollbackRings": ("rollback-rings", "lambdas.rollout.handler.rollback"),
    "RaiseIncident": ("raise-incident", "lambdas.incident.handler.handler"),
}


# Functions no state machine calls: S3 notifications invoke them.
EVENT_HANDLERS: dict[str, str] = {
    "manifest-feed": "lambdas.manifests.handler.handler",  # landing manifests/<site>/*.json -> curated (or parked)
}


def functions() -> dict[str, str]:
    """function key -> handler path (one entry per distinct function)."""
    return {**{key: handler for key, handler in HANDLERS.values()}, **EVENT_HANDLERS}
