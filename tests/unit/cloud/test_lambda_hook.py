"""The in-process Lambda hook: registered handlers run, exceptions become Lambda function errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

pytest.importorskip("moto")
from moto.awslambda import models as lambda_models

from lambdas.localcloud import lambda_hook


class BoomError(Exception):
    pass


def test_hook_runs_registered_handlers_and_restores_moto() -> None:
    original = lambda_models.LambdaFunction._invoke_lambda
    lambda_hook.install()
    try:
        lambda_hook.register("fn-ok", lambda event, ctx: {"got": event["x"], "name": ctx.function_name})
        lambda_hook.register("fn-bad", lambda event, ctx: (_ for _ in ()).throw(BoomError("bad input\nsecond line")))
        fake = SimpleNamespace(function_name="fn-ok", function_arn="arn:fn-ok", memory_size=128)
        payload, errored, _ = lambda_models.LambdaFunction._invoke_lambda(fake, {"x": 1})
        assert (json.loads(payload), errored) == ({"got": 1, "name": "fn-ok"}, False)
        fake.function_name = "fn-bad"
        payload, errored, logs = lambda_models.LambdaFunction._invoke_lambda(fake, {})
        error = json.loads(payload)
        assert errored and error["errorType"] == "BoomError" and error["errorMessage"] == "bad input"
        assert "BoomError" in logs
    finally:
        lambda_hook.uninstall()
    assert lambda_models.LambdaFunction._invoke_lambda is original


def test_hook_refuses_a_moto_without_the_private_method(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(lambda_models.LambdaFunction, "_invoke_lambda")
    with pytest.raises(lambda_hook.HookError, match="re-pin moto"):
        lambda_hook.install()
