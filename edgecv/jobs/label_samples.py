"""Teacher labeling job: label every de-identified sample of a run with the teacher, against its site's manifests.

    python -m edgecv.jobs.label_samples --input-root IN --output-root OUT [--teacher trained|edge-v1]

Inputs: `samples/` (the run's curated samples as `samples/<site>/<camera>/<id>/{frame.jpg,sample.json}`) and,
when the site feed has any, `manifests/` (`<site>/<truck>.json`, `edgecv-manifest/1`). Each label is read
against the (PRO, DEST) pairs of its own site's manifests (`read_label_in_lexicon`); a manifest that is not
`edgecv-manifest/1` is skipped with a warning. Output: `labels/<sample prefix>/label.json` for every sample
(`{"frame": edgecv-annotations/1 frame, "confidence": weakest box, "labeler": name, "unblurred_people": n}`),
uploaded next to the sample in the curated bucket. A sample that cannot be labeled fails the job (no partial labels
are uploaded). `unblurred_people`: people the teacher found that the site did not report, hence did not blur (the
site blurs exactly the person boxes it reports); the collecting step withholds such a sample
(`lambdas.autolabel.core.collect_labels`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from contracts.annotations import AnnotatedFrame, TruckManifest
from contracts.evaluation import share_inside
from contracts.samples import HardNegativeSample
from edgecv.jobs import JobInputError, channel, job_parser
from edgecv.jobs.teacher import STAND_IN_REPOSITORY, Labeled, TeacherPipelineLabeler

FRAME, RECORD, LABEL = "frame.jpg", "sample.json", "label.json"
TEACHERS = ("trained", "edge-v1")


class Labeler(Protocol):
    name: str

    def label(self, image: bytes, sample: HardNegativeSample, image_name: str,
              lexicon: Sequence[tuple[str, str]] = ()) -> Labeled: ...


def site_lexicon(manifests: Path | None, site_id: str) -> list[tuple[str, str]]:
    """The (PRO, DEST) pairs of every truck manifest of a site; a malformed manifest is skipped, with a warning."""
    pairs: list[tuple[str, str]] = []
    folder = manifests / site_id if manifests is not None else None
    if folder is None or not folder.is_dir():
        return pairs
    for path in sorted(folder.glob("*.json")):
        try:
            manifest = TruckManifest.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            print(f"label job: skipping manifest {site_id}/{path.name}: {str(exc).splitlines()[0]}", file=sys.stderr)
            continue
        pairs.extend((pallet.pro, pallet.dest) for pallet in manifest.pallets)
    return pairs


# A person the teacher finds counts as blurred when at least this share of its box lies inside one box the site
# reported (the site blurs each reported box grown by a margin, `edge_appliance.privacy`).
BLURRED_COVER = 0.5


def unblurred_people(labeled: AnnotatedFrame, sample: HardNegativeSample, cover: float = BLURRED_COVER) -> int:
    """How many of the people in the teacher's label lie mostly outside every person box the site reported."""
    reported = [p.bbox for p in sample.prediction.people]
    return sum(max((share_inside(person.bbox.as_list(), r) for r in reported), default=0.0) < cover
               for person in labeled.people or [])


def sample_folders(samples: Path) -> list[Path]:
    return sorted(p.parent for p in samples.rglob(RECORD))


def label_samples(samples: Path, manifests: Path | None, labeler: Labeler, out: Path) -> int:
    """Label every sample folder under `samples`; write `out/<same relative folder>/label.json`. Returns the count."""
    folders = sample_folders(samples)
    if not folders:
        raise JobInputError(f"no {RECORD} under {samples}")
    lexicons: dict[str, list[tuple[str, str]]] = {}
    written = 0
    for folder in folders:
        rel = folder.relative_to(samples)
        try:
            sample = HardNegativeSample.model_validate_json((folder / RECORD).read_bytes())
            image = (folder / FRAME).read_bytes()
        except (ValidationError, OSError) as exc:
            raise JobInputError(f"sample {rel} is unreadable: {str(exc).splitlines()[0]}") from exc
        if sample.site_id not in lexicons:
            lexicons[sample.site_id] = site_lexicon(manifests, sample.site_id)
        labeled = labeler.label(image, sample, f"images/{sample.sample_id}.jpg", lexicon=lexicons[sample.site_id])
        target = out / rel / LABEL
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"frame": json.loads(labeled.frame.model_dump_json()),
                                      "confidence": labeled.confidence, "labeler": labeler.name,
                                      "unblurred_people": unblurred_people(labeled.frame, sample)}, sort_keys=True))
        written += 1
    return written


def teacher(kind: str) -> TeacherPipelineLabeler:
    if kind == "edge-v1":  # the edge's own v1 networks: for plumbing tests, not for a real flywheel
        return TeacherPipelineLabeler(STAND_IN_REPOSITORY, "1", name="v1-stand-in-for-teacher")
    return TeacherPipelineLabeler.local_default()


def main(argv: Sequence[str] | None = None) -> int:
    parser = job_parser("Label a run's de-identified samples with the teacher, against the site manifests.")
    parser.add_argument("--teacher", choices=TEACHERS, default="trained",
                        help="trained: the teacher networks (v1 standing in where none is trained); edge-v1: v1 only")
    args = parser.parse_args(argv)
    manifests = args.input_root / "manifests"
    try:
        samples = channel(args.input_root, "samples")
        labeler = teacher(args.teacher)
        count = label_samples(samples, manifests if manifests.is_dir() else None, labeler,
                              args.output_root / "labels")
    except (JobInputError, OSError) as exc:
        print(f"label job: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, JobInputError) else 1
    print(f"label job: {count} samples labeled by {labeler.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
