"""`edgecv simulate ...`: simulations that drive the real cloud and agent logic at fleet scale."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

simulate_app = typer.Typer(no_args_is_help=True, help="Fleet-scale simulations over the real rollout and agent logic.")
_err = Console(stderr=True)
_out = Console() if sys.stdout.isatty() else Console(width=160)  # a file or a pipe gets the whole table


@simulate_app.command("rollout")
def rollout_command(
    devices: Annotated[int, typer.Option("--devices", min=4, max=100_000, help="simulated devices in the fleet")],
    seed: Annotated[int, typer.Option(help="seed for fault placement and health noise")] = 1,
    fault_rate: Annotated[float, typer.Option(
        "--fault-rate", min=0.0, max=1.0,
        help="share of devices per job whose download fails at least once (some give up and report FAILED)")] = 0.02,
    offline_rate: Annotated[float, typer.Option(
        "--offline-rate", min=0.0, max=1.0, help="share of devices offline for the whole run")] = 0.01,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64, help="processes the devices' OTA agents run in (1: in this process)")] = 2,
    out_file: Annotated[Path, typer.Option("--out", help="edgecv-rollout-sim/1 JSON report")] = Path(
        ".edgecv/rollout-sim.json"),
) -> None:
    """Roll a healthy version to 100% of N devices, then a regressed one that the canary must stop."""
    from contracts.errors import EdgecvError
    from edgecv.simulate.render import render
    from edgecv.simulate.runner import SimConfig, SimulationError, simulate

    try:
        config = SimConfig(devices=devices, seed=seed, fault_rate=fault_rate, offline_rate=offline_rate,
                           workers=workers)
        report = simulate(config, progress=lambda line: _err.print(f"[dim]{line}[/]", highlight=False))
    except (SimulationError, EdgecvError) as exc:
        _err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(report.model_dump_json(indent=1) + "\n")
    render(report, _out)
    _out.print(f"wrote {out_file}")
    if not report.ok:
        raise typer.Exit(1)
