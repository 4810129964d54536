"""LocalCloud: the cloud plane on one machine, on moto's server, with the same definitions as the CDK app.

    with LocalCloud(workdir) as cloud:
        cloud.install(executions=...)
        result = cloud.run("training", "run-1", {...})

What it sets up: a `ThreadedMotoServer` on 127.0.0.1 (free port) with Step Functions execution on
(`/moto-api/config`, `MOTO_PORT` for its interpreter); the buckets, the signing key (ECC_NIST_P256),
model package groups, ring thing groups and the incident bus (with an SQS queue subscribed, to read the
incidents back); one moto Lambda function per handler, run in-process by `lambda_hook`; both state
machines from `cdk.definitions` with those functions' ARNs substituted.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from cdk.definitions import render, rollout_definition, training_definition
from cdk.definitions.functions import HANDLERS, functions
from lambdas.common import deps as deps_module
from lambdas.common.deps import Deps
from lambdas.common.interfaces import JobExecutions, PersonCheck
from lambdas.common.registry import package_group_name
from lambdas.common.settings import Settings
from lambdas.deidentify.blur_check import BlurCheck
from lambdas.localcloud import lambda_hook
from lambdas.localcloud.processing_emulator import LocalProcessingEmulator
from lambdas.localcloud.training_emulator import LocalTrainingEmulator

REGION = "us-east-1"
ACCOUNT = "123456789012"
RINGS = ("canary", "ring10", "ring50", "ring100")
MODEL_LINES = ("detector", "ocr", "damage_classifier")
_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "edgecv-local", "POWERTOOLS_METRICS_NAMESPACE": "edgecv/local",
        "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_DEV": "false"}


class LocalCloudError(RuntimeError):
    """The local cloud could not start, or an execution did not finish in time."""


@dataclass(frozen=True)
class ExecutionResult:
    status: str  # SUCCEEDED / FAILED / ABORTED / TIMED_OUT
    output: dict | None
    error: str | None
    cause: str | None
    states: list[str]  # entered states, in order
    seconds: float


def ring_group(ring: str) -> str:
    return f"edgecv-ring-{ring}"


class LocalCloud:
    def __init__(self, workdir: Path, rings: tuple[str, ...] = RINGS) -> None:
        self.workdir = Path(workdir)
        self.rings = [ring_group(r) for r in rings]
        self._server: ThreadedMotoServer | None = None
        self._saved_env: dict[str, str | None] = {}
        self.endpoint = ""
        self.settings: Settings | None = None
        self.machines: dict[str, str] = {}
        self.training: LocalTrainingEmulator | None = None
        self.processing: LocalProcessingEmulator | None = None
        self.incident_queue = ""

    # ---- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="local", aws_secret_access_key="local")

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._set_env({**_ENV, "MOTO_PORT": str(port)})
        # moto's backends are per process, not per server: start from a clean slate
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        reply = requests.post(f"{self.endpoint}/moto-api/config",
                              json={"stepfunctions": {"execute_state_machine": True}}, timeout=10)
        if reply.status_code >= 300:
            raise LocalCloudError(f"moto refused the Step Functions config: {reply.status_code}")
        lambda_hook.install()
        self._create_resources()
        self.install()  # event-driven functions (the manifest feed) run from the start; callers may re-install

    def stop(self) -> None:
        lambda_hook.uninstall()
        deps_module.install(None)
        for emulator in (self.training, self.processing):
            if emulator is not None:
                emulator.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    # ---- resources (what the CDK stack declares, created through the APIs) ------------------------
    def _create_resources(self) -> None:
        s3, kms, sm, iot = self.client("s3"), self.client("kms"), self.client("sagemaker"), self.client("iot")
        buckets = {"landing_bucket": "edgecv-landing", "curated_bucket": "edgecv-curated",
                   "artifacts_bucket": "edgecv-artifacts"}
        for name in buckets.values():
            s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=name == "edgecv-artifacts")
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY",
                             Description="edgecv bundle signing (local)")["KeyMetadata"]["KeyId"]
        for line in MODEL_LINES:
            sm.create_model_package_group(ModelPackageGroupName=package_group_name(line))
        for group in self.rings:
            iot.create_thing_group(thingGroupName=group)
        events, sqs = self.client("events"), self.client("sqs")
        events.create_event_bus(Name="edgecv-incidents")
        self.incident_queue = sqs.create_queue(QueueName="edgecv-incidents")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.incident_queue,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="edgecv-incidents-to-queue", EventBusName="edgecv-incidents",
                        EventPattern=json.dumps({"source": ["edgecv.rollout"]}))
        events.put_targets(Rule="edgecv-incidents-to-queue", EventBusName="edgecv-incidents",
                           Targets=[{"Id": "queue", "Arn": queue_arn}])
        self.settings = Settings(**buckets, signing_key_id=key, event_bus="edgecv-incidents",
                                 ring_groups=self.rings)
        role = self.client("iam").create_role(
            RoleName="edgecv-local", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        lam = self.client("lambda")
        arns = {}
        for key_name, handler_path in functions().items():
            name = f"edgecv-{key_name}"
            arns[key_name] = lam.create_function(
                FunctionName=name, Runtime="python3.11", Role=role, Handler=handler_path,
                Code={"ZipFile": _placeholder_zip()}, Timeout=300)["FunctionArn"]
            lambda_hook.register(name, _resolve(handler_path))
        # the TMS feed: a manifest dropped in landing under manifests/ invokes the feed function (moto delivers
        # S3 notifications to Lambda synchronously, through the hook above)
        s3.put_bucket_notification_configuration(Bucket=buckets["landing_bucket"], NotificationConfiguration={
            "LambdaFunctionConfigurations": [{
                "LambdaFunctionArn": arns["manifest-feed"], "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "manifests/"},
                                                   {"Name": "suffix", "Value": ".json"}]}}}]})
        sfn = self.client("stepfunctions")
        for label, definition in (("training", training_definition()), ("rollout", rollout_definition())):
            body = render(definition, {p: arns[k] for p, (k, _) in HANDLERS.items()})
            self.machines[label] = sfn.create_state_machine(
                name=f"edgecv-{label}", definition=body,
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/edgecv-local")["stateMachineArn"]

    # ---- seams -------------------------------------------------------------------------------------
    def install(self, *, executions: JobExecutions | None = None, person_check: PersonCheck | None = None) -> Deps:
        """Install the deps the in-process handlers use (moto clients, the emulators, and the seams given)."""
        assert self.settings is not None
        self.training = self.training or LocalTrainingEmulator(self.client("s3"), self.workdir / "training")
        self.processing = self.processing or LocalProcessingEmulator(self.client("s3"), self.workdir / "processing")
        deps = Deps(settings=self.settings, client=self.client,
                    person_check=person_check or BlurCheck(), training=self.training, processing=self.processing,
                    executions=executions)
        deps_module.install(deps)
        return deps

    # ---- executions --------------------------------------------------------------------------------
    def start_execution(self, machine: str, name: str, payload: dict) -> str:
        return self.client("stepfunctions").start_execution(
            stateMachineArn=self.machines[machine], name=name, input=json.dumps(payload))["executionArn"]

    def wait(self, execution_arn: str, timeout_s: float = 300, poll_s: float = 0.25) -> ExecutionResult:
        sfn = self.client("stepfunctions")
        start = time.monotonic()
        while True:
            desc = sfn.describe_execution(executionArn=execution_arn)
            if desc["status"] != "RUNNING":
                break
            if time.monotonic() - start > timeout_s:
                raise LocalCloudError(f"{execution_arn} still running after {timeout_s:.0f} s")
            time.sleep(poll_s)
        seconds = time.monotonic() - start
        history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        states = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        output = json.loads(desc["output"]) if desc.get("output") else None
        error = desc.get("error")
        cause = desc.get("cause")
        if error is None:
            failed = [e for e in history if "executionFailedEventDetails" in e]
            if failed:
                error = failed[-1]["executionFailedEventDetails"].get("error")
                cause = failed[-1]["executionFailedEventDetails"].get("cause")
        return ExecutionResult(status=desc["status"], output=output, error=error, cause=cause, states=states,
                               seconds=seconds)

    def run(self, machine: str, name: str, payload: dict, timeout_s: float = 300) -> ExecutionResult:
        return self.wait(self.start_execution(machine, name, payload), timeout_s)

    def incidents(self) -> list[dict]:
        sqs = self.client("sqs")
        found = []
        while True:
            reply = sqs.receive_message(QueueUrl=self.incident_queue, MaxNumberOfMessages=10)
            messages = reply.get("Messages", [])
            if not messages:
                return found
            for m in messages:
                found.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.incident_queue, ReceiptHandle=m["ReceiptHandle"])


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "edgecv local cloud: the handler runs in-process (lambdas.localcloud.lambda_hook)")
    return buf.getvalue()


def _resolve(handler_path: str) -> Any:
    import importlib

    module, _, attr = handler_path.rpartition(".")
    return getattr(importlib.import_module(module), attr)
