"""`python -m edge_appliance.ota`: run one job, recover, or dump what runs here (the crash test drives this).

    python -m edge_appliance.ota run-job --config agent.json --fake-server DIR --job-id J --document job.json
    python -m edge_appliance.ota recover --config agent.json --fake-server DIR
    python -m edge_appliance.ota status --config agent.json --fake-server DIR [--json]

`--fake-server DIR` keeps a `FakeModelServer`'s state in DIR (a stand-in for Triton across restarts).
Reports are appended as JSON lines to `--reports FILE` (default: `<root>/reports.jsonl`).
`EDGECV_OTA_KILL_AT=before:STEP|after:STEP` sends SIGKILL to this process around that journal commit.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from contracts.bundles import TrustedKey
from contracts.errors import EdgecvError
from contracts.jobs import JobStatusReport
from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.config import AgentConfig
from edge_appliance.ota.downloader import Downloader
from edge_appliance.ota.journal import CommitHook, Journal
from edge_appliance.ota.model_server import FakeModelServer
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


def build_agent(config_path: Path, server_dir: Path, reports: Path | None) -> tuple[OtaAgent, JsonlReporter]:
    config = AgentConfig.model_validate_json(config_path.read_bytes())
    keys = [TrustedKey.from_file(p) for p in config.trusted_keys]
    server = FakeModelServer(server_dir / "repository", state_file=server_dir / "server.json")
    downloader = Downloader(max_bytes=config.max_bundle_bytes, attempts=config.download_attempts,
                            backoff_s=config.download_backoff_s, timeout_s=config.download_timeout_s)
    reporter = JsonlReporter(reports or config.root / "reports.jsonl")
    before, after = kill_hooks(os.environ.get(KILL_ENV))
    journal = Journal(config.journal_dir, before_commit=before, after_commit=after)
    return OtaAgent(config, keys, server, downloader, reporter, journal=journal), reporter


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_appliance.ota", description="the OTA agent")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run-job", "recover", "status"):
        p = sub.add_parser(name)
        p.add_argument("--config", type=Path, required=True, help="AgentConfig JSON")
        p.add_argument("--fake-server", type=Path, required=True, help="folder of the fake model server's state")
        p.add_argument("--reports", type=Path, help="JSON lines file the reports are appended to")
        if name == "run-job":
            p.add_argument("--job-id", required=True)
            p.add_argument("--document", type=Path, required=True, help="the job document (JSON)")
        if name == "status":
            p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        agent, _ = build_agent(args.config, args.fake_server, args.reports)
        if args.command == "status":
            status = agent.status()
            print(status.model_dump_json(indent=1) if args.json else status.text())
            return 0
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
