"""`python -m edge_appliance.ota`: serve jobs, run one job, recover, or dump what runs here.

    python -m edge_appliance.ota serve --config agent.json --channel greengrass|mqtt
        (--triton-url HOST:PORT --repository DIR [--held-out DATASET] | --fake-server DIR)
        [--mqtt HOST:PORT | --endpoint E --cert C --key K [--ca CA]]
    python -m edge_appliance.ota run-job --config agent.json --fake-server DIR --job-id J --document job.json
    python -m edge_appliance.ota recover --config agent.json (--fake-server DIR | --triton-url ... --repository ...)
    python -m edge_appliance.ota status --config agent.json (--fake-server DIR | ...) [--json]

`--fake-server DIR` keeps a `FakeModelServer`'s state in DIR (a stand-in for Triton across restarts);
`--triton-url` + `--repository` drive a Triton this process does not own (gRPC + its runtime repository).
Reports are appended as JSON lines to `--reports FILE` (default: `<root>/reports.jsonl`).
`EDGECV_OTA_KILL_AT=before:STEP|after:STEP` sends SIGKILL to this process around that journal commit.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from contracts.bundles import TrustedKey
from contracts.errors import EdgecvError
from contracts.jobs import JobStatusReport
from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.channel import JobChannel
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.journal import CommitHook, Journal
from edge_appliance.ota.model_server import FakeModelServer, ModelServer
from edge_appliance.ota.runner import serve
from edge_appliance.ota.states import JobStep

KILL_ENV = "EDGECV_OTA_KILL_AT"


class JsonlReporter:
    """Appends each report as one JSON line (fsync'd): the local stand-in for a job channel's update."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, report: JobStatusReport) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(report.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read(self) -> list[JobStatusReport]:
        if not self.path.exists():
            return []
        return [JobStatusReport.model_validate_json(line) for line in self.path.read_text().splitlines() if line]


def kill_hooks(spec: str | None) -> tuple[CommitHook | None, CommitHook | None]:
    """(before_commit, after_commit) hooks that SIGKILL this process at `before:STEP` / `after:STEP`."""
    if not spec:
        return None, None
    when, _, name = spec.partition(":")
    step = JobStep(name)
    if when not in ("before", "after"):
        raise ValueError(f"{KILL_ENV} must be before:STEP or after:STEP, not {spec!r}")

    def hook(at: JobStep) -> None:
        if at is step:
            os.kill(os.getpid(), signal.SIGKILL)

    return (hook, None) if when == "before" else (None, hook)


def build_model_server(args: argparse.Namespace, config: AgentConfig) -> ModelServer:
    if args.fake_server is not None:
        return FakeModelServer(args.fake_server / "repository", state_file=args.fake_server / "server.json")
    if not args.triton_url or not args.repository:
        raise ValueError("give --fake-server DIR, or --triton-url HOST:PORT with --repository DIR")
    from edge_appliance.ota.held_out import HeldOutFrames, no_held_out
    from edge_appliance.ota.triton_model_server import GrpcTritonControl, TritonModelServer

    held_out_dir = getattr(args, "held_out", None) or config.held_out_dir
    held_out = no_held_out
    if held_out_dir:
        try:
            held_out = HeldOutFrames(held_out_dir)
        except EdgecvError as exc:  # the agent still comes up (and can recover); smoke tests fail with the reason
            print(f"warning: no held-out frames for smoke tests: {exc}", file=sys.stderr)
    return TritonModelServer(GrpcTritonControl(args.triton_url), held_out, config.device_class.value,
                             repository=args.repository)


def build_agent(config_path: Path, server_dir: Path | None, reports: Path | None,
                args: argparse.Namespace | None = None) -> tuple[OtaAgent, JsonlReporter]:
    config = AgentConfig.model_validate_json(config_path.read_bytes())
    keys = [TrustedKey.from_file(p) for p in config.trusted_keys]
    args = args or argparse.Namespace(fake_server=server_dir, triton_url=None, repository=None)
    server = build_model_server(args, config)
    downloader = Downloader(max_bytes=config.max_bundle_bytes, attempts=config.download_attempts,
                            backoff_s=config.download_backoff_s, timeout_s=config.download_timeout_s)
    reporter = JsonlReporter(reports or config.root / "reports.jsonl")
    before, after = kill_hooks(os.environ.get(KILL_ENV))
    journal = Journal(config.journal_dir, before_commit=before, after_commit=after)
    return OtaAgent(config, keys, server, downloader, reporter, journal=journal), reporter


def open_channel(args: argparse.Namespace, thing_name: str) -> tuple[JobChannel, Callable[[], None]]:
    """The job channel named by --channel, and how to close it."""
    if args.channel == "greengrass":
        from edge_appliance.ota.greengrass_channel import GreengrassJobChannel

        gg = GreengrassJobChannel.connect(thing_name)
        return gg, gg.close
    from edge_appliance.ota.mqtt import connect, disconnect
    from edge_appliance.ota.mqtt_channel import MqttJobChannel

    if args.endpoint:
        from awsiot import mqtt5_client_builder

        client = mqtt5_client_builder.mtls_from_path(endpoint=args.endpoint, cert_filepath=str(args.cert),
                                                     pri_key_filepath=str(args.key),
                                                     ca_filepath=str(args.ca) if args.ca else None,
                                                     client_id=thing_name)
        client.start()
    elif args.mqtt:
        host, _, port = args.mqtt.rpartition(":")
        client = connect(host, int(port), thing_name)
    else:
        raise ValueError("--channel mqtt needs --mqtt HOST:PORT or --endpoint with --cert and --key")
    mqtt_channel = MqttJobChannel(client, thing_name)

    def close() -> None:
        mqtt_channel.close()
        disconnect(client)

    return mqtt_channel, close


def _serve(agent: OtaAgent, args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    channel, close = open_channel(args, agent.config.thing_name)
    agent.reporter = channel.report
    try:
        serve(agent, channel, stop, wait_s=args.wait_s)
    finally:
        close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_appliance.ota", description="the OTA agent")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "run-job", "recover", "status"):
        p = sub.add_parser(name)
        p.add_argument("--config", type=Path, required=True, help="AgentConfig JSON")
        p.add_argument("--fake-server", type=Path, help="folder of the fake model server's state")
        p.add_argument("--triton-url", help="Triton gRPC HOST:PORT (a Triton this process does not own)")
        p.add_argument("--repository", type=Path, help="that Triton's runtime model repository")
        p.add_argument("--held-out", type=Path, help="edgecv-annotations/1 set for the smoke test")
        p.add_argument("--reports", type=Path, help="JSON lines file the reports are appended to")
        if name == "serve":
            p.add_argument("--channel", choices=["greengrass", "mqtt"], required=True)
            p.add_argument("--mqtt", help="HOST:PORT of a plain-TCP broker (local Mosquitto)")
            p.add_argument("--endpoint", help="AWS IoT endpoint (mTLS)")
            p.add_argument("--cert", type=Path)
            p.add_argument("--key", type=Path)
            p.add_argument("--ca", type=Path)
            p.add_argument("--wait-s", type=float, default=20.0, help="how long to wait for a job per poll")
        if name == "run-job":
            p.add_argument("--job-id", required=True)
            p.add_argument("--document", type=Path, required=True, help="the job document (JSON)")
        if name == "status":
            p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        agent, _ = build_agent(args.config, args.fake_server, args.reports, args)
        if args.command == "status":
            status = agent.status()
            print(status.model_dump_json(indent=1) if args.json else status.text())
            return 0
        if args.command == "serve":  # a long-running component: its log says which jobs it took and how they ended
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            return _serve(agent, args)
        report = agent.recover()
        if args.command == "run-job":
            report = agent.handle(args.job_id, args.document.read_bytes())
        if report is not None:
            print(f"{report.job_id}: {report.outcome.value}"
                  + (f" ({report.reason}: {report.message})" if report.reason else "")
                  + f"; serving {report.serving}")
        return 0
    except (EdgecvError, ValidationError, OSError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
