"""Observability: the fleet dashboard and alarms on the health signals the rollout gate also reads."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.config import CloudConfig
from lambdas.common import fleet_metrics as fm

PERIOD = cdk.Duration.minutes(5)


def fleet_metric(name: str, statistic: str, label: str | None = None) -> cw.Metric:
    return cw.Metric(namespace=fm.NAMESPACE, metric_name=name, statistic=statistic, period=PERIOD,
                     label=label or f"{name} {statistic}")


def per_site(name: str, statistic: str) -> cw.MathExpression:
    """One line per site (and per model version) through a metric-insights search."""
    return cw.MathExpression(
        expression=f"SEARCH('{{{fm.NAMESPACE},{fm.DIM_SITE},{fm.DIM_MODEL_VERSION}}} MetricName=\"{name}\"', "
                   f"'{statistic}', 300)",
        label=f"{name} {statistic}", period=PERIOD)


class Observability(Construct):
    def __init__(self, scope: Construct, construct_id: str, config: CloudConfig, key: kms.IKey,
                 state_machines: dict[str, sfn.StateMachine],
                 event_functions: dict[str, lambda_.IFunction] | None = None) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True,
                               display_name="edgecv fleet alarms")
        if config.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(config.alarm_email))
        action = cw_actions.SnsAction(self.topic)
        self.alarms = {
            "LatencyP99": cw.Alarm(self, "LatencyP99", metric=fleet_metric(fm.LATENCY_MS, "p99"), threshold=250,
                                   evaluation_periods=3,
                                   comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                                   alarm_description="fleet frame-to-decision latency p99 above 250 ms"),
            "ConfidenceCollapse": cw.Alarm(
                self, "ConfidenceCollapse", metric=fleet_metric(fm.CONFIDENCE, "Average"), threshold=0.5,
                evaluation_periods=3, comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="mean detection confidence below 0.5"),
            "DroppedFrames": cw.Alarm(self, "DroppedFrames", metric=fleet_metric(fm.DROPPED_FRAMES, "Sum"),
                                      threshold=100, evaluation_periods=2,
                                      comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                                      alarm_description="more than 100 dropped frames in 5 minutes"),
            "SmokeTestFailures": cw.Alarm(
                self, "SmokeTestFailures", metric=fleet_metric(fm.SMOKE_TEST_FAILURES, "Sum"), threshold=0,
                evaluation_periods=1, comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="a device refused a new version at its smoke test"),
        }
        for name, machine in state_machines.items():
            self.alarms[f"{name}Failed"] = cw.Alarm(
                self, f"{name}Failed", metric=machine.metric_failed(period=PERIOD), threshold=0,
                evaluation_periods=1, comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"an execution of the {name} state machine failed")
        for name, fn in (event_functions or {}).items():  # no execution records their failures: alarm on errors
            self.alarms[f"{name}Errors"] = cw.Alarm(
                self, f"{name}Errors", metric=fn.metric_errors(period=PERIOD), threshold=0, evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"the {name} function failed (its input stays where it was; see its logs)")
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)
        self.dashboard = cw.Dashboard(self, "FleetDashboard", dashboard_name="edgecv-fleet")
        self.dashboard.add_widgets(
            cw.GraphWidget(title="latency p95 per site (ms)", left=[per_site(fm.LATENCY_MS, "p95")], width=12),
            cw.GraphWidget(title="latency p99 per site (ms)", left=[per_site(fm.LATENCY_MS, "p99")], width=12),
            cw.GraphWidget(title="fps per site", left=[per_site(fm.FPS, "Average")], width=12),
            cw.GraphWidget(title="dropped frames per site", left=[per_site(fm.DROPPED_FRAMES, "Sum")], width=12),
            cw.GraphWidget(title="confidence per site and model version",
                           left=[per_site(fm.CONFIDENCE, "Average")], width=12),
            cw.GraphWidget(title="hard-negative rate per site", left=[per_site(fm.HARD_NEGATIVE_RATE, "Average")],
                           width=12),
            cw.GraphWidget(title="devices per model version", width=12, left=[cw.MathExpression(
                expression=f"SEARCH('{{{fm.NAMESPACE},{fm.DIM_MODEL_VERSION}}} MetricName=\"{fm.FPS}\"', "
                           "'SampleCount', 300)", label="reports per model version", period=PERIOD)]),
            cw.GraphWidget(title="rollout: ring reached", width=12,
                           left=[fleet_metric(fm.ROLLOUT_STATE, "Maximum", "ring index")]),
            cw.AlarmStatusWidget(title="health alarms", alarms=list(self.alarms.values()), width=24),
        )
