"""The handler wrapper in a long-lived process with metrics disabled (the local cloud): no EMF line ever prints."""

from __future__ import annotations

import warnings

import pytest

from lambdas.common.context import LocalContext
from lambdas.common.powertools import lambda_handler


def test_many_invocations_with_metrics_disabled_print_nothing(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler = lambda_handler(lambda event, context: {"ok": event["n"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "No application metrics to publish" would be raised here
        results = [handler({"n": n}, LocalContext()) for n in range(150)]  # past powertools' 100-value auto-flush
    assert results[-1] == {"ok": 149}
    assert "_aws" not in capsys.readouterr().out
