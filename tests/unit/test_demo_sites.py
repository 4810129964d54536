"""The demo's site group: a valid deployment of the shipped recipes, each site with its own ports and uplink."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.jobs import JobOutcome, JobStatusReport
from edge_appliance.ota.jobs_emulator import MemoryJobStore
from edgecv.demo_sites import INGEST, OTA_AGENT, TRITON, DemoSiteError, ProcessAgent, SiteSettings, site_group
from edgecv.local_greengrass import load_group_recipes, plan_group


def settings(site: str, port: int, endpoint: str, sequence: Path) -> SiteSettings:
    return SiteSettings(site_id=site, sequence=sequence, fps=5.0, sampler={"budget_share": 0.1},
                        buffer_cap_bytes=2 * 1024 * 1024, bucket="landing", upload_endpoint=endpoint,
                        grpc_port=port, http_port=port + 1, metrics_port=port + 2,
                        trusted_key=Path("keys/signing.pem"), smoke_set=Path("held-out"), mqtt_port=1883)


def test_every_site_gets_triton_ingest_and_the_ota_agent_with_its_own_settings(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    group = site_group("demo-sites", [settings("site-1", 18001, "http://127.0.0.1:5000", Path("seq-1")),
                                      settings("site-3", 18101, "http://127.0.0.1:9", Path("seq-3"))])
    plans = {plan.thing_name: plan for plan in plan_group(group, tmp_path / "gg", load_group_recipes())}
    assert set(plans) == {"site-1", "site-3"}
    for site, port, endpoint in (("site-1", 18001, "http://127.0.0.1:5000"), ("site-3", 18101, "http://127.0.0.1:9")):
        plan = plans[site]
        assert plan.components[0].name == TRITON  # first: ingest and the agent depend on it
        assert {c.name for c in plan.components} == {TRITON, INGEST, OTA_AGENT}
        assert plan.component(TRITON).configuration["grpcPort"] == port
        config = plan.component(INGEST).configuration["site"]
        assert config["site_id"] == site  # {iot:thingName}, interpolated per site
        assert config["triton_url"] == f"127.0.0.1:{port}"
        assert config["upload"] == {"bucket": "landing", "endpoint_url": endpoint, "region": "us-east-1"}
        assert config["data_dir"] == str(plan.component(INGEST).work_dir / "data")
        (camera,) = config["cameras"]
        # a component runs in its own work folder: the demo's relative paths are made absolute
        assert camera["source"] == f"synthetic:{tmp_path / f'seq-{site[-1]}'}"
        assert camera["manifest"] == str(tmp_path / f"seq-{site[-1]}" / "manifest.json")
        assert config["sampler"] == {"budget_share": 0.1} and config["buffer_cap_bytes"] == 2 * 1024 * 1024
        agent = plan.component(OTA_AGENT)
        assert agent.configuration["agent"]["thing_name"] == site
        assert agent.configuration["agent"]["trusted_keys"] == [str(tmp_path / "keys" / "signing.pem")]
        assert agent.configuration["agent"]["held_out_dir"] == str(tmp_path / "held-out")
        # its Run script reaches this site's Triton and its runtime repository, and the broker, over MQTT
        assert f"--triton-url 127.0.0.1:{port}" in agent.run and "--mqtt 127.0.0.1:1883" in agent.run
        assert f"--repository {plan.component(TRITON).work_dir / 'repository'}" in agent.run


# ------------------------------------------------------------------------------ ProcessAgent, without a broker
class _Serving:
    def serving_versions(self) -> dict[str, int]:
        return {"damage_classifier": 2}


def _agent_answers(store: MemoryJobStore, thing: str, status: str, details: dict[str, str]) -> threading.Thread:
    """Stands in for the agent process: takes the queued execution and ends it, as its MQTT updates would."""

    def run() -> None:
        while (execution := store.next_pending(thing)) is None:
            time.sleep(0.01)
        store.put(replace(execution, status=status, status_details=details))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_job_is_queued_for_the_agent_and_its_report_read_back_from_status_details() -> None:
    store = MemoryJobStore()
    agent = ProcessAgent("site-1", store, _Serving(), log_tail=lambda: "", timeout_s=10)  # type: ignore[arg-type]
    sent = JobStatusReport(job_id="demo-v2-r0", thing_name="site-1", rollout_id="demo-v2", ring=0,
                           outcome=JobOutcome.SUCCEEDED, serving={"damage_classifier": 2},
                           reported_at=datetime.now(UTC))
    answering = _agent_answers(store, "site-1", "SUCCEEDED", sent.status_details())
    got = agent.handle("demo-v2-r0", {"format": "edgecv-ota-job/1"})
    answering.join(1)
    assert got is not None and got.outcome is JobOutcome.SUCCEEDED and got.serving == {"damage_classifier": 2}
    assert store.document("demo-v2-r0") == {"format": "edgecv-ota-job/1"}
    queued = store.get("demo-v2-r0", "site-1").queued_at
    assert abs(queued - time.time()) < 60  # epoch seconds, as IoT Jobs sends queuedAt (awsiotsdk rejects ms)
    assert agent.serving_versions() == {"damage_classifier": 2}


def test_an_execution_ended_without_a_report_counts_as_no_report() -> None:
    store = MemoryJobStore()
    agent = ProcessAgent("site-2", store, _Serving(), log_tail=lambda: "", timeout_s=10)  # type: ignore[arg-type]
    _agent_answers(store, "site-2", "FAILED", {})
    assert agent.handle("job-1", {}) is None


def test_an_agent_that_never_answers_is_an_error_with_its_log() -> None:
    serving = _Serving()
    agent = ProcessAgent("site-3", MemoryJobStore(), serving, log_tail=lambda: "start-next failed",  # type: ignore[arg-type]
                         timeout_s=0.3)
    with pytest.raises(DemoSiteError, match=r"did not finish job job-1 .*start-next failed"):
        agent.handle("job-1", {})
