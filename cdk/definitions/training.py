"""The training pipeline: landing samples -> de-identified, labeled, reviewed -> trained -> gated -> signed ->
registered.

Input (see `lambdas.common.events.TrainingRunInput`):
    {"run_id": "...", "model_name": "damage_classifier", "config": {"poll_seconds": 30, ...}}
Every Lambda gets the whole state and returns its part; big lists travel through S3, never the state.
Training is polled with Wait/Choice (no `.sync`: the same definition must run on moto's interpreter).
"""

from __future__ import annotations

from typing import Any

from cdk.definitions.asl import still_running, task, wait_then

TRAINING_FUNCTIONS = ("Ingest", "Deidentify", "StartAutoLabel", "PollAutoLabel", "ReviewGate", "RequestReview",
                      "BuildDataset", "StartTraining", "PollTraining", "StartEvaluation", "PollEvaluation", "Export",
                      "Sign", "Register")


def training_definition() -> dict[str, Any]:
    states: dict[str, Any] = {
        "Ingest": task("Ingest", "Deidentify", "$.ingest",
                       comment="validate complete samples in the landing bucket; park malformed ones"),
        "Deidentify": task("Deidentify", "StartAutoLabel", "$.deid",
                           comment="only samples with every person blurred reach the curated bucket"),
        "StartAutoLabel": task("StartAutoLabel", "LabelRoute", "$.labels",
                               comment="a processing job: the teacher labels the curated samples"),
        "WaitForLabels": wait_then("PollAutoLabel"),
        "PollAutoLabel": task("PollAutoLabel", "LabelRoute", "$.labels"),
        "LabelRoute": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.labels.status", "StringEquals": "Completed", "Next": "ReviewGate"},
                still_running("$.labels.status", "WaitForLabels"),
            ],
            "Default": "LabelingFailed",
        },
        "LabelingFailed": {"Type": "Fail", "Error": "LabelingFailed", "Cause": "the labeling job did not complete"},
        "ReviewGate": task("ReviewGate", "ReviewRoute", "$.review",
                           comment="auto-approve above the confidence threshold"),
        "ReviewRoute": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.review.decision", "StringEquals": "approved", "Next": "BuildDataset"},
                {"Variable": "$.review.decision", "StringEquals": "needs_review", "Next": "HumanReview"},
            ],
            "Default": "ReviewRejected",
        },
        "HumanReview": {
            "Type": "Task",
            "Comment": "waits for SendTaskSuccess with {\"decision\": \"approved\"|\"rejected\"}",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": "${RequestReview}",
                "Payload": {"task_token.$": "$$.Task.Token", "run_id.$": "$.run_id", "labels.$": "$.labels"},
            },
            "ResultPath": "$.review",
            "TimeoutSeconds": 7 * 24 * 3600,
            "Next": "HumanRoute",
        },
        "HumanRoute": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.review.decision", "StringEquals": "approved", "Next": "BuildDataset"}],
            "Default": "ReviewRejected",
        },
        "ReviewRejected": {"Type": "Fail", "Error": "ReviewRejected", "Cause": "labels were rejected in review"},
        "BuildDataset": task("BuildDataset", "StartTraining", "$.dataset",
                             comment="snapshot the approved labels as an edgecv-annotations/1 set"),
        "StartTraining": task("StartTraining", "WaitForTraining", "$.training"),
        "WaitForTraining": wait_then("PollTraining"),
        "PollTraining": task("PollTraining", "TrainingRoute", "$.training"),
        "TrainingRoute": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.training.status", "StringEquals": "Completed", "Next": "StartEvaluation"},
                still_running("$.training.status", "WaitForTraining"),
            ],
            "Default": "TrainingFailed",
        },
        "TrainingFailed": {"Type": "Fail", "Error": "TrainingFailed", "Cause": "the training job did not complete"},
        "StartEvaluation": task("StartEvaluation", "WaitForEvaluation", "$.evaluation",
                                comment="stage the candidate; a processing job runs the golden set through the same "
                                        "ensemble"),
        "WaitForEvaluation": wait_then("PollEvaluation"),
        "PollEvaluation": task("PollEvaluation", "GateRoute", "$.evaluation",
                               comment="once the job completed: per-class gates, no regression against production"),
        "GateRoute": {
            "Type": "Choice",
            "Choices": [
                still_running("$.evaluation.status", "WaitForEvaluation"),
                {"And": [{"Variable": "$.evaluation.status", "StringEquals": "Completed"},
                         {"Variable": "$.evaluation.verdict", "StringEquals": "pass"}], "Next": "Export"},
                {"And": [{"Variable": "$.evaluation.status", "StringEquals": "Completed"},
                         {"Variable": "$.evaluation.verdict", "StringEquals": "fail"}], "Next": "GateFailed"},
            ],
            "Default": "EvaluationFailed",
        },
        "EvaluationFailed": {"Type": "Fail", "Error": "EvaluationFailed",
                             "Cause": "the evaluation job did not complete"},
        "GateFailed": {"Type": "Fail", "Error": "EvaluationGateFailed",
                       "Cause": "the candidate missed a gate or regressed against production"},
        "Export": task("Export", "Sign", "$.export", comment="lay the trained model out as a Triton model version"),
        "Sign": task("Sign", "Register", "$.bundle", comment="build the bundle; KMS signs the manifest"),
        "Register": task("Register", None, "$.registration",
                         comment="model package with approval status, lineage and metrics"),
    }
    return {
        "Comment": "edgecv training pipeline (same definition in AWS and on moto)",
        "StartAt": "Ingest",
        "TimeoutSeconds": 14 * 24 * 3600,
        "States": states,
    }
