"""Any sequence of jobs and injected failures: what serves is always what the last successful job installed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.bundles import LocalSigner
from contracts.jobs import JobOutcome
from edge_appliance.ota.model_server import FakeModelServer
from tests.ota_support import MODEL, FakeWeb, job_for
from tests.unit.ota.conftest import Site

FAULTS = ["stage", "load_beside", "smoke_test", "switch", "retire"]
KINDS = ["upgrade", "rollback", "tampered", "smoke_bad", *(f"fault:{f}" for f in FAULTS)]
SIGNER = LocalSigner.generate()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
def test_serving_follows_the_last_successful_job(kinds: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site = Site(root, SIGNER, FakeWeb(), FakeModelServer(root / "repository"))
        assert site.install(1) is not None
        serving, newest = 1, 1
        for i, kind in enumerate(kinds):
            target, expect = newest + 1, JobOutcome.SUCCEEDED
            rollback = kind == "rollback" and serving > 1
            if rollback:
                target = serving - 1
            bundle = site.bundle(target, rollback=rollback)
            if kind == "tampered":
                data = bytearray(bundle.read_bytes())
                data[len(data) // 2] ^= 0xFF
                bundle = bundle.with_name("tampered.tar.gz")
                bundle.write_bytes(bytes(data))
                expect = JobOutcome.REJECTED
            elif kind == "smoke_bad":
                site.server.set_quality(MODEL, target, accuracy=0.2)
                expect = JobOutcome.FAILED
            elif kind.startswith("fault:"):
                site.server.fail(kind.split(":")[1])
                expect = JobOutcome.SUCCEEDED if kind == "fault:retire" else JobOutcome.FAILED
            doc = job_for(bundle, site.web.add(bundle), {MODEL: target}, rollback=rollback)
            report = site.agent().handle(f"job-{i}", doc.model_dump(mode="json"))
            site.server.heal()
            site.server.set_quality(MODEL, target, accuracy=1.0)
            assert report is not None and report.outcome is expect, (kind, report)
            if expect is JobOutcome.SUCCEEDED:
                serving = target
            newest = max(newest, target)
            assert site.server.serving_versions() == {MODEL: serving} == report.serving
            assert serving in site.server.loaded_versions()[MODEL]
            assert site.agent().journal.current() is None
            status = site.agent().status()
            assert status.installed[MODEL].version == serving and status.problems == []
