"""With a concrete account/region (what `cdk synth` with credentials gives), cdk-nag still passes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
pytest.importorskip("aws_cdk")

from cdk.app import build_app


def test_synth_with_a_concrete_environment_passes_cdk_nag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "111122223333")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    app, stack = build_app({"edgecv:lambdaDependencies": "skip"}, outdir=str(tmp_path))
    app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    conclusions = [p["conclusion"] for p in report["pluginReports"]]
    assert conclusions and set(conclusions) == {"success"}
    assert all(p["violations"] == [] for p in report["pluginReports"])
    template = json.loads((tmp_path / f"{stack.stack_name}.template.json").read_text())
    policies = json.dumps(template)
    assert ":iot:eu-west-1:111122223333:job/edgecv-*" in policies
