"""The demo's HTML report: one self-contained file (stage table + plots as PNG data URIs, no network).

`render_html(report, out)` takes an `edgecv-demo/1` report as a dict (as read from its JSON) and renders what
it holds: a report from a failed run, with no timeline or half a timeline, renders its table and says which
plots have no data. matplotlib is imported here, lazily, so that nothing on the edge path needs it.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edgecv.demo_timeline import BAD_ROLLOUT_EVENTS, DemoTimeline, SiteSample

# Plot sections, in page order: (section id, heading).
PLOT_SECTIONS: tuple[tuple[str, str], ...] = (
    ("plot-confidence", "Read confidence over time per site"),
    ("plot-accuracy", "Held-out accuracy over time per site"),
    ("plot-model-versions", "Model version per site over time"),
    ("plot-buffer", "Hard-negative buffer level per site"),
    ("plot-rollout", "Rollout timeline"),
)

# Rollout event kind -> (marker, colour); halted / rolled back / incident are red.
_EVENT_STYLE: dict[str, tuple[str, str]] = {
    "job_created": ("o", "#7f7f7f"),
    "ring_ok": ("^", "#2ca02c"),
    "done": ("s", "#2ca02c"),
    "halted": ("X", "#d62728"),
    "rolled_back": ("v", "#d62728"),
    "incident": ("*", "#d62728"),
}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #2ca02c; font-weight: bold; }
.failed { color: #d62728; font-weight: bold; }
.bad { color: #d62728; }
.missing { color: #8a6d3b; background: #fcf8e3; padding: 0.4em 0.6em; border-left: 3px solid #e0c36b; }
img { max-width: 100%; }
"""


class _Plotter:
    """Turns a matplotlib Figure into a PNG data URI (Agg canvas, no pyplot global state)."""

    def __init__(self) -> None:
        os.environ.setdefault("MPLBACKEND", "Agg")
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self._mpl = matplotlib
        self._canvas = FigureCanvasAgg
        self._figure = Figure

    def figure(self, rows: int = 1, height: float = 3.2) -> tuple[Any, list[Any]]:
        fig = self._figure(figsize=(10, height * rows), layout="constrained")
        self._canvas(fig)
        axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
        return fig, axes

    def to_data_uri(self, fig: Any) -> str:
        buf = io.BytesIO()
        # Site names and details are data, not mathtext: a "$" must not be parsed.
        with self._mpl.rc_context({"text.parse_math": False}):
            fig.savefig(buf, format="png", dpi=90)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------- page pieces

def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _missing(text: str) -> str:
    return f'<p class="missing">{_e(text)}</p>'


def _stage_rows(stages: object) -> tuple[str, list[str]]:
    """The stage table's HTML and notes about entries that could not be read."""
    notes: list[str] = []
    if not isinstance(stages, list) or not stages:
        return _missing("no data: the report lists no stages"), notes
    rows = []
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict):
            notes.append(f"stage entry {i} is not an object")
            continue
        ok = stage.get("ok")
        ok_html = ('<span class="ok">ok</span>' if ok is True else
                   '<span class="failed">FAILED</span>' if ok is False else "?")
        seconds = stage.get("seconds")
        seconds_html = f"{seconds:.1f}" if isinstance(seconds, int | float) else "?"
        details = stage.get("details") if isinstance(stage.get("details"), dict) else {}
        summary = details.get("summary") or details.get("error") or ""
        cls = ' class="bad"' if ok is False else ""
        rows.append(f"<tr><td>{_e(stage.get('stage', '?'))}</td><td>{ok_html}</td>"
                    f'<td class="num">{_e(seconds_html)}</td><td{cls}>{_e(summary)}</td></tr>')
    table = ("<table><thead><tr><th>stage</th><th>ok</th><th>seconds</th><th>summary</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>")
    return table, notes


def _read_timeline(report: dict[str, Any]) -> tuple[DemoTimeline | None, str | None]:
    raw = report.get("timeline")
    if raw is None:
        return None, "no data: this report has no timeline (the run may have failed before the edge stages)"
    try:
        return DemoTimeline.model_validate(raw), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "timeline"
        return None, (f"no data: the report's timeline is malformed ({exc.error_count()} errors; "
                      f"first at {where}: {first['msg']})")


