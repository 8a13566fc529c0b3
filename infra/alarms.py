"""The stack's alarms and where they go: an SNS topic encrypted with its own KMS key, notified when an alarm fires
and when it clears, with an optional e-mail subscription (`-c alarmEmail=...`)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

PERIOD = Duration.minutes(5)
DURATION_PER_MILLE = 800  # the p99 duration alarm fires at 80% of the timeout (metric in ms, timeout in s)


class FunctionAlarms(Construct):
    """Errors, throttles and p99 duration alarms for each function watched, all notifying one topic.

    The topic's key is a customer managed key: CloudWatch cannot publish to a topic encrypted with the AWS managed
    `alias/aws/sns` key, whose policy cannot be changed to let it use the key."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str, email: str | None) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.key = kms.Key(
            self,
            "TopicKey",
            description=f"Headroom {stage}: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"Headroom {stage} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self._action = cloudwatch_actions.SnsAction(self.topic)

    def watch(self, name: str, function: lambda_.Function, timeout_s: int) -> None:
        rules = (
            ("Errors", function.metric_errors(period=PERIOD), 1),
            ("Throttles", function.metric_throttles(period=PERIOD), 1),
            ("Duration", function.metric_duration(period=PERIOD, statistic="p99"), timeout_s * DURATION_PER_MILLE),
        )
        for metric_name, metric, threshold in rules:
            alarm = cloudwatch.Alarm(
                self,
                f"{name}{metric_name}Alarm",
                alarm_description=f"Headroom {self.stage} {name}: {metric_name} at or above {threshold}",
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(self._action)
            alarm.add_ok_action(self._action)
