"""Auto-labeling hands the teacher the (PRO, DEST) pairs of the sample's site manifests from the curated bucket."""

from __future__ import annotations

import json
from collections.abc import Sequence

from contracts.annotations import AnnotatedFrame, ManifestPallet, TruckManifest
from contracts.pro import make_pro
from contracts.samples import HardNegativeSample
from lambdas.autolabel.core import autolabel, site_lexicon
from lambdas.common.deps import Deps
from lambdas.common.events import DeidResult, TrainingState
from lambdas.common.interfaces import Labeled
from lambdas.common.layout import FRAME, RECORD, manifest_prefix
from tests.unit.cloud.conftest import frame_with_person, sample_record


class RecordingLabeler:
    name = "recording"

    def __init__(self) -> None:
        self.lexicons: dict[str, list[tuple[str, str]]] = {}

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str,
              lexicon: Sequence[tuple[str, str]] = ()) -> Labeled:
        self.lexicons[sample.sample_id] = list(lexicon)
        return Labeled(frame=AnnotatedFrame(image=image_name, width=160, height=120, pallets=[]), confidence=0.9)


def _manifest(truck: str, *pairs: tuple[str, str]) -> bytes:
    return TruckManifest(truck_id=truck, door="D01",
                         pallets=[ManifestPallet(pro=p, dest=d) for p, d in pairs]).model_dump_json().encode()


def test_each_sample_is_labeled_against_its_own_sites_manifests(deps: Deps) -> None:
    s3, bucket = deps.aws("s3"), deps.settings.curated_bucket
    a, b, c = make_pro("100200300"), make_pro("482711930"), make_pro("555123999")
    s3.put_object(Bucket=bucket, Key=f"{manifest_prefix('site1')}TRK-1.json", Body=_manifest("TRK-1", (a, "MEM")))
    s3.put_object(Bucket=bucket, Key=f"{manifest_prefix('site1')}TRK-2.json", Body=_manifest("TRK-2", (b, "ATL")))
    s3.put_object(Bucket=bucket, Key=f"{manifest_prefix('site1')}broken.json", Body=b'{"format": "nope"}')
    s3.put_object(Bucket=bucket, Key=f"{manifest_prefix('site2')}TRK-3.json", Body=_manifest("TRK-3", (c, "DFW")))
    image, box = frame_with_person(blurred=True)
    prefixes = []
    for sample_id, site in (("sample-site1-a", "site1"), ("sample-site2-a", "site2"), ("sample-site9-a", "site9")):
        record = sample_record(sample_id, box, site=site)
        prefix = record.key_prefix()
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{RECORD}", Body=record.model_dump_json().encode())
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{FRAME}", Body=image)
        prefixes.append(prefix)
    s3.put_object(Bucket=bucket, Key="runs/r9/deid.json", Body=json.dumps({"curated": prefixes}).encode())
    deps.labeler = labeler = RecordingLabeler()

    result = autolabel(TrainingState(run_id="r9", deid=DeidResult(manifest_key="runs/r9/deid.json", curated=3,
                                                                  quarantined=0)), deps)

    assert result.labeled == 3
    assert sorted(labeler.lexicons["sample-site1-a"]) == sorted([(a, "MEM"), (b, "ATL")])  # the broken one skipped
    assert labeler.lexicons["sample-site2-a"] == [(c, "DFW")]
    assert labeler.lexicons["sample-site9-a"] == []  # a site without manifests: the reader alone


def test_a_site_without_manifests_has_an_empty_lexicon(deps: Deps) -> None:
    assert site_lexicon(deps.aws("s3"), deps.settings.curated_bucket, "nowhere") == []
