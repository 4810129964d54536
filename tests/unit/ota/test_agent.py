"""The OTA agent end to end over fakes: install, upgrade, rollback, smoke failure, model-server faults."""

from __future__ import annotations

import pytest

from contracts.jobs import JobOutcome, SmokeExpectations
from edge_appliance.ota.states import JobStep
from tests.ota_support import MODEL, sha256
from tests.unit.ota.conftest import Site


def assert_serving_only(site: Site, version: int) -> None:
    assert site.server.serving_versions() == {MODEL: version}
    assert site.server.loaded_versions() == {MODEL: [version]}
    assert site.agent().journal.current() is None


def test_first_install_from_nothing(site: Site) -> None:
    report = site.install(1)
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED and report.reason is None
    assert report.serving == {MODEL: 1}
    assert report.figures.download_bytes > 0 and report.figures.smoke is not None
    assert_serving_only(site, 1)


def test_upgrade_loads_beside_then_switches_then_retires(site_v1: Site) -> None:
    site_v1.server.state.calls.clear()
    report = site_v1.install(2)
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED, report
    ops = [c.split(" ")[0] for c in site_v1.server.state.calls]
    assert ops == ["stage", "load_beside", "smoke_test", "switch", "retire"]
    assert f"load_beside {MODEL}:[1, 2]" in site_v1.server.state.calls
    assert_serving_only(site_v1, 2)
    record = site_v1.agent().journal.done("job-v2")
    assert record is not None
    assert [e.step for e in record.history] == [
        JobStep.RECEIVED, JobStep.DOWNLOADING, JobStep.DOWNLOADED, JobStep.VERIFIED, JobStep.STAGED,
        JobStep.LOADED, JobStep.SMOKE_TESTED, JobStep.SWITCHED, JobStep.RETIRED, JobStep.REPORTED]


def test_status_says_what_runs_since_when_from_which_bundle_signed_by_whom(site_v1: Site) -> None:
    site_v1.install(2)
    bundle_sha = sha256(site_v1.root / "bundles" / f"{MODEL}-2-cpu.tar.gz")
    status = site_v1.agent().status()
    entry = status.installed[MODEL]
    assert entry.version == 2 and entry.job_id == "job-v2" and entry.rollout_id == "rollout-1"
    assert entry.signer_fingerprint == site_v1.agent().keys[0].fingerprint
    assert entry.bundle_sha256 == bundle_sha
    text = status.text()
    assert f"{MODEL} v2 since" in text and entry.signer_key_id in text and entry.bundle_sha256[:16] in text
    assert status.problems == [] and status.last_job is not None and status.last_job.job_id == "job-v2"


def test_smoke_failure_fails_the_job_and_keeps_the_old_version(site_v1: Site) -> None:
    site_v1.server.set_quality(MODEL, 2, accuracy=0.5)
    report = site_v1.install(2)
    assert report is not None and report.outcome is JobOutcome.FAILED and report.reason == "smoke_failed"
    assert report.figures.smoke is not None and report.figures.smoke.accuracy == 0.5
    assert "below 0.900" in (report.message or "")  # the manifest says 0.95, max_drop 0.05
    assert report.serving == {MODEL: 1}
    assert_serving_only(site_v1, 1)


def test_smoke_latency_over_the_limit_fails(site_v1: Site) -> None:
    site_v1.server.set_quality(MODEL, 2, accuracy=0.99, latency_ms=400.0)
    bundle = site_v1.bundle(2)
    doc = site_v1.job(bundle, 2, smoke=SmokeExpectations(frames=8, max_latency_ms_p99=100.0))
    report = site_v1.agent().handle("job-slow", doc.model_dump(mode="json"))
    assert report is not None and report.reason == "smoke_failed" and "latency" in (report.message or "")
    assert_serving_only(site_v1, 1)


@pytest.mark.parametrize(("operation", "reason"), [("stage", "stage_failed"), ("load_beside", "load_failed"),
                                                   ("smoke_test", "smoke_failed"), ("switch", "switch_failed")])
