"""Loopback ports for the servers edgecv starts (Triton, Mosquitto, the demo's sites).

A port is free when picked, lies below the kernel's ephemeral range, and is never handed out twice by one process.
Binding port 0 would pick from the ephemeral range, the range outgoing connections take their local ports from:
a port picked that way and bound seconds later by a server (a site's Triton starts after the other sites' have
made hundreds of client connections) can meanwhile be the local end of one of them, and the server then exits
with "address already in use". No connection takes a port below that range.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

LOOPBACK = "127.0.0.1"
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_DEFAULT_EPHEMERAL = (32768, 60999)
LOWEST = 20000  # above the registered ports most local services use
_handed_out: set[int] = set()
_lock = threading.Lock()
_random = random.SystemRandom()


def ephemeral_range(source: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux's default where it cannot be read)."""
    try:
        low, high = (int(v) for v in source.read_text().split())
    except (OSError, ValueError):
        return LINUX_DEFAULT_EPHEMERAL
    return low, high


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_ports(n: int, ephemeral: tuple[int, int] | None = None) -> list[int]:
    """`n` distinct loopback ports, free now, below the ephemeral range, none handed out before by this process."""
    low_ephemeral, _ = ephemeral or ephemeral_range()
    pool = range(LOWEST, low_ephemeral) if low_ephemeral - LOWEST >= 1000 else range(1024, low_ephemeral)
    if len(pool) < n:
        raise OSError(f"the ephemeral range starts at {low_ephemeral}: no room below it for {n} server ports")
    picked: list[int] = []
    with _lock:
        for _ in range(50 * n + 200):
            if len(picked) == n:
                break
            port = _random.choice(pool)
            if port not in _handed_out and port not in picked and _bindable(port):
                picked.append(port)
        if len(picked) < n:
            raise OSError(f"no {n} free loopback ports below the ephemeral range (ports {pool.start}-{pool.stop - 1})")
        _handed_out.update(picked)
    return picked


def free_port() -> int:
    return free_ports(1)[0]
