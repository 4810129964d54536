"""Where the simulated devices live: in this process (`LocalShard`) or split over worker processes (`ProcessShard`).

A shard owns some devices (each a real OTA agent, `device.SimDevice`) and answers two requests: work one job
on a list of its devices (each with the number of download requests to fail), and summarise what its devices
served. Worker processes use the machine's cores for the agents' work while the state machine runs here;
they are started with `spawn` (the parent runs moto's server threads, which `fork` must not copy).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from contracts.bundles import TrustedKey, public_key_pem
from contracts.jobs import JobStatusReport
from edgecv.simulate.device import Profiles, SharedVerifier, SimDevice

Answer = tuple[str, JobStatusReport | None, dict[str, int]]  # thing, its report, what it serves after the job


class ShardError(RuntimeError):
    """A worker process died or did not answer."""


@dataclass(frozen=True)
class DeviceSummary:
    ring: str
    serving: dict[str, int]
    ever_served: bool  # the summarised model version, at any time
    jobs: int          # jobs its agent reported on


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs to build its devices (picklable: keys travel as PEM)."""

    devices: list[tuple[str, str]]  # (thing, ring)
    root: Path
    keys_pem: list[bytes]
    serving: dict[str, int]
    profiles: Profiles
    download_attempts: int = 5

    @classmethod
    def of(cls, devices: list[tuple[str, str]], root: Path, keys: Sequence[TrustedKey], serving: dict[str, int],
           profiles: Profiles, download_attempts: int = 5) -> ShardSpec:
        return cls(devices, root, [public_key_pem(k.public_key) for k in keys], serving, profiles, download_attempts)


class Shard(Protocol):
    def submit(self, job_id: str, document: str, bundles: dict[str, bytes], work: list[tuple[str, int]]) -> None: ...

    def collect(self) -> list[Answer]: ...

    def summary(self, model: str, version: int) -> dict[str, DeviceSummary]: ...

    def close(self) -> None: ...


class LocalShard:
    """Devices in this process."""

    def __init__(self, spec: ShardSpec) -> None:
        keys = [TrustedKey.from_pem(pem, "simulated fleet key") for pem in spec.keys_pem]
        self.bundles: dict[str, bytes] = {}
        verifier = SharedVerifier()
        self.devices = {thing: SimDevice.create(thing, ring, spec.root / thing, keys, spec.serving, self.bundles,
                                                spec.profiles, spec.download_attempts, verifier)
                        for thing, ring in spec.devices}
        self._answers: list[Answer] = []

    def submit(self, job_id: str, document: str, bundles: dict[str, bytes], work: list[tuple[str, int]]) -> None:
        self.bundles.update(bundles)
        answers = []
        for thing, failures in work:
            device = self.devices[thing]
            answers.append((thing, device.handle(job_id, document, download_failures=failures), device.serving))
        self._answers = answers

    def collect(self) -> list[Answer]:
        answers, self._answers = self._answers, []
        return answers

    def summary(self, model: str, version: int) -> dict[str, DeviceSummary]:
        return {t: DeviceSummary(d.ring, d.serving, d.ever_served(model, version), len(d.reports))
                for t, d in self.devices.items()}

    def close(self) -> None:
        self.devices.clear()


def _worker(conn: Connection, spec: ShardSpec) -> None:
    shard = LocalShard(spec)
    conn.send(("ready", len(shard.devices)))
    while True:
        request = conn.recv()
        if request[0] == "stop":
            conn.close()
            return
        if request[0] == "handle":
            shard.submit(*request[1:])
            conn.send(shard.collect())
        elif request[0] == "summary":
            conn.send(shard.summary(*request[1:]))


class ProcessShard:
    """Devices in a worker process (started with `spawn`); requests and answers travel over a pipe."""

    def __init__(self, spec: ShardSpec, timeout_s: float = 600.0) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_worker, args=(child, spec), name="edgecv-sim-shard", daemon=True)
        self._process.start()
        child.close()
        self._timeout = timeout_s
        self._sent_bundles: set[str] = set()

    def wait_ready(self) -> int:
        kind, count = self._receive()
        if kind != "ready":
            raise ShardError(f"a shard worker answered {kind!r} instead of ready")
        return int(count)

    def _receive(self) -> Any:
        if not self._conn.poll(self._timeout):
            raise ShardError(f"a shard worker did not answer within {self._timeout:.0f} s")
        try:
            return self._conn.recv()
        except EOFError as exc:
            raise ShardError(f"a shard worker died (exit code {self._process.exitcode})") from exc

    def submit(self, job_id: str, document: str, bundles: dict[str, bytes], work: list[tuple[str, int]]) -> None:
        new = {url: data for url, data in bundles.items() if url not in self._sent_bundles}
        self._sent_bundles |= set(new)
        self._conn.send(("handle", job_id, document, new, work))

    def collect(self) -> list[Answer]:
        return self._receive()

    def summary(self, model: str, version: int) -> dict[str, DeviceSummary]:
        self._conn.send(("summary", model, version))
        return self._receive()

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(("stop",))
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()