def _series(samples: Iterable[SiteSample], field: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for s in samples:
        value = getattr(s, field)
        if value is not None:
            xs.append(s.t)
            ys.append(float(value))
    return xs, ys


# ---------------------------------------------------------------- plots
# Each returns (data URI or None, notes about what is missing).

def _plot_site_metrics(plotter: _Plotter, timeline: DemoTimeline,
                       panels: tuple[tuple[str, str], ...]) -> tuple[str | None, list[str]]:
    sites = timeline.site_names()
    have = [(field, label) for field, label in panels
            if any(getattr(s, field) is not None for s in timeline.sites)]
    notes = [f"no data: {label}" for field, label in panels if (field, label) not in have]
    if not have:
        return None, notes
    fig, axes = plotter.figure(rows=len(have), height=2.8)
    for ax, (field, label) in zip(axes, have, strict=True):
        for site in sites:
            xs, ys = _series(timeline.samples_of(site), field)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, label=site)
        ax.set_ylabel(label)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("seconds since the demo started")
    return plotter.to_data_uri(fig), notes


def _plot_model_versions(plotter: _Plotter, timeline: DemoTimeline) -> tuple[str | None, list[str]]:
    networks = sorted({n for s in timeline.sites for n in s.model_versions})
    if not networks:
        return None, ["no data: no site sample names a serving model version"]
    sites = timeline.site_names()
    fig, axes = plotter.figure(rows=len(networks), height=2.4)
    # A small vertical offset per site keeps sites that serve the same version apart.
    step = 0.08 / max(1, len(sites) - 1) if len(sites) > 1 else 0.0
    for ax, network in zip(axes, networks, strict=True):
        versions: set[int] = set()
        for i, site in enumerate(sites):
            pts = [(s.t, s.model_versions[network]) for s in timeline.samples_of(site) if network in s.model_versions]
            if not pts:
                continue
            versions.update(v for _, v in pts)
            xs = [t for t, _ in pts]
            ys = [v + (i - (len(sites) - 1) / 2) * step for _, v in pts]
            ax.step(xs, ys, where="post", marker="o", markersize=3, label=site)
        ax.set_ylabel(f"{network} version")
        ax.set_yticks(sorted(versions))
        ax.set_ylim(min(versions) - 0.5, max(versions) + 0.5)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("seconds since the demo started")
    return plotter.to_data_uri(fig), []


def _plot_buffer(plotter: _Plotter, timeline: DemoTimeline) -> tuple[str | None, list[str]]:
    sites = [site for site in timeline.site_names()
             if any(s.buffer_bytes is not None for s in timeline.samples_of(site))]
    if not sites:
        return None, ["no data: no site sample carries a buffer level"]
    fig, (ax,) = plotter.figure(rows=1, height=3.4)
    for site in sites:
        samples = timeline.samples_of(site)
        xs, ys = _series(samples, "buffer_bytes")
        (line,) = ax.plot(xs, [y / 1e6 for y in ys], marker="o", markersize=3, label=f"{site} buffered")
        cx, cy = _series(samples, "buffer_cap_bytes")
        if cx:
            ax.step(cx, [y / 1e6 for y in cy], where="post", linestyle="--", color=line.get_color(),
                    alpha=0.7, label=f"{site} cap")
    ax.set_ylabel("MB on disk")
    ax.set_xlabel("seconds since the demo started")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    notes = [] if any(s.buffer_cap_bytes is not None for s in timeline.sites) else ["no data: buffer cap"]
    return plotter.to_data_uri(fig), notes


def _plot_rollout(plotter: _Plotter, timeline: DemoTimeline) -> tuple[str | None, list[str]]:
    if not timeline.rollout:
        return None, ["no data: no rollout events in this report"]
    events = sorted(timeline.rollout, key=lambda e: e.t)
    rings = list(dict.fromkeys(e.ring for e in timeline.rollout))
    y_of = {ring: i for i, ring in enumerate(rings)}
    fig, (ax,) = plotter.figure(rows=1, height=max(2.4, 0.6 * len(rings) + 1.4))
    for kind, (marker, colour) in _EVENT_STYLE.items():
        pts = [e for e in events if e.event == kind]
        if pts:
            ax.scatter([e.t for e in pts], [y_of[e.ring] for e in pts], marker=marker, color=colour,
                       s=90 if kind in BAD_ROLLOUT_EVENTS else 55, label=kind.replace("_", " "), zorder=3)
    labelled: set[tuple[str, str, int]] = set()
    for e in events:  # name the model version once per ring, where it first appears there
        if (e.ring, e.model, e.version) in labelled:
            continue
        labelled.add((e.ring, e.model, e.version))
        ax.annotate(f"{e.model} v{e.version}", (e.t, y_of[e.ring]), textcoords="offset points", xytext=(4, 7),
                    fontsize="x-small", color="#d62728" if e.event in BAD_ROLLOUT_EVENTS else "#444")
    ax.set_yticks(range(len(rings)), rings)
    ax.set_ylim(-0.6, len(rings) - 0.4)
    ax.set_xlabel("seconds since the demo started")
    ax.set_ylabel("ring")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return plotter.to_data_uri(fig), []


