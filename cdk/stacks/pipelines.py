"""The Lambdas and the two state machines (training pipeline, ringed rollout) with least-privilege roles.

Definitions come from `cdk.definitions` (the same ASL the local runner executes on moto); each
`${Placeholder}` becomes the ARN of the function `cdk.definitions.functions.HANDLERS` names.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.bundling import lambda_code
from cdk.config import CloudConfig
from cdk.definitions import placeholders, rollout_definition, training_definition
from cdk.definitions.functions import HANDLERS, functions
from cdk.nag import acknowledge, acknowledge_prefix_grants, arn_finding, arn_token
from cdk.stacks.data_lake import DataLake
from cdk.stacks.fleet import Fleet, ring_group_name
from cdk.stacks.registry import Registry
from cdk.stacks.signing import Signing

# AWS's own Powertools layer (v3, Python 3.11, x86_64); it carries Powertools and its extras.
POWERTOOLS_LAYER = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:18"
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
HEAVY_FUNCTIONS = ("sign", "export", "start-evaluation", "evaluation-gate")  # 5 min, 1 GiB


class Pipelines(Construct):
    def __init__(self, scope: Construct, construct_id: str, config: CloudConfig, lake: DataLake,
                 signing: Signing, registry: Registry, fleet: Fleet) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.bus = events.EventBus(self, "IncidentBus", event_bus_name="edgecv-incidents")
        self.training_role = iam.Role(self, "TrainingJobRole",
                                      assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                                      description="SageMaker training jobs: read datasets, write model artifacts")
        lake.curated.grant_read(self.training_role, "datasets/*")
        lake.artifacts.grant_read_write(self.training_role, "training/*")
        self.processing_role = iam.Role(
            self, "ProcessingJobRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker processing jobs (evaluation gate, teacher labeling): read the golden set, staged "
                        "versions, samples and site manifests; write reports and labels")
        lake.curated.grant_read(self.processing_role, "golden/*")
        lake.artifacts.grant_read_write(self.processing_role, "evaluations/*")
        lake.curated.grant_read(self.processing_role, "runs/*")  # the labeling job's manifest file
        lake.curated.grant_read(self.processing_role, "samples/*")
        lake.curated.grant_read(self.processing_role, "manifests/*")
        lake.curated.grant_put(self.processing_role, "samples/*/label.json")  # a label next to its sample, nothing else
        for role in (self.training_role, self.processing_role):
            role.add_to_policy(iam.PolicyStatement(
                actions=["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                         "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                         "cloudwatch:PutMetricData"],
                resources=["*"]))
        code = lambda_code(config.lambda_dependencies)
        layer = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools",
                                                            POWERTOOLS_LAYER.format(region=stack.region))
        env = {
            "LANDING_BUCKET": lake.landing.bucket_name, "CURATED_BUCKET": lake.curated.bucket_name,
            "ARTIFACTS_BUCKET": lake.artifacts.bucket_name, "SIGNING_KEY_ID": signing.key.key_arn,
            "TRAINING_ROLE_ARN": self.training_role.role_arn, "TRAINING_IMAGE": config.training_image_uri,
            "TRAINING_INSTANCE_TYPE": config.training_instance_type,
            "PROCESSING_ROLE_ARN": self.processing_role.role_arn, "PROCESSING_IMAGE": config.processing_image_uri,
            "PROCESSING_INSTANCE_TYPE": config.processing_instance_type, "EVENT_BUS": self.bus.event_bus_name,
            "RING_GROUPS": ",".join(ring_group_name(r) for r in config.rings),
            "POWERTOOLS_METRICS_NAMESPACE": "edgecv/cloud",
        }
        self.functions: dict[str, lambda_.Function] = {}
        for key, handler in functions().items():
            self.functions[key] = self._function(key, handler, code, layer, env)
        f = self.functions
        landing, curated, artifacts = lake.landing, lake.curated, lake.artifacts
        landing.grant_read(f["ingest"].role, "samples/*")
        landing.grant_read_write(f["ingest"].role, "parked/*")
        landing.grant_delete(f["ingest"].role, "samples/*")
        curated.grant_read_write(f["ingest"].role, "runs/*")
        curated.grant_read(f["ingest"].role, "samples/*")  # already curated?
        curated.grant_read(f["ingest"].role, "quarantine/*")  # already quarantined?
        landing.grant_read(f["deidentify"].role, "samples/*")
        curated.grant_read_write(f["deidentify"].role, "runs/*")
        curated.grant_put(f["deidentify"].role, "samples/*")
        curated.grant_put(f["deidentify"].role, "quarantine/*")
        for key in ("start-autolabel", "autolabel"):
            curated.grant_read(f[key].role, "samples/*")
            curated.grant_read_write(f[key].role, "runs/*")
            # a sample in which the teacher found a person the site did not blur: its frame leaves curated
            curated.grant_delete(f[key].role, "samples/*/frame.jpg")
            curated.grant_put(f[key].role, "quarantine/*")
        curated.grant_read(f["start-autolabel"].role, "manifests/*")
        curated.grant_read(f["review-gate"].role, "runs/*")
        curated.grant_read_write(f["request-review"].role, "reviews/*")
        curated.grant_read(f["build-dataset"].role, "samples/*")
        curated.grant_read_write(f["build-dataset"].role, "runs/*")
        curated.grant_put(f["build-dataset"].role, "datasets/*")
        for key in ("start-training", "poll-training"):
            f[key].add_to_role_policy(iam.PolicyStatement(
                actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:AddTags"],
                resources=[stack.format_arn(service="sagemaker", resource="training-job", resource_name="edgecv-*")]))
        self.training_role.grant_pass_role(f["start-training"].role)
        curated.grant_read(f["start-evaluation"].role, "golden/*")
        artifacts.grant_read(f["start-evaluation"].role, "training/*")
        artifacts.grant_read(f["start-evaluation"].role, "bundles/*")  # production versions after v1
        signing.key.grant(f["start-evaluation"].role, "kms:GetPublicKey")  # ... verified as a device would
        artifacts.grant_read_write(f["start-evaluation"].role, "evaluations/*")
        self.processing_role.grant_pass_role(f["start-evaluation"].role)
        artifacts.grant_read(f["evaluation-gate"].role, "evaluations/*")
        curated.grant_read_write(f["evaluation-gate"].role, "runs/*")
        processing_jobs = stack.format_arn(service="sagemaker", resource="processing-job", resource_name="edgecv-*")
        f["start-evaluation"].add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:AddTags"],
            resources=[processing_jobs]))
        f["evaluation-gate"].add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeProcessingJob"], resources=[processing_jobs]))
        f["start-autolabel"].add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:AddTags"],
            resources=[processing_jobs]))
        self.processing_role.grant_pass_role(f["start-autolabel"].role)
        f["autolabel"].add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeProcessingJob"], resources=[processing_jobs]))
        artifacts.grant_read_write(f["export"].role, "training/*")
        artifacts.grant_read_write(f["export"].role, "exports/*")
        artifacts.grant_read(f["sign"].role, "exports/*")
        artifacts.grant_read_write(f["sign"].role, "bundles/*")
        signing.restrict_sign_to(f["sign"].role)
        artifacts.grant_read(f["register"].role, "bundles/*")
        for key in ("start-evaluation", "evaluation-gate", "register"):
            f[key].add_to_role_policy(iam.PolicyStatement(
                actions=["sagemaker:CreateModelPackage", "sagemaker:ListModelPackages",
                         "sagemaker:DescribeModelPackage"] if key == "register" else
                ["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
                resources=[*registry.group_arns(),
                           stack.format_arn(service="sagemaker", resource="model-package", resource_name="edgecv-*")]))
        self._manifest_feed(lake, f["manifest-feed"])
        thing_groups = [g.attr_arn for g in fleet.ring_groups.values()]
        job_arn = stack.format_arn(service="iot", resource="job", resource_name="edgecv-*")
        for key in ("start-ring", "rollback-rings"):
            f[key].add_to_role_policy(iam.PolicyStatement(
                actions=["iot:CreateJob", "iot:CancelJob", "iot:DescribeJob", "iot:DescribeThingGroup"],
                resources=[job_arn, *thing_groups]))
            artifacts.grant_read(f[key].role, "bundles/*")  # presigned bundle URLs in the job document
        f["assess-ring"].add_to_role_policy(iam.PolicyStatement(
            actions=["iot:DescribeJob", "iot:ListJobExecutionsForJob", "iot:DescribeJobExecution"],
            resources=[job_arn, stack.format_arn(service="iot", resource="thing", resource_name="*")]))
        f["assess-ring"].add_to_role_policy(iam.PolicyStatement(
            actions=["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics"], resources=["*"]))
        f["assess-ring"].add_to_role_policy(iam.PolicyStatement(
            actions=["ssm:GetParameter"], resources=[stack.format_arn(
                service="ssm", resource="parameter", resource_name="edgecv/rollouts/*")]))
        for key in ("plan-rollout", "start-ring"):  # the rollout publishes the ring it reached
            f[key].add_to_role_policy(iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"], resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "edgecv/fleet"}}))
        artifacts.grant_read(f["plan-rollout"].role, "bundles/*")
        self.bus.grant_put_events_to(f["raise-incident"].role)

        self.training = self._state_machine("TrainingPipeline", "edgecv-training", training_definition())
        self.rollout = self._state_machine("Rollout", "edgecv-rollout", rollout_definition())
        acknowledge_prefix_grants(self, [
            (landing, "samples/*"), (landing, "parked/*"), (curated, "runs/*"), (curated, "samples/*"),
            (curated, "quarantine/*"), (curated, "reviews/*"), (curated, "datasets/*"),
            (curated, "golden/*"), (curated, "manifests/*"), (curated, "samples/*/label.json"),
            (curated, "samples/*/frame.jpg"),
            (landing, "manifests/*"), (landing, "parked/manifests/*"),
            (artifacts, "training/*"), (artifacts, "evaluations/*"),
            (artifacts, "exports/*"), (artifacts, "bundles/*")])
        acknowledge(self, "AwsSolutions-IAM5", "X-Ray PutTraceSegments, CloudWatch GetMetricData/PutMetricData "
                    "(namespace-conditioned) and ECR GetAuthorizationToken have no resource-level permissions",
                    "Resource::*")
        acknowledge(self, "AwsSolutions-IAM5", "a state machine may invoke any version/alias of its own functions "
                    "(function ARN + ':*'), nothing else",
                    *(f"Resource::{arn_token(fn)}:*" for fn in self.functions.values()))
        acknowledge(self, "AwsSolutions-IAM5", "training and processing jobs, IoT jobs and model packages are limited "
                    "to the edgecv-* names this pipeline creates; rollout cancel flags to the edgecv/rollouts/ "
                    "parameters; DescribeJobExecution is authorized on the thing, any device of the fleet may be "
                    "in a ring",
                    *(arn_finding(self, svc, res) for svc, res in (
                        ("sagemaker", "training-job/edgecv-*"), ("sagemaker", "processing-job/edgecv-*"),
                        ("sagemaker", "model-package/edgecv-*"),
                        ("iot", "job/edgecv-*"), ("ssm", "parameter/edgecv/rollouts/*"), ("iot", "thing/*"))))
        acknowledge(self, "AwsSolutions-L1", "pinned to Python 3.11, the one runtime the whole project (edge, "
                    "Triton python backend stub, training) is built and tested on")

    def _manifest_feed(self, lake: DataLake, feed: lambda_.Function) -> None:
        """The TMS drops truck manifests in landing `manifests/`; S3 notifies the feed, which validates each into
        curated (or parks it). The writer policy is what the TMS integration's principal gets: put, nothing else."""
        lake.landing.grant_read(feed.role, "manifests/*")
        lake.landing.grant_delete(feed.role, "manifests/*")
        lake.landing.grant_put(feed.role, "parked/manifests/*")
        lake.landing.grant_read(feed.role, "parked/manifests/*")  # CopyObject reads the source under its own key
        lake.curated.grant_put(feed.role, "manifests/*")
        lake.landing.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(feed),
                                            s3.NotificationKeyFilter(prefix="manifests/", suffix=".json"))
        stack = cdk.Stack.of(self)
        for child in stack.node.children:  # CDK's own singleton that configures bucket notifications
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(child, "AwsSolutions-IAM4", "CDK's BucketNotificationsHandler custom resource "
                            "(configures the landing bucket's notification at deploy time) uses the basic "
                            "execution policy for its own logs",
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
                acknowledge(child, "AwsSolutions-IAM5", "CDK's BucketNotificationsHandler: "
                            "s3:PutBucketNotification has no resource-level scoping in CDK's singleton",
                            "Resource::*")
        self.tms_writer = iam.ManagedPolicy(
            self, "TmsManifestWriter", managed_policy_name="edgecv-tms-manifest-writer",
            description="for the transport management system's integration: put truck manifests "
                        "(edgecv-manifest/1) under manifests/<site>/ in the landing bucket, nothing else",
            statements=[iam.PolicyStatement(actions=["s3:PutObject"],
                                            resources=[lake.landing.arn_for_objects("manifests/*")]),
                        iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Encrypt"],
                                            resources=[lake.key.key_arn])])

    def _function(self, key: str, handler: str, code: lambda_.Code, layer: lambda_.ILayerVersion,
                  env: dict[str, str]) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"Logs-{key}", retention=LOG_RETENTION,
                                  removal_policy=cdk.RemovalPolicy.DESTROY)
        role = iam.Role(self, f"Role-{key}", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"edgecv {key} Lambda")
        log_group.grant_write(role)
        return lambda_.Function(
            self, f"Fn-{key}", function_name=f"edgecv-{key}", runtime=lambda_.Runtime.PYTHON_3_11,
            handler=handler, code=code, layers=[layer], role=role, log_group=log_group,
            timeout=cdk.Duration.minutes(5 if key in HEAVY_FUNCTIONS else 1),
            memory_size=1024 if key in HEAVY_FUNCTIONS else 256,
            tracing=lambda_.Tracing.ACTIVE, environment={**env, "POWERTOOLS_SERVICE_NAME": f"edgecv-{key}"})

    def _state_machine(self, construct_id: str, name: str, definition: dict) -> sfn.StateMachine:
        used = placeholders(definition)
        arns = {p: self.functions[HANDLERS[p][0]].function_arn for p in used}
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=LOG_RETENTION,
                                  removal_policy=cdk.RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self, construct_id, state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(definition)),
            definition_substitutions=arns, tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True))
        for key in sorted({HANDLERS[p][0] for p in used}):
            self.functions[key].grant_invoke(machine)
        return machine
