"""CDK app entry point (`cdk.json` runs `.venv/bin/python -m cdk.app`)."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk.config import CloudConfig, LambdaDependencies
from cdk.stacks.cloud import EdgecvCloudStack


def build_app(context: dict | None = None, outdir: str | None = None) -> tuple[cdk.App, EdgecvCloudStack]:
    app = cdk.App(context=context or {}, outdir=outdir)
    config = CloudConfig.from_context(app.node.try_get_context)
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    stack = EdgecvCloudStack(app, config.stack_name, config, env=env)
    if config.lambda_dependencies is LambdaDependencies.SKIP:
        cdk.Annotations.of(stack).add_warning_v2(
            "edgecv:lambda-deps-skipped", "offline synth: the Lambda asset carries no third-party packages; "
            "deploy with -c edgecv:lambdaDependencies=pip")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
