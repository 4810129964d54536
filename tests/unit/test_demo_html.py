"""The demo's timeline models and its HTML report (edgecv.demo_timeline, edgecv.demo_html, `edgecv demo-report`)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.demo_html import PLOT_SECTIONS, render_html
from edgecv.demo_timeline import DemoTimeline, RolloutEvent, SiteSample

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def full_timeline() -> DemoTimeline:
    timeline = DemoTimeline()
    for i in range(4):
        t = 10.0 * i
        for site in ("site-1", "site-2", "<script>alert(1)</script>"):
            timeline.add_site(SiteSample(
                t=t, site=site, phase="edge_v1" if i < 2 else "after_rollout_v2",
                model_versions={"ocr": 1 if i < 2 else 2, "detector": 1},
                mean_read_confidence=0.5 + 0.1 * i, valid_read_share=0.4 + 0.1 * i,
                held_out_exact_match=0.6 + 0.1 * i, held_out_damage_f1=0.9,
                buffer_bytes=1000 * i, buffer_cap_bytes=5000, hard_negative_rate=0.1))
    for t, ring, event in ((15.0, "canary", "job_created"), (16.0, "canary", "ring_ok"), (18.0, "ring10", "done"),
                           (25.0, "canary", "halted"), (26.0, "canary", "rolled_back")):
        timeline.add_rollout(RolloutEvent(t=t, rollout_id="ro-1", model="ocr", version=2, ring=ring, event=event,
                                          devices=["site-1"], detail="<b>gate</b>"))
    return timeline


def section(page: str, sid: str) -> str:
    match = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert match, f"section {sid} missing"
    return match.group(1)


def test_full_timeline_renders_every_plot_as_an_inline_png(tmp_path: Path) -> None:
    report = {"format": "edgecv-demo/1",
              "stages": [{"stage": "edge_sites", "ok": True, "seconds": 3.25, "details": {"summary": "3 sites"}}],
              "timeline": full_timeline().model_dump(mode="json")}
    out = render_html(report, tmp_path / "sub" / "demo.html")
    page = out.read_text(encoding="utf-8")

    assert "edge_sites" in section(page, "stages") and "3.2" in section(page, "stages")
    for sid, _ in PLOT_SECTIONS:
        body = section(page, sid)
        uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', body)
        assert len(uris) == 1, sid
        assert base64.b64decode(uris[0]).startswith(PNG_MAGIC)
        assert "no data" not in body, sid
    # Self-contained: nothing fetched from the network.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    # Text from the report is escaped, never markup.
    assert "<script>" not in page and "<b>gate</b>" not in page
    assert "&lt;b&gt;gate&lt;/b&gt;" in section(page, "plot-rollout")
    assert 'class="bad"' in section(page, "plot-rollout")  # halted / rolled back rows are marked


def test_failed_run_without_timeline_renders_table_and_no_data_notes(tmp_path: Path) -> None:
    report = {"format": "edgecv-demo/1",
              "stages": [{"stage": "start_moto", "ok": False, "seconds": 0.4,
                          "details": {"error": "OSError: port 5000 <busy>"}}]}
    page = render_html(report, tmp_path / "demo.html").read_text(encoding="utf-8")

    stages = section(page, "stages")
    assert "start_moto" in stages and "FAILED" in stages
    assert "OSError: port 5000 &lt;busy&gt;" in stages
    assert "1 stage(s) failed" in page
    for sid, _ in PLOT_SECTIONS:
        body = section(page, sid)
        assert "data:image" not in body
        assert "no data: this report has no timeline" in body


@pytest.mark.parametrize("report", [
    {},                                                             # nothing at all
    {"stages": "oops", "timeline": {"sites": [{"t": "x"}]}},        # wrong types everywhere
    {"stages": [42, {"stage": "x"}], "timeline": {"sites": [], "rollout": []}},
])
def test_broken_reports_render_what_exists_without_crashing(tmp_path: Path, report: dict) -> None:
    page = render_html(report, tmp_path / "demo.html").read_text(encoding="utf-8")
    assert page.count('<section id="plot-') == len(PLOT_SECTIONS)
    assert "no data" in page


def test_partial_timeline_plots_what_it_has_and_names_the_rest(tmp_path: Path) -> None:
    timeline = DemoTimeline(sites=[SiteSample(t=0, site="site-1", phase="edge_v1", model_versions={"ocr": 1},
                                              mean_read_confidence=0.8)])
    page = render_html({"stages": [], "timeline": timeline.model_dump()}, tmp_path / "d.html").read_text()
    confidence = section(page, "plot-confidence")
    assert "data:image/png" in confidence and "no data: valid read share" in confidence
    assert "data:image" not in section(page, "plot-accuracy")
    assert "no data" in section(page, "plot-buffer")
    assert "no data: no rollout events" in section(page, "plot-rollout")
    assert "data:image/png" in section(page, "plot-model-versions")


@pytest.mark.parametrize(("model", "payload"), [
    (SiteSample, {"t": 0, "site": "s", "phase": "p", "model_versions": {}, "colour": "red"}),
    (RolloutEvent, {"t": 0, "rollout_id": "r", "model": "ocr", "version": 2, "ring": "canary",
                    "event": "done", "surprise": 1}),
    (DemoTimeline, {"sites": [], "rollout": [], "extra": []}),
])
def test_models_reject_unknown_fields(model: type, payload: dict) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(payload)


def test_rollout_event_kind_is_closed() -> None:
    with pytest.raises(ValidationError):
        RolloutEvent(t=0, rollout_id="r", model="ocr", version=2, ring="canary", event="exploded")


def test_timeline_round_trips_through_json() -> None:
    timeline = full_timeline()
    again = DemoTimeline.model_validate_json(timeline.model_dump_json())
    assert again == timeline
    assert again.site_names()[:2] == ["site-1", "site-2"]
    assert [s.t for s in again.samples_of("site-2")] == [0.0, 10.0, 20.0, 30.0]


@pytest.mark.parametrize(("content", "reason"), [
    ('{"stages": [', "is not JSON"),
    ("[1, 2]", "is not an edgecv-demo/1 report"),
    ('{"format": "edgecv-demo/1"}', "is not an edgecv-demo/1 report"),
])
def test_cli_rejects_malformed_report_with_one_line(tmp_path: Path, content: str, reason: str) -> None:
    bad = tmp_path / "report.json"
    bad.write_text(content)
    result = CliRunner().invoke(app, ["demo-report", str(bad), "--html", str(tmp_path / "out.html")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and reason in lines[0]
    assert not (tmp_path / "out.html").exists()


def test_cli_missing_file_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo-report", str(tmp_path / "absent.json")])
    assert result.exit_code == 1
    assert "cannot read" in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_renders_next_to_the_report_by_default(tmp_path: Path) -> None:
    report = tmp_path / "demo-report.json"
    report.write_text(json.dumps({"format": "edgecv-demo/1", "stages": [
        {"stage": "generate", "ok": True, "seconds": 1.0, "details": {"summary": "ok"}}]}))
    result = CliRunner().invoke(app, ["demo-report", str(report)])
    assert result.exit_code == 0, result.output
    assert "generate" in (tmp_path / "demo-report.html").read_text()