def test_model_server_fault_before_the_switch_leaves_the_old_version(site_v1: Site, operation: str,
                                                                     reason: str) -> None:
    site_v1.server.fail(operation)
    report = site_v1.install(2)
    site_v1.server.heal()
    assert report is not None and report.outcome is JobOutcome.FAILED and report.reason == reason
    assert_serving_only(site_v1, 1)


def test_retire_fault_after_the_switch_still_succeeds(site_v1: Site) -> None:
    site_v1.server.fail("retire")
    report = site_v1.install(2)
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED
    assert "still loaded" in (report.message or "")
    assert site_v1.server.serving_versions() == {MODEL: 2}


def test_signed_rollback_restores_the_previous_version(site_v1: Site) -> None:
    site_v1.install(2)
    report = site_v1.install(1, job_id="job-rollback", rollback=True)
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED, report
    assert_serving_only(site_v1, 1)
    entry = site_v1.agent().status().installed[MODEL]
    assert entry.version == 1 and entry.rollback and entry.job_id == "job-rollback"


def test_rollback_job_with_an_unflagged_older_bundle_is_refused(site_v1: Site) -> None:
    site_v1.install(2)
    bundle = site_v1.bundle(1)  # an ordinary (not rollback) bundle of v1
    doc = site_v1.job(bundle, 1, rollback=True)
    report = site_v1.agent().handle("job-sneaky", doc.model_dump(mode="json"))
    assert report is not None and report.outcome is JobOutcome.REJECTED and report.reason == "not_newer"
    assert_serving_only(site_v1, 2)


def test_rollback_flag_must_agree_with_the_manifest(site_v1: Site) -> None:
    bundle = site_v1.bundle(2, rollback=True)
    doc = site_v1.job(bundle, 2, rollback=False)
    report = site_v1.agent().handle("job-flag", doc.model_dump(mode="json"))
    assert report is not None and report.reason == "rollback_mismatch"
    assert_serving_only(site_v1, 1)


def test_targets_must_match_the_bundle(site_v1: Site) -> None:
    bundle = site_v1.bundle(2)
    doc = site_v1.job(bundle, 3)
    report = site_v1.agent().handle("job-targets", doc.model_dump(mode="json"))
    assert report is not None and report.outcome is JobOutcome.REJECTED and report.reason == "target_mismatch"
    assert_serving_only(site_v1, 1)


def test_download_that_does_not_match_the_job_is_rejected(site_v1: Site) -> None:
    bundle = site_v1.bundle(2)
    doc = site_v1.job(bundle, 2).model_copy(update={"bundle_sha256": "0" * 64})
    report = site_v1.agent().handle("job-hash", doc.model_dump(mode="json"))
    assert report is not None and report.outcome is JobOutcome.REJECTED and report.reason == "download_mismatch"
    assert_serving_only(site_v1, 1)
    assert not list((site_v1.root / "agent" / "downloads").glob("*"))


def test_job_for_another_device_class_is_rejected(site_v1: Site) -> None:
    bundle = site_v1.bundle(2)
    doc = site_v1.job(bundle, 2, device_class="gpu")
    report = site_v1.agent().handle("job-gpu", doc.model_dump(mode="json"))
    assert report is not None and report.reason == "wrong_device_class"
    assert len(site_v1.web.requests) == 1  # only v1 was ever fetched
    assert_serving_only(site_v1, 1)


def test_invalid_job_document_is_rejected_in_one_line(site_v1: Site) -> None:
    report = site_v1.agent().handle("job-bad", {"format": "edgecv-ota-job/1", "bundle_url": "ftp://x"})
    assert report is not None and report.outcome is JobOutcome.REJECTED and report.reason == "job_invalid"
    assert "\n" not in (report.message or "")


