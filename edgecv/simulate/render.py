"""Rich tables for an `edgecv-rollout-sim/1` report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from edgecv.simulate.report import RolloutReport, SimReport

COLUMNS = ("ring", "devices", "targeted", "succeeded", "failed", "rejected", "offline", "rolled back",
           "versions running", "gate")


def _short(ring: str) -> str:
    return ring.removeprefix("edgecv-ring-")


def _ring_table(rollout: RolloutReport) -> Table:
    outcome = "reached 100%" if rollout.completed else f"halted at {_short(rollout.halted_at or '?')}"
    table = Table(title=f"{rollout.rollout_id}: v{rollout.version} over v{rollout.previous_version}, {outcome} "
                        f"({rollout.status}, {rollout.seconds:.1f} s)", title_justify="left")
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("ring", "versions running", "gate") else "right")
    for ring in rollout.rings:
        versions = " ".join(f"{v}:{n}" for v, n in ring.versions_running.items())
        table.add_row(_short(ring.ring), str(ring.devices), str(ring.targeted), str(ring.succeeded), str(ring.failed),
                      str(ring.rejected), str(ring.offline), str(ring.rolled_back), versions, ring.decision)
    return table


def render(report: SimReport, console: Console) -> None:
    for rollout in report.rollouts:
        console.print(_ring_table(rollout))
        for ring in rollout.rings:
            for number, gate in enumerate(ring.assessments, 1):
                console.print(f"  {_short(ring.ring)} gate #{number}: {gate.verdict}: {'; '.join(gate.reasons)}",
                              highlight=False)
            if ring.reasons:
                console.print(f"  {_short(ring.ring)} job failures: "
                              + ", ".join(f"{r} {n}" for r, n in sorted(ring.reasons.items())), highlight=False)
        if rollout.incident:
            console.print(f"  incident: rolled back to v{rollout.incident.get('rolled_back_to')} "
                          f"({', '.join(rollout.incident.get('reasons', []))})", highlight=False)
    regressed = report.versions["regressed"]
    console.print(f"devices outside the canary that ever ran v{regressed}: {report.regressed_outside_canary} "
                  f"(sent a v{regressed} job: {report.regressed_jobs_outside_canary}); canary devices that ran it: "
                  f"{report.canary_ran_regressed}; serving it at the end: {report.serving_regressed_at_end}",
                  highlight=False)
    console.print(f"{report.devices} devices, {report.agent_runs} jobs through the real OTA agent, "
                  f"{report.incidents} incident(s), wall {report.wall_seconds:.1f} s "
                  f"({', '.join(f'{k} {v:.1f}' for k, v in report.phase_seconds.items())})", highlight=False)
    console.print("real: " + "; ".join(report.real), style="dim", highlight=False)
    console.print("simulated: " + "; ".join(report.simulated), style="dim", highlight=False)
    failed = [name for name, ok in report.checks.items() if not ok]
    console.print("[green]all checks passed[/]" if not failed else f"[red]checks failed:[/] {', '.join(failed)}")
