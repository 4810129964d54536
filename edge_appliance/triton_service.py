"""The Triton component of a site: keep one tritonserver serving the site's models, on loopback, until stopped.

Run: `python -m edge_appliance.triton_service --repository DIR [--grpc-port 8001]` (what the Greengrass Triton
component starts). The runtime repository is prepared from the shipped models when it lacks them; the OTA agent
changes what is served through Triton's model-control API, and the supervisor restarts a dead server with the
last good versions. Health goes to `--health-file` as JSON every few seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from contracts.errors import EdgecvError
from edge_appliance.model_store import default_load_order, prepare_repository
from edge_appliance.ports import free_port
from edge_appliance.triton_server import Ports, TritonProcess, TritonSupervisor

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_appliance.triton_service",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True, help="the site's runtime model repository")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--http-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--health-file", type=Path, default=None)
    parser.add_argument("--health-interval", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    repository = prepare_repository(args.repository)
    ports = Ports(args.grpc_port, args.http_port or free_port(), args.metrics_port)
    supervisor = TritonSupervisor(TritonProcess(repository, repository.parent / "tritonserver.log", ports),
                                  default_load_order())
    try:
        supervisor.start()
    except EdgecvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    log.info("Triton serving on %s (cold start %.1f s)", supervisor.grpc_url, supervisor.cold_start_seconds)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(args.health_interval):
        if args.health_file is not None:
            health = supervisor.health().model_dump(mode="json")
            health["metrics"] = supervisor.metrics()
            tmp = args.health_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(health))
            tmp.replace(args.health_file)
    supervisor.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