def test_a_job_delivered_twice_is_reported_again_not_redone(site_v1: Site) -> None:
    calls = len(site_v1.server.state.calls)
    bundle = site_v1.bundle(1)
    doc = site_v1.job(bundle, 1)
    report = site_v1.agent().handle("job-v1", doc.model_dump(mode="json"))
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED
    assert len(site_v1.server.state.calls) == calls
    assert len(site_v1.reports) == 2


def test_a_report_that_cannot_be_sent_is_sent_at_the_next_start(site_v1: Site) -> None:
    site_v1.fail_reports = True
    assert site_v1.install(2) is None
    assert site_v1.server.serving_versions() == {MODEL: 2}
    current = site_v1.agent().journal.current()
    assert current is not None and current.step is JobStep.RETIRED
    site_v1.fail_reports = False
    report = site_v1.agent().recover()
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED and report.figures.restarts == 1
    assert site_v1.agent().journal.current() is None


def test_only_the_serving_versions_extracted_bundle_is_kept(site_v1: Site) -> None:
    site_v1.install(2)
    verified = site_v1.root / "agent" / "verified"
    assert [p.name for p in verified.iterdir()] == ["job-v2"]
    assert not list((site_v1.root / "agent" / "downloads").iterdir())


def test_audit_flags_a_kept_manifest_that_no_longer_verifies(site_v1: Site) -> None:
    agent = site_v1.agent()
    assert agent.audit() == []
    manifest = site_v1.root / "agent" / "verified" / "job-v1" / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"cpu"', b'"gpu"'))
    assert agent.audit() == [f"{MODEL} v1: the kept manifest does not verify for this version"]
    assert "PROBLEM" in agent.status().text()


def test_audit_flags_a_served_version_the_record_does_not_name(site_v1: Site) -> None:
    site_v1.server.state.serving = {MODEL: 7}
    assert site_v1.agent().audit() == [f"{MODEL} serves v7 but the OTA record says v1"]


def test_a_new_job_waits_while_the_last_one_is_not_reported(site_v1: Site) -> None:
    site_v1.fail_reports = True
    assert site_v1.install(2) is None
    site_v1.fail_reports = True
    bundle = site_v1.bundle(3)
    assert site_v1.agent().handle("job-v3", site_v1.job(bundle, 3).model_dump(mode="json")) is None
    current = site_v1.agent().journal.current()
    assert current is not None and current.job_id == "job-v2"  # not overwritten by job-v3
    site_v1.fail_reports = False
    report = site_v1.agent().handle("job-v3", site_v1.job(bundle, 3).model_dump(mode="json"))
    assert report is not None and report.job_id == "job-v3" and report.outcome is JobOutcome.SUCCEEDED
    assert [r.job_id for r in site_v1.reports] == ["job-v1", "job-v2", "job-v3"]


def test_a_report_the_cloud_refuses_ends_the_job_here(site_v1: Site) -> None:
    from edge_appliance.ota.errors import ReportRefusedError

    def refuse(report: object) -> None:
        raise ReportRefusedError("InvalidStateTransition: the job was canceled")

    site_v1.report = refuse  # type: ignore[method-assign]
    report = site_v1.install(2)
    assert report is not None and report.outcome is JobOutcome.SUCCEEDED
    assert site_v1.agent().journal.current() is None  # not wedged waiting to resend


def test_a_job_that_does_not_fit_on_disk_fails_before_downloading(site_v1: Site) -> None:
    from edge_appliance.ota.agent import OtaAgent

    agent = site_v1.agent()
    tight = OtaAgent(agent.config, agent.keys, site_v1.server, agent.downloader, site_v1.report,
                     disk_free=lambda path: 10 << 20)
    bundle = site_v1.bundle(2)
    report = tight.handle("job-big", site_v1.job(bundle, 2).model_dump(mode="json"))
    assert report is not None and (report.outcome, report.reason) == (JobOutcome.FAILED, "no_space")
    assert len(site_v1.web.requests) == 1  # only v1 was ever fetched
    assert_serving_only(site_v1, 1)
