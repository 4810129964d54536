"""The demo's site group: a valid deployment of the shipped recipes, each site with its own ports and uplink."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecv.demo_sites import INGEST, OTA_AGENT, TRITON, SiteSettings, site_group
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
