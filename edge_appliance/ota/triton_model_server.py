"""The `ModelServer` the OTA agent drives on a real Triton (explicit model control, through the supervisor).

- `load_beside(model, [old, new])`: the model reloaded with a config override whose `version_policy` is
  `specific [old, new]` (rendered by `model_repository.configs.render_model`): the serving version never unloads.
- `smoke_test(candidate)`: `pallet_pipeline_candidate` pinned to the candidate versions, then held-out annotated
  frames through it, scored with `contracts.evaluation` (the manifest's eval metrics have the same keys) and timed.
- `switch(versions)`: `pallet_pipeline` reloaded with every step pinned to `versions` (the ensemble's own config
  change; a `-1` step would follow the newest loaded version before its smoke test).
- `retire(model, keep)`: the model's policy narrowed to `[keep]`.
Every config is written to the runtime repository and loaded through `TritonSupervisor.load`, so a restarted
tritonserver (or an ensemble load that re-reads its composing models from disk) sees the same state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tritonclient.grpc import InferenceServerClient, InferenceServerException

from contracts.annotations import AnnotatedFrame
from contracts.evaluation import EvalAccumulator
from contracts.jobs import SmokeCriteria, SmokeResult
from edge_appliance.ota.atomic import write_atomic
from edge_appliance.ota.errors import ModelServerError
from edge_appliance.ota.model_server import place_version
from edge_appliance.pipeline_client import InferenceError, PipelineClient
from edge_appliance.triton_server import ModelLoadError, TritonSupervisor, config_json, ready_models
from model_repository.configs import CANDIDATE_PIPELINE, NETWORKS, PIPELINE, render_model, render_pipeline

HeldOut = Callable[[int], Sequence[tuple[AnnotatedFrame, np.ndarray]]]  # n -> up to n annotated frames


class TritonControl(Protocol):
    """What the model server needs from Triton's owner: `TritonSupervisor` in-process, or `GrpcTritonControl`
    when the agent runs as its own process (the supervisor then reloads the repository's configs after a restart,
    which this module keeps current)."""

    @property
    def grpc_url(self) -> str: ...

    def client(self) -> InferenceServerClient: ...

    def load(self, name: str, pbtxt: str | None = None) -> None: ...

    def unload(self, name: str) -> None: ...

    def ready_models(self) -> dict[str, list[str]]: ...


class SupervisorControl:
    """`TritonControl` over an in-process `TritonSupervisor` (its desired state follows every load)."""

    def __init__(self, supervisor: TritonSupervisor) -> None:
        self.supervisor = supervisor
        self.repository = supervisor.process.repository

    @property
    def grpc_url(self) -> str:
        return self.supervisor.grpc_url

    def client(self) -> InferenceServerClient:
        return self.supervisor.client()

    def load(self, name: str, pbtxt: str | None = None) -> None:
        self.supervisor.load(name, pbtxt)

    def unload(self, name: str) -> None:
        _unload(self.client(), name)
        self.supervisor.desired.configs.pop(name, None)

    def ready_models(self) -> dict[str, list[str]]:
        return self.supervisor.ready_models()


class GrpcTritonControl:
    """`TritonControl` over gRPC only, for an agent process beside a Triton it does not own."""

    def __init__(self, grpc_url: str) -> None:
        self._url = grpc_url

    @property
    def grpc_url(self) -> str:
        return self._url

    def client(self) -> InferenceServerClient:
        return InferenceServerClient(self._url)

    def load(self, name: str, pbtxt: str | None = None) -> None:
        client = self.client()
        try:
            client.load_model(name, config=config_json(pbtxt) if pbtxt else None)
        except InferenceServerException as exc:
            raise ModelLoadError(f"Triton refused to load {name}: {exc.message()}") from exc
        finally:
            client.close()

    def unload(self, name: str) -> None:
        _unload(self.client(), name)

    def ready_models(self) -> dict[str, list[str]]:
        return ready_models(self.client())


def _unload(client: InferenceServerClient, name: str) -> None:
    try:
        client.unload_model(name)
    except InferenceServerException as exc:
        raise ModelServerError(f"cannot unload {name}: {exc.message()}") from exc
    finally:
        client.close()


def metric_value(report: dict, dotted: str) -> float | None:
    value: object = report
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class TritonModelServer:
    def __init__(self, triton: TritonSupervisor | TritonControl, held_out: HeldOut, device_class: str = "cpu",
                 repository: Path | None = None) -> None:
        """`repository`: Triton's runtime model repository (defaults to the supervisor's)."""
        if isinstance(triton, TritonSupervisor):
            repository = repository or triton.process.repository
            triton = SupervisorControl(triton)
        if repository is None:
            raise ValueError("the runtime model repository is needed when Triton is not supervised here")
        self.triton: TritonControl = triton
        self.repository = Path(repository)
        self.held_out = held_out
        self.device_class = device_class

    def serving_versions(self) -> dict[str, int]:
        client = self.triton.client()
        try:
            config = client.get_model_config(PIPELINE, as_json=True)["config"]
        except InferenceServerException as exc:
            raise ModelServerError(f"cannot read the {PIPELINE} config: {exc.message()}") from exc
        finally:
            client.close()
        steps = config.get("ensemble_scheduling", {}).get("step", [])
        return {s["model_name"]: int(s.get("model_version", -1)) for s in steps if s["model_name"] in NETWORKS}

    def loaded_versions(self) -> dict[str, list[int]]:
        ready = self.triton.ready_models()
        return {name: sorted(int(v) for v in versions if v) for name, versions in ready.items() if name in NETWORKS}

    def stage(self, model: str, version: int, files_dir: Path) -> None:
        place_version(self.repository, model, version, files_dir,
                      loaded=version in self.loaded_versions().get(model, []))

    def load_beside(self, model: str, versions: list[int]) -> None:
        self._load(model, render_model(model, self.device_class, versions))

    def smoke_test(self, candidate: dict[str, int], criteria: SmokeCriteria) -> SmokeResult:
        self._load(CANDIDATE_PIPELINE, render_pipeline(candidate, name=CANDIDATE_PIPELINE))
        frames = list(self.held_out(criteria.frames))
        client = PipelineClient(self.triton.grpc_url, model_name=CANDIDATE_PIPELINE)
        accumulator = EvalAccumulator()
        latencies: list[float] = []
        try:
            client.refresh_versions()
            for truth, frame in frames:
                started = time.perf_counter()
                prediction = client.predict(frame)
                latencies.append((time.perf_counter() - started) * 1000)
                accumulator.add(truth, prediction)
        except InferenceError as exc:
            raise ModelServerError(f"smoke test on {CANDIDATE_PIPELINE} failed: {exc}") from exc
        finally:
            client.close()
        value = metric_value(accumulator.report("smoke"), criteria.metric) if frames else None
        if value is None:
            raise ModelServerError(f"the smoke test cannot measure {criteria.metric!r} on {len(frames)} frames")
        lat = np.asarray(latencies or [0.0])
        return SmokeResult(frames=len(frames), accuracy=min(max(value, 0.0), 1.0),
                           latency_ms_p50=round(float(np.percentile(lat, 50)), 3),
                           latency_ms_p99=round(float(np.percentile(lat, 99)), 3))

    def switch(self, versions: dict[str, int]) -> None:
        self._load(PIPELINE, render_pipeline({m: v for m, v in versions.items() if m in NETWORKS}))

    def retire(self, model: str, keep: int | None) -> None:
        if keep is not None:
            self._load(model, render_model(model, self.device_class, [keep]))
            return
        self.triton.unload(model)

    def _load(self, name: str, pbtxt: str) -> None:
        """Write the config into the repository too: loading an ensemble makes Triton re-read its composing
        models from disk, which would silently drop an override that exists only in memory."""
        write_atomic(self.repository / name / "config.pbtxt", pbtxt.encode())
        try:
            self.triton.load(name, pbtxt)
        except ModelLoadError as exc:
            raise ModelServerError(str(exc)) from exc
