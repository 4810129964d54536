"""The Triton supervisor: start tritonserver on loopback in explicit model-control mode, load the active versions,
watch it, restart it if it dies (reloading the last good versions), and report its health and `nv_*` metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from google.protobuf import json_format, text_format
from pydantic import BaseModel, ConfigDict
from tritonclient.grpc import InferenceServerClient, InferenceServerException, model_config_pb2

from contracts.errors import EdgecvError
from edge_appliance.ota.atomic import write_atomic
from edge_appliance.ports import LOOPBACK, free_ports
from edge_appliance.triton_install import TritonInstallation, locate
from model_repository.configs import CANDIDATE_PIPELINE, PIPELINE

log = logging.getLogger(__name__)


class TritonStartError(EdgecvError):
    """tritonserver did not become ready."""


class ModelLoadError(EdgecvError):
    """Triton refused to load a model (bad config or files)."""


class ServerState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"


_TRITON_ERROR = re.compile(r"^E\d{4} |error", re.IGNORECASE)


def last_error_line(log_path: Path, tail_bytes: int = 65536) -> str:
    """The last error Triton logged (its error lines start `E<mmdd>`), so that a failed start says why."""
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - tail_bytes))
            lines = log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "no log"
    errors = [line.strip() for line in lines if _TRITON_ERROR.search(line)]
    return (errors or [line.strip() for line in lines if line.strip()] or ["empty log"])[-1][:300]


def config_json(pbtxt: str) -> str:
    """A config.pbtxt as the JSON that Triton's load API takes as a config override (validated on the way)."""
    message = text_format.Parse(pbtxt, model_config_pb2.ModelConfig())
    return json_format.MessageToJson(message, preserving_proto_field_name=True)


@dataclass(frozen=True)
class Ports:
    grpc: int
    http: int
    metrics: int

    @classmethod
    def pick(cls) -> Ports:
        grpc, http, metrics = free_ports(3)
        return cls(grpc, http, metrics)


