"""The ringed rollout: per ring, an IoT job -> bake -> assess (job outcomes + fleet health) -> continue or halt.

Input (see `lambdas.common.events.RolloutInput`): the release to roll out, the previous approved release
(the rollback target), the rings in order and the gate thresholds. A halt re-signs the previous release
as a signed rollback, sends it to every ring the release reached, and emits an incident event.
Operators cancel with `StopExecution`, or softly (rollback included) through the cancel flag the
assess step reads.
"""

from __future__ import annotations

from typing import Any

from cdk.definitions.asl import task

ROLLOUT_FUNCTIONS = ("PlanRollout", "StartRing", "AssessRing", "SignRollback", "RollbackRings", "RaiseIncident")


def rollout_definition() -> dict[str, Any]:
    states: dict[str, Any] = {
        "PlanRollout": task("PlanRollout", "StartRing", "$.progress", comment="validate input, ring 0"),
        "StartRing": task("StartRing", "Bake", "$.ring", comment="IoT job for the ring's thing group",
                          catch_to="SignRollback"),
        "Bake": {"Type": "Wait", "SecondsPath": "$.config.bake_seconds", "Next": "AssessRing"},
        "AssessRing": task("AssessRing", "RingRoute", "$.progress", catch_to="SignRollback",
                           comment="job outcomes + CloudWatch health -> the pure ring gate"),
        "RingRoute": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.progress.verdict", "StringEquals": "halt", "Next": "SignRollback"},
                {"Variable": "$.progress.verdict", "StringEquals": "wait", "Next": "Bake"},
                {"And": [{"Variable": "$.progress.verdict", "StringEquals": "continue"},
                         {"Variable": "$.progress.done", "BooleanEquals": True}],
                 "Next": "RolloutComplete"},
                {"Variable": "$.progress.verdict", "StringEquals": "continue", "Next": "StartRing"},
            ],
            "Default": "SignRollback",
        },
        "RolloutComplete": {"Type": "Succeed"},
        "SignRollback": task("SignRollback", "RollbackRings", "$.rollback_bundle",
                             comment="re-sign the previous release as a signed rollback"),
        "RollbackRings": task("RollbackRings", "RaiseIncident", "$.rollback",
                              comment="cancel the release's jobs; roll back every ring it reached"),
        "RaiseIncident": task("RaiseIncident", "RolloutHalted", "$.incident",
                              comment="EventBridge incident (ServiceNow-style hook subscribes here)"),
        "RolloutHalted": {"Type": "Fail", "Error": "RolloutHalted",
                          "Cause": "a ring crossed a health or job-failure threshold; rolled back"},
    }
    return {
        "Comment": "edgecv ringed rollout (same definition in AWS and on moto)",
        "StartAt": "PlanRollout",
        "TimeoutSeconds": 7 * 24 * 3600,
        "States": states,
    }
