"""Security invariants of the synthesized cloud stack (one synth for the module), and cdk-nag's verdict."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
pytest.importorskip("aws_cdk")
from aws_cdk.assertions import Match, Template

from cdk.app import build_app
from cdk.definitions import placeholders, rollout_definition, training_definition


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Template, dict, Path]]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app({"edgecv:lambdaDependencies": "skip"}, outdir=str(outdir))
    app.synth()  # runs cdk-nag: unacknowledged findings raise here
    template = Template.from_stack(stack)
    yield template, template.to_json(), outdir


def resources(template_json: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == kind}


def statements(template_json: dict) -> list[tuple[str, dict]]:
    found = []
    for name, res in resources(template_json, "AWS::IAM::Policy").items():
        for st in res["Properties"]["PolicyDocument"]["Statement"]:
            found.append((name, st))
    return found


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def test_cdk_nag_passes_with_every_acknowledgement_reasoned(synth: tuple[Template, dict, Path]) -> None:
    report = json.loads((synth[2] / "validation-report.json").read_text())
    plugin = next(p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions")
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    for suppressed in plugin.get("suppressedViolations", []):
        assert len(suppressed["reason"]) > 40, suppressed["ruleName"]


def test_every_bucket_encrypted_private_versioned(synth: tuple[Template, dict, Path]) -> None:
    buckets = resources(synth[1], "AWS::S3::Bucket")
    assert len(buckets) == 4
    for res in buckets.values():
        props = res["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    algorithms = [r["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                  ["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in buckets.values()]
    kms_buckets = [a for a in algorithms if a == "aws:kms"]
    assert len(kms_buckets) == 3  # landing, curated, artifacts; the access-log bucket must use SSE-S3


def test_every_bucket_policy_denies_plain_http(synth: tuple[Template, dict, Path]) -> None:
    policies = resources(synth[1], "AWS::S3::BucketPolicy")
    assert len(policies) == len(resources(synth[1], "AWS::S3::Bucket"))
    for res in policies.values():
        denies = [s for s in res["Properties"]["PolicyDocument"]["Statement"]
                  if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
                  == "false"]
        assert denies and denies[0]["Action"] == "s3:*"


def test_landing_moves_to_infrequent_access(synth: tuple[Template, dict, Path]) -> None:
    synth[0].has_resource_properties("AWS::S3::Bucket", {"LifecycleConfiguration": {"Rules": Match.array_with([
        Match.object_like({"Transitions": [Match.object_like({"StorageClass": "STANDARD_IA"})]})])}})


def test_artifacts_bucket_has_object_lock(synth: tuple[Template, dict, Path]) -> None:
    synth[0].has_resource_properties("AWS::S3::Bucket", {
        "ObjectLockEnabled": True,
        "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": Match.object_like(
            {"Mode": "GOVERNANCE"})}}})


def test_signing_key_is_p256_sign_verify(synth: tuple[Template, dict, Path]) -> None:
    synth[0].has_resource_properties("AWS::KMS::Key", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})


def test_only_the_signing_lambda_may_sign(synth: tuple[Template, dict, Path]) -> None:
    tj = synth[1]
    roles = {name for name, st in statements(tj) if "kms:Sign" in as_list(st["Action"]) and st["Effect"] == "Allow"}
    policies = resources(tj, "AWS::IAM::Policy")
    attached = {role["Ref"] for name in roles for role in policies[name]["Properties"]["Roles"]}
    sign_fn = next(f for f in resources(tj, "AWS::Lambda::Function").values()
                   if f["Properties"]["FunctionName"] == "edgecv-sign")
    assert attached == {sign_fn["Properties"]["Role"]["Fn::GetAtt"][0]}
    key = next(k for k in resources(tj, "AWS::KMS::Key").values() if k["Properties"].get("KeySpec") == "ECC_NIST_P256")
    deny = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Action"] == "kms:Sign" and deny[0]["Principal"] == {"AWS": "*"}
    assert deny[0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == {
        "Fn::GetAtt": [sign_fn["Properties"]["Role"]["Fn::GetAtt"][0], "Arn"]}
    allows_sign = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
                   if s["Effect"] == "Allow" and "kms:Sign" in as_list(s["Action"])]
    assert allows_sign == []  # Sign comes only from the role's policy; root's kms:* is overridden by the Deny


def allowed(tj: dict, role: str) -> list[dict]:
    policies = resources(tj, "AWS::IAM::Policy")
    return [st for name, st in statements(tj) if st["Effect"] == "Allow"
            and {"Ref": role} in policies[name]["Properties"]["Roles"]]


def function_role(tj: dict, name: str) -> str:
    fn = next(f for f in resources(tj, "AWS::Lambda::Function").values() if f["Properties"]["FunctionName"] == name)
    return fn["Properties"]["Role"]["Fn::GetAtt"][0]


def test_the_manifest_feed_is_notified_and_the_tms_may_only_put_manifests(synth: tuple[Template, dict, Path]) -> None:
    template, tj = synth[0], synth[1]
    template.has_resource_properties("Custom::S3BucketNotifications", {"NotificationConfiguration": {
        "LambdaFunctionConfigurations": [Match.object_like({
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": Match.array_with([{"Name": "suffix", "Value": ".json"},
                                                                {"Name": "prefix", "Value": "manifests/"}])}}})]}})
    (writer,) = [p for p in resources(tj, "AWS::IAM::ManagedPolicy").values()
                 if p["Properties"].get("ManagedPolicyName") == "edgecv-tms-manifest-writer"]
    actions = {a for st in writer["Properties"]["PolicyDocument"]["Statement"] for a in as_list(st["Action"])}
    assert actions == {"s3:PutObject", "kms:GenerateDataKey", "kms:Encrypt"}
    assert "/manifests/*" in json.dumps(writer["Properties"]["PolicyDocument"])
    feed = allowed(tj, function_role(tj, "edgecv-manifest-feed"))
    written = json.dumps([st["Resource"] for st in feed if "s3:PutObject" in as_list(st["Action"])])
    assert "/manifests/*" in written and "/parked/manifests/*" in written and "/samples" not in written


def test_evaluation_and_labeling_run_as_processing_jobs_with_least_privilege(
        synth: tuple[Template, dict, Path]) -> None:
    tj = synth[1]
    start = allowed(tj, function_role(tj, "edgecv-start-evaluation"))
    actions = {a for st in start for a in as_list(st["Action"])}
    assert {"kms:GetPublicKey", "sagemaker:CreateProcessingJob", "iam:PassRole"} <= actions
    assert "kms:Sign" not in actions
    read = json.dumps([st["Resource"] for st in start if "s3:GetObject*" in as_list(st["Action"])])
    assert "/bundles/*" in read and "/training/*" in read and "/golden/*" in read
    for poller in ("edgecv-evaluation-gate", "edgecv-autolabel"):
        polls = {a for st in allowed(tj, function_role(tj, poller)) for a in as_list(st["Action"])}
        assert "sagemaker:DescribeProcessingJob" in polls and "sagemaker:CreateProcessingJob" not in polls
    starts = {a for st in allowed(tj, function_role(tj, "edgecv-start-autolabel")) for a in as_list(st["Action"])}
    assert {"sagemaker:CreateProcessingJob", "iam:PassRole"} <= starts
    role = next(k for k, r in resources(tj, "AWS::IAM::Role").items()
                if "ProcessingJobRole" in k and "sagemaker.amazonaws.com" in json.dumps(r))
    job = allowed(tj, role)
    written = json.dumps([st["Resource"] for st in job if "s3:PutObject" in as_list(st["Action"])])
    assert "/evaluations/*" in written and "/golden/*" not in written and "/bundles/*" not in written
    assert "/samples/*/label.json" in written and '/samples/*"' not in written  # labels only, never frames
    assert not any(a.startswith("kms:Sign") or a.startswith("sagemaker:") for st in job for a in as_list(st["Action"]))
    for collector in ("edgecv-start-autolabel", "edgecv-autolabel"):  # withholding a sample: its frame, nothing else
        policy = allowed(tj, function_role(tj, collector))
        deleted = json.dumps([st["Resource"] for st in policy if "s3:DeleteObject*" in as_list(st["Action"])])
        assert "/samples/*/frame.jpg" in deleted and '/samples/*"' not in deleted and "/datasets/" not in deleted


def test_no_policy_grants_kms_or_s3_star(synth: tuple[Template, dict, Path]) -> None:
    for name, st in statements(synth[1]):
        if st["Effect"] != "Allow":
            continue
        for action in as_list(st["Action"]):
            assert action not in ("*", "kms:*", "s3:*", "iot:*", "sagemaker:*"), (name, action)


def test_iot_device_policy_is_scoped_to_the_thing(synth: tuple[Template, dict, Path]) -> None:
    policy = next(iter(resources(synth[1], "AWS::IoT::Policy").values()))
    doc = json.dumps(policy["Properties"]["PolicyDocument"])
    for st in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert "*" not in as_list(st["Action"]) and not any(a.endswith(":*") for a in as_list(st["Action"]))
        for res in as_list(st["Resource"]):
            text = json.dumps(res)
            assert "${iot:Connection.Thing.ThingName}" in text or "RoleAlias" in text, text
    assert "iot:Connection.Thing.IsAttached" in doc
    synth[0].has_resource_properties("AWS::IoT::RoleAlias", {"CredentialDurationSeconds": 3600})


def test_rings_and_site_groups_exist(synth: tuple[Template, dict, Path]) -> None:
    names = {r["Properties"]["ThingGroupName"] for r in resources(synth[1], "AWS::IoT::ThingGroup").values()}
    assert {"edgecv-ring-canary", "edgecv-ring-ring10", "edgecv-ring-ring50", "edgecv-ring-ring100"} <= names
    assert len(resources(synth[1], "AWS::GreengrassV2::Deployment")) == 1


def test_state_machines_are_the_shared_definitions(synth: tuple[Template, dict, Path]) -> None:
    machines = resources(synth[1], "AWS::StepFunctions::StateMachine")
    by_name = {m["Properties"]["StateMachineName"]: m["Properties"] for m in machines.values()}
    for name, definition in (("edgecv-training", training_definition()), ("edgecv-rollout", rollout_definition())):
        props = by_name[name]
        assert json.loads(props["DefinitionString"]) == definition  # placeholders intact, filled by substitutions
        assert set(props["DefinitionSubstitutions"]) == placeholders(definition)
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"


def test_registry_group_per_model_line(synth: tuple[Template, dict, Path]) -> None:
    names = {r["Properties"]["ModelPackageGroupName"]
             for r in resources(synth[1], "AWS::SageMaker::ModelPackageGroup").values()}
    assert names == {"edgecv-detector", "edgecv-ocr", "edgecv-damage-classifier"}


def test_dashboard_and_health_alarms(synth: tuple[Template, dict, Path]) -> None:
    alarms = resources(synth[1], "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"].get("MetricName") for a in alarms.values()}
    metrics |= {m["MetricStat"]["Metric"]["MetricName"] for a in alarms.values()
                for m in a["Properties"].get("Metrics", []) if "MetricStat" in m}
    assert {"FrameLatencyMs", "DetectionConfidence", "DroppedFrames", "SmokeTestFailures", "Errors"} <= metrics
    feed_errors = [a for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"]
    assert len(feed_errors) == 1 and feed_errors[0]["Properties"]["Namespace"] == "AWS/Lambda"
    assert len(resources(synth[1], "AWS::CloudWatch::Dashboard")) == 1
    synth[0].has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_lambda_asset_carries_source_without_local_cloud(synth: tuple[Template, dict, Path]) -> None:
    assets = [p for p in synth[2].glob("asset.*") if p.is_dir()]
    assert len(assets) == 1  # one asset shared by every function
    asset = assets[0]
    assert (asset / "lambdas" / "sign" / "handler.py").is_file()
    assert (asset / "contracts" / "bundles" / "build.py").is_file()
    assert (asset / "edgecv" / "kms_signer.py").is_file()
    assert not (asset / "lambdas" / "localcloud").exists()
    functions = resources(synth[1], "AWS::Lambda::Function")
    ours = {k: f for k, f in functions.items() if str(f["Properties"].get("FunctionName", "")).startswith("edgecv-")}
    assert all(k.startswith("BucketNotificationsHandler") for k in set(functions) - set(ours))  # CDK's, inline code
    for fn in ours.values():
        module, _, _func = fn["Properties"]["Handler"].rpartition(".")
        assert (asset / (module.replace(".", "/") + ".py")).is_file(), module
        assert fn["Properties"]["TracingConfig"] == {"Mode": "Active"}
