"""Run real Lambda handlers in-process when moto invokes a function (moto has no Docker-free Python runtime).

PRIVATE API, pinned to moto 5.2.5 (pyproject pins it): `moto.awslambda.models.LambdaFunction._invoke_lambda(
self, event) -> (payload: str, errored: bool, logs: str)` is what `LambdaFunction.invoke` calls to run the
function (normally in Docker). We replace that method while the hook is installed: a function registered
here runs as a Python callable `handler(event, context)`; any other function falls through to moto's own
behaviour. A raised exception becomes the payload `{"errorType", "errorMessage"}` with errored=True,
exactly what the Lambda runtime returns, so Step Functions sees the exception class as the error name
(Retry/Catch work as in AWS). ThreadedMotoServer runs in this process, so the patch applies to the server.
If a moto upgrade renames the method, `install()` raises instead of silently running nothing.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable
from typing import Any

from moto.awslambda import models as lambda_models

from lambdas.common.context import LocalContext

Handler = Callable[[Any, Any], Any]
_METHOD = "_invoke_lambda"
_lock = threading.Lock()
_handlers: dict[str, Handler] = {}
_original: Callable[..., tuple[str, bool, str]] | None = None


class HookError(RuntimeError):
    """moto's private Lambda API is not what this hook was written against."""


def _invoke(self: Any, event: Any = None) -> tuple[str, bool, str]:
    with _lock:
        handler = _handlers.get(self.function_name)
    if handler is None:
        assert _original is not None
        return _original(self, event)
    context = LocalContext(function_name=self.function_name, invoked_function_arn=self.function_arn,
                           memory_limit_in_mb=int(self.memory_size or 128))
    try:
        result = handler(event if event is not None else {}, context)
        return json.dumps(result), False, ""
    except Exception as exc:  # the Lambda runtime's contract: any exception becomes a function error
        payload = {"errorType": type(exc).__name__, "errorMessage": str(exc).splitlines()[0] if str(exc) else "",
                   "stackTrace": traceback.format_exception(exc)[-3:]}
        return json.dumps(payload), True, traceback.format_exc()


def install() -> None:
    global _original
    with _lock:
        if _original is not None:
            return
        current = getattr(lambda_models.LambdaFunction, _METHOD, None)
        if current is None:
            raise HookError(f"moto.awslambda.models.LambdaFunction.{_METHOD} is gone; re-pin moto or update the hook")
        _original = current
        setattr(lambda_models.LambdaFunction, _METHOD, _invoke)


def uninstall() -> None:
    global _original
    with _lock:
        if _original is not None:
            setattr(lambda_models.LambdaFunction, _METHOD, _original)
            _original = None
        _handlers.clear()


def register(function_name: str, handler: Handler) -> None:
    with _lock:
        _handlers[function_name] = handler
