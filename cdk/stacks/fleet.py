"""Fleet: thing groups per ring and per site group, a least-privilege IoT policy, a role alias for
short-lived credentials, and a Greengrass v2 deployment per site group.

Device policy: a device connects only as its own thing name, and publishes/subscribes only on its own
jobs, shadow and telemetry topics (IoT policy variables). Credentials from the role alias let a device
read released bundles and write samples under its own site prefix only.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_greengrassv2 as greengrass
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.config import CloudConfig
from cdk.nag import acknowledge_prefix_grants

THING = "${iot:Connection.Thing.ThingName}"
COMPONENTS_DIR = Path(__file__).resolve().parents[2] / "greengrass_components"
# AWS-provided components every site needs (IoT credentials for the components).
PUBLIC_COMPONENTS = {"aws.greengrass.TokenExchangeService": "2.0.3"}


def ring_group_name(ring: str) -> str:
    return f"edgecv-ring-{ring}"


def _recipes() -> dict[str, dict]:
    """Component recipes (JSON) that the end-to-end issue adds under greengrass_components/."""
    found = {}
    for path in sorted(COMPONENTS_DIR.glob("*/recipe.json")) if COMPONENTS_DIR.is_dir() else []:
        recipe = json.loads(path.read_text())
        found[recipe["ComponentName"]] = recipe
    return found


def device_policy_document(region: str, account: str, role_alias_arn: str) -> dict:
    arn = f"arn:aws:iot:{region}:{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{arn}:client/{THING}",
             "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
                f"{arn}:topic/$aws/things/{THING}/jobs/*", f"{arn}:topic/$aws/things/{THING}/shadow/*",
                f"{arn}:topic/edgecv/telemetry/{THING}"]},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
                f"{arn}:topicfilter/$aws/things/{THING}/jobs/*", f"{arn}:topicfilter/$aws/things/{THING}/shadow/*"]},
            {"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": role_alias_arn},
        ],
    }


class Fleet(Construct):
    def __init__(self, scope: Construct, construct_id: str, config: CloudConfig, artifacts: s3.IBucket,
                 landing: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.ring_groups = {ring: iot.CfnThingGroup(self, f"Ring{i}", thing_group_name=ring_group_name(ring))
                            for i, ring in enumerate(config.rings)}
        self.site_groups = {name: iot.CfnThingGroup(self, f"Site{i}", thing_group_name=name)
                            for i, name in enumerate(config.site_groups)}
        self.device_role = iam.Role(
            self, "DeviceRole", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"),
            max_session_duration=cdk.Duration.hours(1),
            description="short-lived credentials for edgecv devices (IoT role alias)")
        thing_var = "${credentials-iot:ThingName}"
        artifacts.grant_read(self.device_role, "bundles/*")
        landing.grant_put(self.device_role, f"samples/{thing_var}/*")
        acknowledge_prefix_grants(self.device_role, [(artifacts, "bundles/*"), (landing, f"samples/{thing_var}/*")])
        self.role_alias = iot.CfnRoleAlias(self, "DeviceRoleAlias", role_arn=self.device_role.role_arn,
                                           role_alias="edgecv-device", credential_duration_seconds=3600)
        self.policy = iot.CfnPolicy(self, "DevicePolicy", policy_name="edgecv-device",
                                    policy_document=device_policy_document(stack.region, stack.account,
                                                                           self.role_alias.attr_role_alias_arn))
        components = dict(PUBLIC_COMPONENTS)
        for name, recipe in _recipes().items():
            greengrass.CfnComponentVersion(self, f"Component{name.replace('.', '')}",
                                           inline_recipe=json.dumps(recipe))
            components[name] = recipe["ComponentVersion"]
        for name, group in self.site_groups.items():
            greengrass.CfnDeployment(
                self, f"Deployment{name.replace('-', '').title()}", target_arn=group.attr_arn,
                deployment_name=f"edgecv-{name}",
                components={c: greengrass.CfnDeployment.ComponentDeploymentSpecificationProperty(
                    component_version=v) for c, v in components.items()})
