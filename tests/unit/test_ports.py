"""Server ports are picked below the ephemeral range (no client connection can hold one by the time the server
binds it), free when picked, and never handed out twice; a Triton that fails to start says why."""

import socket
from pathlib import Path

import pytest

from edge_appliance.ports import LINUX_DEFAULT_EPHEMERAL, LOWEST, ephemeral_range, free_port, free_ports
from edge_appliance.triton_server import last_error_line


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    low, _ = ephemeral_range()
    first, second = free_ports(6), free_ports(6)
    ports = first + second + [free_port()]
    assert len(set(ports)) == len(ports)  # one process never gets a port twice
    assert all(LOWEST <= port < low for port in ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free: binds


def test_the_ephemeral_range_is_read_from_the_kernel_or_assumed(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t50000\n")
    assert ephemeral_range(source) == (40000, 50000)
    source.write_text("garbage")
    assert ephemeral_range(source) == LINUX_DEFAULT_EPHEMERAL
    assert ephemeral_range(tmp_path / "missing") == LINUX_DEFAULT_EPHEMERAL


def test_a_low_ephemeral_range_moves_the_pool_down_or_fails_clearly() -> None:
    ports = free_ports(3, ephemeral=(5000, 6000))
    assert all(1024 <= port < 5000 for port in ports)
    with pytest.raises(OSError, match="no room below it"):
        free_ports(2, ephemeral=(1024, 2000))


def test_a_failed_triton_start_names_the_error_it_logged(tmp_path: Path) -> None:
    log = tmp_path / "tritonserver.log"
    log.write_text("I1125 00:03:11.1 1 server.cc:1] starting\n"
                   "E1125 00:03:12.2 1 grpc_server.cc:2] Failed to listen on 127.0.0.1:24001: address in use\n"
                   "I1125 00:03:12.3 1 server.cc:3] exiting\n")
    assert "address in use" in last_error_line(log)
    log.write_text("I1125 only info\n")
    assert last_error_line(log) == "I1125 only info"
    assert last_error_line(tmp_path / "missing.log") == "no log"