class TritonProcess:
    """One tritonserver process bound to 127.0.0.1."""

    def __init__(self, repository: Path, log_path: Path, ports: Ports | None = None,
                 installation: TritonInstallation | None = None) -> None:
        self.repository = Path(repository)
        self.log_path = Path(log_path)
        self.ports = ports or Ports.pick()
        self.installation = installation or locate()
        self.process: subprocess.Popen | None = None

    @property
    def grpc_url(self) -> str:
        return f"{LOOPBACK}:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.metrics}/metrics"

    def command(self) -> list[str]:
        return [
            str(self.installation.binary),
            f"--model-repository={self.repository}",
            "--model-control-mode=explicit",
            f"--backend-directory={self.installation.backends}",
            f"--http-address={LOOPBACK}", f"--http-port={self.ports.http}",
            f"--grpc-address={LOOPBACK}", f"--grpc-port={self.ports.grpc}",
            f"--metrics-address={LOOPBACK}", f"--metrics-port={self.ports.metrics}",
            "--allow-cpu-metrics=true", "--allow-gpu-metrics=false",
            "--exit-on-error=false", "--log-verbose=0",
        ]

    def start(self, timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logfile = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(self.command(), stdout=logfile, stderr=subprocess.STDOUT,
                                            env=self.installation.environment(), start_new_session=True)
        finally:
            logfile.close()
        deadline = time.monotonic() + timeout
        client = InferenceServerClient(self.grpc_url)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise TritonStartError(f"tritonserver exited with code {self.process.returncode}: "
                                           f"{last_error_line(self.log_path)} (log: {self.log_path})")
                try:
                    if client.is_server_live():
                        return
                except InferenceServerException:
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise TritonStartError(f"tritonserver not live after {timeout:.0f} s (log: {self.log_path})")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Hard kill (fault injection in tests)."""
        if self.process is not None and self.alive():
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server and anything left of its process group (a killed server orphans its Python stubs)."""
        if self.process is None:
            return
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the server leads its own session (start_new_session)
        self.process = None


class ServerHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: ServerState
    grpc_url: str
    restarts: int
    ready_models: dict[str, list[str]]
    last_error: str | None = None
    cold_start_seconds: float | None = None


@dataclass
class DesiredModels:
    """What should be loaded, in load order, as config.pbtxt texts (None: the repository's own config)."""

    configs: dict[str, str | None] = field(default_factory=dict)

    def set(self, name: str, pbtxt: str | None) -> None:
        self.configs.pop(name, None)
        self.configs[name] = pbtxt


class TritonSupervisor:
    """Keeps one tritonserver serving the desired models; restarts it when it dies."""

    def __init__(self, process: TritonProcess, desired: DesiredModels | Mapping[str, str | None],
                 poll_seconds: float = 0.5, on_restart: Callable[[int], None] | None = None,
                 ensembles: tuple[str, ...] = (PIPELINE, CANDIDATE_PIPELINE)) -> None:
        self.process = process
        self.ensembles = ensembles
        self.desired = desired if isinstance(desired, DesiredModels) else DesiredModels(dict(desired))
        self.poll_seconds = poll_seconds
        self.on_restart = on_restart
        self.state = ServerState.STOPPED
        self.restarts = 0
        self.last_error: str | None = None
        self.cold_start_seconds: float | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    @property
    def grpc_url(self) -> str:
        return self.process.grpc_url

    def client(self) -> InferenceServerClient:
        return InferenceServerClient(self.grpc_url)

    # -------------------------------------------------------------------------------------- lifecycle
    def start(self, watchdog: bool = True) -> None:
        started = time.perf_counter()
        with self._lock:
            self.state = ServerState.STARTING
            self.process.start()
            self._load_all()
            self.state = ServerState.READY
        self.cold_start_seconds = time.perf_counter() - started
        if watchdog:
            self._stop.clear()
            self._watchdog = threading.Thread(target=self._watch, name="triton-watchdog", daemon=True)
            self._watchdog.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        with self._lock:
            self.process.stop()
            self.state = ServerState.STOPPED

    def __enter__(self) -> TritonSupervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- model control
    def load(self, name: str, pbtxt: str | None = None) -> None:
        """Load (or reload with a new config) one model; on success it joins the desired state."""
        with self._lock:
            self._load(name, pbtxt)
            self.desired.set(name, pbtxt)

    def _load(self, name: str, pbtxt: str | None) -> None:
        """Load `name`; a config override is also written to the repository, because loading an ensemble makes
        Triton re-read its composing models' config.pbtxt from disk, which would undo an override kept in memory."""
        if pbtxt is not None:
            write_atomic(self.process.repository / name / "config.pbtxt", pbtxt.encode())
        client = self.client()
        try:
            if pbtxt is None:
                client.load_model(name)
            else:
                client.load_model(name, config=config_json(pbtxt))
        except InferenceServerException as exc:
            raise ModelLoadError(f"Triton refused to load {name}: {exc.message()}") from exc
        finally:
            client.close()

    def _load_all(self) -> None:
        """Models in parallel (each Python-backend model takes seconds to start), then the ensembles."""
        configs = list(self.desired.configs.items())
        models = [(n, c) for n, c in configs if n not in self.ensembles]
        with ThreadPoolExecutor(max_workers=max(1, min(4, len(models)))) as pool:
            for future in [pool.submit(self._load, n, c) for n, c in models]:
                future.result()
        for name, pbtxt in configs:
            if name in self.ensembles:
                self._load(name, pbtxt)

    def ready_models(self) -> dict[str, list[str]]:
        return ready_models(self.client())

    # -------------------------------------------------------------------------------------- watchdog
    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            if self.process.alive():
                continue
            with self._lock:
                if self._stop.is_set():
                    return
                self.state = ServerState.RESTARTING
                code = self.process.process.returncode if self.process.process else None
                log.warning("tritonserver died (exit code %s); restarting and reloading the last good versions",
                            code)
                try:
                    self.process.stop()
                    self.process.start()
                    self._load_all()
                except EdgecvError as exc:
                    self.last_error = str(exc)
                    self.state = ServerState.FAILED
                    log.error("restart failed: %s", exc)
                    continue
                self.restarts += 1
                self.state = ServerState.READY
            if self.on_restart:
                self.on_restart(self.restarts)

    def health(self) -> ServerHealth:
        return ServerHealth(state=self.state, grpc_url=self.grpc_url, restarts=self.restarts,
                            ready_models=self.ready_models() if self.state is ServerState.READY else {},
                            last_error=self.last_error, cold_start_seconds=self.cold_start_seconds)

    def metrics(self, prefix: str = "nv_") -> dict[str, float]:
        """Triton's Prometheus metrics whose name starts with `prefix`, summed over label sets."""
        try:
            with urllib.request.urlopen(self.process.metrics_url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return {}
        return parse_prometheus(text, prefix)


def ready_models(client: InferenceServerClient) -> dict[str, list[str]]:
    """Model name -> versions Triton reports READY (empty when the server cannot answer); closes `client`."""
    try:
        index = client.get_model_repository_index(as_json=True).get("models", [])
    except InferenceServerException:
        return {}
    finally:
        client.close()
    ready: dict[str, list[str]] = {}
    for entry in index:
        if entry.get("state") == "READY":
            ready.setdefault(entry["name"], []).append(entry.get("version", ""))
    return ready


def parse_prometheus(text: str, prefix: str = "nv_") -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or not line.startswith(prefix):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        try:
            totals[name] = totals.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return totals
