"""A local Triton serving the pallet pipeline, for `edgecv eval`, benchmarks and tests.

Either connect to a running server (`--triton URL`) or start one on loopback over a temporary runtime copy of a
model repository (the shipped one by default), with the ensemble pinned to the requested network versions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge_appliance.model_store import prepare_repository
from edge_appliance.pipeline_client import PipelineClient
from edge_appliance.triton_server import TritonProcess, TritonSupervisor
from model_repository.configs import MODELS, PIPELINE, REPOSITORY, PipelineVersions, render_repository_configs


@dataclass
class LocalPipeline:
    client: PipelineClient
    supervisor: TritonSupervisor | None  # None when connected to a server started elsewhere

    @property
    def url(self) -> str:
        return self.client.url


def desired_configs(versions: Mapping[str, int] | None = None, dynamic_batching: bool = True
                    ) -> dict[str, str | None]:
    rendered = render_repository_configs("cpu", PipelineVersions(dict(versions or {})),
                                         dynamic_batching=dynamic_batching)
    return {**{name: rendered[name] for name in MODELS}, PIPELINE: rendered[PIPELINE]}


@contextmanager
def local_pipeline(triton_url: str | None = None, repository: Path | None = None,
                   versions: Mapping[str, int] | None = None, workdir: Path | None = None,
                   watchdog: bool = False, dynamic_batching: bool = True) -> Iterator[LocalPipeline]:
    if triton_url:
        client = PipelineClient(triton_url)
        try:
            client.refresh_versions()
            yield LocalPipeline(client, None)
        finally:
            client.close()
        return
    with tempfile.TemporaryDirectory(prefix="edgecv-triton-", dir=workdir) as tmp:
        repo = prepare_repository(Path(tmp) / "repository", source=Path(repository or REPOSITORY))
        supervisor = TritonSupervisor(TritonProcess(repo, Path(tmp) / "tritonserver.log"),
                                      desired_configs(versions, dynamic_batching))
        supervisor.start(watchdog=watchdog)
        client = PipelineClient(supervisor.grpc_url)
        try:
            client.refresh_versions()
            yield LocalPipeline(client, supervisor)
        finally:
            client.close()
            supervisor.stop()
