"""The agent's main loop: recover what the journal holds, then take jobs from the channel one at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge_appliance.ota.agent import OtaAgent
from edge_appliance.ota.channel import JobChannel
from edge_appliance.ota.errors import ChannelError

log = logging.getLogger(__name__)


def serve(agent: OtaAgent, channel: JobChannel, stop: threading.Event, *, wait_s: float = 20.0,
          backoff_s: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run until `stop` is set; return how many jobs were handled."""
    agent.recover()
    handled = 0
    while not stop.is_set():
        try:
            job = channel.next_job(wait_s)
        except ChannelError as exc:
            log.warning("job channel: %s; retrying in %.0f s", exc, backoff_s)
            sleep(backoff_s)
            continue
        if job is None:
            continue
        report = agent.handle(job.job_id, job.document)
        handled += 1
        log.info("job %s: %s", job.job_id, report.outcome.value if report else "report pending")
    return handled