def _rollout_table(timeline: DemoTimeline) -> str:
    rows = []
    for e in sorted(timeline.rollout, key=lambda e: e.t):
        cls = ' class="bad"' if e.event in BAD_ROLLOUT_EVENTS else ""
        rows.append(f'<tr{cls}><td class="num">{e.t:.1f}</td><td>{_e(e.rollout_id)}</td><td>{_e(e.model)} '
                    f"v{e.version}</td><td>{_e(e.ring)}</td><td>{_e(e.event)}</td>"
                    f"<td>{_e(', '.join(e.devices))}</td><td>{_e(e.detail or '')}</td></tr>")
    return ("<table><thead><tr><th>t (s)</th><th>rollout</th><th>model</th><th>ring</th><th>event</th>"
            "<th>devices</th><th>detail</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _plots(timeline: DemoTimeline | None, timeline_note: str | None) -> dict[str, tuple[str | None, list[str]]]:
    """Section id -> (image, notes). Without a timeline or matplotlib every section says why it is empty."""
    if timeline is None:
        return {sid: (None, [timeline_note or "no data"]) for sid, _ in PLOT_SECTIONS}
    try:
        plotter = _Plotter()
    except ImportError as exc:
        why = f"no plots: matplotlib is not installed ({exc}); install the demo extra: pip install -e '.[demo]'"
        return {sid: (None, [why]) for sid, _ in PLOT_SECTIONS}
    builders: dict[str, Callable[[], tuple[str | None, list[str]]]] = {
        "plot-confidence": lambda: _plot_site_metrics(plotter, timeline, (
            ("mean_read_confidence", "mean read confidence"), ("valid_read_share", "valid read share"))),
        "plot-accuracy": lambda: _plot_site_metrics(plotter, timeline, (
            ("held_out_exact_match", "held-out label exact match"), ("held_out_damage_f1", "held-out damage F1"))),
        "plot-model-versions": lambda: _plot_model_versions(plotter, timeline),
        "plot-buffer": lambda: _plot_buffer(plotter, timeline),
        "plot-rollout": lambda: _plot_rollout(plotter, timeline),
    }
    if not timeline.sites:
        no_sites = "no data: the timeline holds no site samples"
        return {sid: (None, [no_sites]) if sid != "plot-rollout" else build()
                for sid, build in builders.items()}
    return {sid: build() for sid, build in builders.items()}


# ---------------------------------------------------------------- entry point

def render_html(report: dict[str, Any], out: Path) -> Path:
    """Write the report as one self-contained HTML file at `out` and return its path."""
    stages = report.get("stages")
    table, stage_notes = _stage_rows(stages)
    failed = [s.get("stage", "?") for s in stages or [] if isinstance(s, dict) and s.get("ok") is False] \
        if isinstance(stages, list) else []
    timeline, timeline_note = _read_timeline(report)
    plots = _plots(timeline, timeline_note)

    fmt = report.get("format", "?")
    verdict = (f'<span class="failed">{len(failed)} stage(s) failed: {_e(", ".join(map(str, failed)))}</span>'
               if failed else '<span class="ok">every stage passed</span>' if isinstance(stages, list) and stages
               else '<span class="failed">no stages</span>')
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>edgecv demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>edgecv demo report</h1>",
        f"<p>format {_e(fmt)} &middot; {verdict}</p>",
        '<section id="stages"><h2>Stages</h2>', table, *(_missing(n) for n in stage_notes), "</section>",
    ]
    not_yet = report.get("not_yet_in_demo")
    if isinstance(not_yet, list) and not_yet:
        parts.append(f"<p>Not yet in the demo: {_e(', '.join(map(str, not_yet)))}</p>")
    for sid, heading in PLOT_SECTIONS:
        image, notes = plots[sid]
        parts.append(f'<section id="{sid}"><h2>{_e(heading)}</h2>')
        if image is not None:
            parts.append(f'<img alt="{_e(heading)}" src="{image}">')
        parts.extend(_missing(n) for n in notes)
        if sid == "plot-rollout" and timeline is not None and timeline.rollout:
            parts.append(_rollout_table(timeline))
        parts.append("</section>")
    parts.append("</body></html>\n")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out
