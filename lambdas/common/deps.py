"""What a handler works with: settings, AWS clients and the injected seams. Built once per process.

In AWS the defaults are built from the environment; the local cloud and the tests call `install()`
with their own (moto clients, emulators, fakes) before invoking handlers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from lambdas.common.errors import CloudError
from lambdas.common.interfaces import JobExecutions, PersonCheck, ProcessingBackend, TrainingBackend
from lambdas.common.settings import Settings


class NotConfiguredError(CloudError):
    """A step needs a seam that this deployment did not provide."""


@dataclass
class Deps:
    settings: Settings
    client: Callable[[str], Any] = field(default=boto3.client)
    person_check: PersonCheck | None = None
    training: TrainingBackend | None = None
    processing: ProcessingBackend | None = None
    executions: JobExecutions | None = None
    clock: Callable[[], float] = time.time
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def aws(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.client(service)
        return self._clients[service]

    def need(self, name: str) -> Any:
        value = getattr(self, name)
        if value is None:
            raise NotConfiguredError(f"no {name} is configured for this deployment")
        return value


_lock = threading.Lock()
_current: Deps | None = None


def install(deps: Deps | None) -> None:
    global _current
    with _lock:
        _current = deps


def current() -> Deps:
    """The installed deps, or AWS defaults from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = aws_defaults()
        return _current


def aws_defaults() -> Deps:
    from lambdas.common.processing import SageMakerProcessing
    from lambdas.deidentify.blur_check import BlurCheck
    from lambdas.rollout.iot_executions import IotJobExecutions
    from lambdas.training.sagemaker import SageMakerTraining

    settings = Settings.from_env()
    deps = Deps(settings=settings, person_check=BlurCheck())
    deps.training = SageMakerTraining(deps.aws("sagemaker"), settings)
    deps.processing = SageMakerProcessing(deps.aws("sagemaker"), settings)
    deps.executions = IotJobExecutions(deps.aws("iot"))
    return deps
