"""`edgecv bench sampler`: hard-case recall vs upload rate of the edge sampler at its default settings.

Forklift sequences with known ground truth (rendered once, cached) run through the real path: a local Triton ->
`CameraPipeline` (BLOCK overload, unpaced, so nothing is dropped) -> `SiteDecisions` with the truck manifest of
each sequence and a `HardNegativeRecorder(HardNegativeSampler(SamplerConfig()), SampleCapture(MemorySampleStore))`.
All sequences are one camera's stream, one truck after the other, so the sampler's per-camera budget runs on as it
would at a site; the sampler's clock is the camera's (frame time at the rendered fps), not the benchmark's wall
clock, so its per-minute caps act as they would on a live camera however fast the pipeline runs. The sampler
admits its candidates when an admission window closes; the stream's last window closes when it ends (`flush`).

Scoring (pure functions below): each decided pass is matched to the true pass its frames overlap most. A decision
is WRONG when its PRO or DEST differs from the truth (an unread label counts), its damage flag differs, it has no
true pallet (false pass) or it is a second decision of a pallet already decided (duplicate: a double count); a
true pass without any decision is a missed pallet. A wrong decision is CAPTURED when a stored sample holds one of
its frames (or is tagged with its pass id); a missed pallet when a stored frame lies within its true frame range.
recall = captured / wrong; upload rate = stored frames / frames. The sequences are dense (a pallet pass every
~2 s, no idle dock between trucks), so the share of frames is the harshest reading of the upload budget: at
~32 frames a pass, 0.5% of frames is 0.16 uploads a pass.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from contracts.annotations import AnnotationSet, TruckManifest, load_annotation_set
from contracts.decisions import PalletPassDecision
from contracts.errors import EdgecvError

BENCH_FORMAT = "edgecv-sampler-bench/1"
PRESETS = ("default", "shifted", "drift", "mixed")
MIXED_CYCLE = ("shifted", "default", "drift")  # v1 reads shifted labels badly: that is where wrong decisions are
PASSES_PER_SEQUENCE = 4  # one truck per sequence
DEFAULT_PASSES = 36
BENCH_SEED = 20261123
FPS = 15.0
CAMERA_ID = "bench-sampler"
TARGET_RECALL = 0.95
TARGET_UPLOAD_RATE = 0.005
START_TIME = 1_800_000_000.0  # the camera's clock (unix seconds) at the first frame


class BenchError(EdgecvError):
    """The sampler benchmark cannot run (bad arguments, a sequence that cannot be rendered or read)."""


class WrongKind(StrEnum):
    UNREAD = "unread"  # no valid PRO read for a true pallet
    MISREAD = "misread"  # a valid PRO, but not the pallet's
    DEST = "dest"  # right PRO, DEST missing or wrong
    DAMAGE = "damage"  # damage flag differs from the truth
    FALSE_PASS = "false_pass"  # a decided pass with no true pallet
    DUPLICATE_PASS = "duplicate_pass"  # a second decision for a pallet already decided (double count)
    MISSED_PALLET = "missed_pallet"  # a true pass no decision covers


# ---------------------------------------------------------------------------------------------- scoring (pure)
@dataclass(frozen=True)
class TruePass:
    key: str  # e.g. "seq03/p1"
    frames: frozenset[int]  # camera frame ids in which the pallet is annotated
    pro: str | None
    dest: str | None
    damaged: bool


@dataclass(frozen=True)
class DecidedPass:
    pass_id: str
    frames: frozenset[int]
    pro: str | None
    dest: str | None
    damaged: bool
    reasons: frozenset[str] = frozenset()  # why the sampler's pass-level policy would keep it (before any budget)

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)

    @classmethod
    def from_decision(cls, decision: PalletPassDecision, reasons: Iterable[str] = ()) -> DecidedPass:
        return cls(decision.pass_id, frozenset(decision.frame_ids), decision.pro, decision.dest, decision.damaged,
                   frozenset(reasons))


@dataclass(frozen=True)
class PassMatch:
    """A decision and the truth it was matched to; either side may be missing (false pass / missed pallet)."""

    decision: DecidedPass | None
    truth: TruePass | None
    kinds: frozenset[WrongKind]

    @property
    def wrong(self) -> bool:
        return bool(self.kinds)


@dataclass(frozen=True)
class StoredFrames:
    """What the buffer holds at the end: the frame ids of stored samples and the pass ids they were taken for."""

    frame_ids: frozenset[int]
    pass_ids: frozenset[str]
    samples: int  # samples stored (a frame is stored at most once by the sampler, but count what is there)


def true_passes(annotations: AnnotationSet, frame_tracks: Sequence[Sequence[int]], first_frame_id: int,
                prefix: str) -> list[TruePass]:
    """The ground-truth passes of one sequence; frame i of the set is camera frame `first_frame_id + i`."""
    if len(frame_tracks) != len(annotations.frames):
        raise BenchError(f"{prefix}: tracks.json has {len(frame_tracks)} frames, annotations "
                         f"{len(annotations.frames)}")
    frames: dict[int, set[int]] = {}
    labels: dict[int, Counter[tuple[str, str]]] = {}
    damaged: dict[int, bool] = {}
    for i, (frame, tracks) in enumerate(zip(annotations.frames, frame_tracks, strict=True)):
        if len(tracks) != len(frame.pallets):
            raise BenchError(f"{prefix}: frame {i} has {len(frame.pallets)} pallets but {len(tracks)} track ids")
        for pallet, k in zip(frame.pallets, tracks, strict=True):
            frames.setdefault(k, set()).add(first_frame_id + i)
            labels.setdefault(k, Counter())
            if pallet.label is not None:
                labels[k][(pallet.label.pro, pallet.label.dest)] += 1
            damaged[k] = damaged.get(k, False) or pallet.damaged
    out = []
    for k in sorted(frames):
        top = labels[k].most_common(1)
        pro, dest = top[0][0] if top else (None, None)
        out.append(TruePass(f"{prefix}/p{k}", frozenset(frames[k]), pro, dest, damaged[k]))
    return out


def decision_faults(decision: DecidedPass, truth: TruePass) -> frozenset[WrongKind]:
    """How a decision matched to a true pallet is wrong (empty: correct)."""
    kinds: set[WrongKind] = set()
    if decision.pro is None:
        if truth.pro is not None:
            kinds.add(WrongKind.UNREAD)
    elif decision.pro != truth.pro:
        kinds.add(WrongKind.MISREAD)
    elif decision.dest != truth.dest:
        kinds.add(WrongKind.DEST)
    if decision.damaged != truth.damaged:
        kinds.add(WrongKind.DAMAGE)
    return frozenset(kinds)


def match_passes(decisions: Iterable[DecidedPass], truths: Iterable[TruePass]) -> list[PassMatch]:
    """Each decision to the true pass its frames overlap most (ties: the earlier truth); then score them.

    The decision overlapping a truth most is its decision; any other one matched to it is a duplicate.
    """
    truths = list(truths)
    by_truth: dict[str, list[tuple[int, DecidedPass]]] = {t.key: [] for t in truths}
    matches: list[PassMatch] = []
    for decision in decisions:
        best, overlap = None, 0
        for truth in truths:
            n = len(decision.frames & truth.frames)
            if n > overlap:
                best, overlap = truth, n
        if best is None:
            matches.append(PassMatch(decision, None, frozenset({WrongKind.FALSE_PASS})))
        else:
            by_truth[best.key].append((overlap, decision))
    for truth in truths:
        candidates = sorted(by_truth[truth.key], key=lambda c: (-c[0], min(c[1].frames), c[1].pass_id))
        if not candidates:
            matches.append(PassMatch(None, truth, frozenset({WrongKind.MISSED_PALLET})))
            continue
        first, *rest = candidates
        matches.append(PassMatch(first[1], truth, decision_faults(first[1], truth)))
        matches.extend(PassMatch(d, truth, frozenset({WrongKind.DUPLICATE_PASS})) for _, d in rest)
    return matches


def is_captured(match: PassMatch, stored: StoredFrames) -> bool:
    """A stored sample shows this decision (one of its frames, or taken for its pass), or for a missed pallet a
    stored frame lies within the pallet's true frame range."""
    if match.decision is not None:
        return bool(match.decision.frames & stored.frame_ids) or match.decision.pass_id in stored.pass_ids
    assert match.truth is not None
    lo, hi = min(match.truth.frames), max(match.truth.frames)
    return any(lo <= f <= hi for f in stored.frame_ids)


def score(matches: Sequence[PassMatch], stored: StoredFrames, frames: int) -> dict:
    """The benchmark's figures from the matches, what was stored and how many frames the camera produced."""
    wrong = [m for m in matches if m.wrong]
    captured = [m for m in wrong if is_captured(m, stored)]
    correct = [m for m in matches if not m.wrong]
    by_kind = {}
    for kind in WrongKind:
        of_kind = [m for m in wrong if kind in m.kinds]
        by_kind[kind.value] = {"wrong": len(of_kind), "captured": sum(is_captured(m, stored) for m in of_kind)}
    n_stored = stored.samples
    flagged_wrong = sum(m.decision is not None and m.decision.flagged for m in wrong)
    recall = len(captured) / len(wrong) if wrong else None
    upload_rate = n_stored / frames if frames else 0.0
    return {
        "frames": frames,
        "true_passes": len({m.truth.key for m in matches if m.truth is not None}),
        "decided_passes": sum(m.decision is not None for m in matches),
        "wrong_decisions": len(wrong),
        "wrong_by_kind": by_kind,
        "captured_wrong_decisions": len(captured),
        "recall": round(recall, 4) if recall is not None else None,
        # what the pass-level policy flagged, budget aside: the recall the sampler could reach with no budget limit
        "flagged_wrong_decisions": flagged_wrong,
        "flagged_recall": round(flagged_wrong / len(wrong), 4) if wrong else None,
        "flagged_correct_decisions": sum(m.decision is not None and m.decision.flagged for m in correct),
        "pass_reasons": _reason_table(matches),
        "correct_decisions": len(correct),
        "captured_correct_decisions": sum(is_captured(m, stored) for m in correct),
        "frames_stored": n_stored,
        "upload_rate": round(upload_rate, 6),
        "target": {"recall": TARGET_RECALL, "upload_rate": TARGET_UPLOAD_RATE,
                   "met": recall is not None and recall >= TARGET_RECALL and upload_rate <= TARGET_UPLOAD_RATE},
    }


def _reason_table(matches: Sequence[PassMatch]) -> dict[str, dict[str, int]]:
    """Per pass-level reason: how many wrong and how many correct decisions it flagged (its precision)."""
    table: dict[str, dict[str, int]] = {}
    for m in matches:
        for reason in sorted(m.decision.reasons if m.decision is not None else ()):
            row = table.setdefault(reason, {"wrong": 0, "correct": 0})
            row["wrong" if m.wrong else "correct"] += 1
    return table


def summary_line(result: dict) -> str:
    recall = result["recall"]
    recall_text = "n/a (no wrong decisions)" if recall is None else f"{recall:.3f}"
    verdict = "MET" if result["target"]["met"] else "MISSED"
    return (f"sampler bench ({result['preset']}, {result['true_passes']} passes, {result['frames']} frames): "
            f"recall {recall_text} ({result['captured_wrong_decisions']}/{result['wrong_decisions']} wrong decisions "
            f"captured) at {result['upload_rate']:.2%} of frames uploaded ({result['frames_stored']} stored); "
            f"target recall >= {TARGET_RECALL} at <= {TARGET_UPLOAD_RATE:.1%}: {verdict}")


# ---------------------------------------------------------------------------------------------- sequences
@dataclass(frozen=True)
class SequencePlan:
    name: str
    preset: str
    seed: int
    passes: int


def plan_sequences(passes: int, preset: str, seed: int = BENCH_SEED) -> list[SequencePlan]:
    """Trucks of up to PASSES_PER_SEQUENCE passes; `mixed` cycles shifted, default, drift."""
    if preset not in PRESETS:
        raise BenchError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if passes < 1:
        raise BenchError(f"passes must be at least 1, got {passes}")
    plans, left, i = [], passes, 0
    while left > 0:
        n = min(PASSES_PER_SEQUENCE, left)
        knobs = MIXED_CYCLE[i % len(MIXED_CYCLE)] if preset == "mixed" else preset
        plans.append(SequencePlan(f"{knobs}-{seed + i}-{n}", knobs, seed + i, n))
        left -= n
        i += 1
    return plans


def _render(plan: SequencePlan, out: Path) -> Path:
    from training.synth.scene import DomainKnobs
    from training.synth.sequences import write_sequence

    knobs = {"default": DomainKnobs(), "shifted": DomainKnobs.shifted_preset(),
             "drift": DomainKnobs.drift_preset()}[plan.preset]
    return write_sequence(out, seed=plan.seed, passes=plan.passes, fps=FPS, knobs=knobs)


def ensure_sequences(plans: Sequence[SequencePlan], cache: Path, workers: int = 2,
                     on_rendered: Callable[[SequencePlan, bool], None] | None = None) -> list[Path]:
    """Render what the cache lacks (in `workers` processes); a complete sequence has its manifest.json."""
    dirs = [cache / f"sampler-{plan.name}" for plan in plans]
    todo = [(p, d) for p, d in zip(plans, dirs, strict=True) if not (d / "manifest.json").is_file()]
    for plan, d in zip(plans, dirs, strict=True):
        if (d / "manifest.json").is_file() and on_rendered:
            on_rendered(plan, True)
    if todo:
        cache.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            futures = [(plan, pool.submit(_render, plan, d)) for plan, d in todo]
            for plan, future in futures:
                try:
                    future.result()
                except Exception as exc:
                    raise BenchError(f"cannot render sequence {plan.name}: {exc}") from exc
                if on_rendered:
                    on_rendered(plan, False)
    return dirs


@dataclass(frozen=True)
class LoadedSequence:
    plan: SequencePlan
    directory: Path
    annotations: AnnotationSet
    frame_tracks: list[list[int]]
    manifest: TruckManifest


def load_sequence(plan: SequencePlan, directory: Path) -> LoadedSequence:
    try:
        annotations = load_annotation_set(directory)
        tracks = json.loads((directory / "tracks.json").read_text())["frame_tracks"]
        manifest = TruckManifest.model_validate_json((directory / "manifest.json").read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise BenchError(f"cannot read sequence {directory}: {exc}") from exc
    return LoadedSequence(plan, directory, annotations, tracks, manifest)


# ---------------------------------------------------------------------------------------------- the real path
def pass_flags(decision: PalletPassDecision, config, manifest: TruckManifest | None,
               earlier: Sequence[PalletPassDecision] = ()) -> list[str]:
    """Why the sampler's pass-level policy would keep this pass, asked as the site asks it (none: it would not).
    `earlier`: the site's passes before this one."""
    from edge_appliance.sampler import pass_reasons
    from edge_appliance.site_decisions import manifest_evidence, times_seen

    evidence = (manifest_evidence(decision, manifest, times_seen(decision, earlier))
                if manifest is not None else None)
    disagreements = [evidence] if evidence is not None else []
    return [r.value for r in pass_reasons(decision, config, disagreements)]


class CameraClock:
    """The camera's clock: the timestamp of the frame being decided (what the sampler's time caps run on)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ContinuedSource:
    """A sequence as the continuation of one camera's stream: frame ids go on from `first_frame_id`, timestamps
    are the camera's (`start_time` + frame index / fps), however fast the frames are actually taken."""

    def __init__(self, inner, first_frame_id: int, start_time: float, fps: float) -> None:
        self.inner, self.first_frame_id, self.start_time, self.fps = inner, first_frame_id, start_time, fps

    def frames(self) -> Iterator:
        from edge_appliance.sources import CorruptFrame

        for item in self.inner.frames():
            frame_id = self.first_frame_id + item.frame_id - 1
            if isinstance(item, CorruptFrame):
                yield replace(item, frame_id=frame_id)
            else:
                yield replace(item, frame_id=frame_id, timestamp=self.start_time + (item.frame_id - 1) / self.fps)


class ClockedSink:
    """Sets the camera clock to each frame's timestamp before the site decides it."""

    def __init__(self, sink, clock: CameraClock) -> None:
        self.sink, self.clock = sink, clock

    def on_frame(self, decided) -> None:
        self.clock.now = decided.frame.timestamp
        self.sink.on_frame(decided)

    def on_end(self, camera_id: str) -> None:
        self.sink.on_end(camera_id)


@dataclass
class RunOutput:
    frames: int
    truths: list[TruePass]
    decisions: list[DecidedPass]
    stored: StoredFrames
    pipeline: dict
    sampler: dict
    capture: dict


def run_sequences(client, sequences: Sequence[LoadedSequence], seed: int = BENCH_SEED,
                  on_sequence: Callable[[int, LoadedSequence, dict], None] | None = None) -> RunOutput:
    """One camera's stream through ingest -> Triton -> site decisions + the default sampler and capture."""
    from edge_appliance.capture import CaptureConfig, SampleCapture
    from edge_appliance.hard_negatives import HardNegativeRecorder
    from edge_appliance.ingest import CameraConfig, CameraPipeline, OverloadPolicy
    from edge_appliance.sample_buffer import MemorySampleStore
    from edge_appliance.sampler import HardNegativeSampler, SamplerConfig
    from edge_appliance.site_decisions import SiteDecisions
    from edge_appliance.sources import SyntheticCamera

    store = MemorySampleStore(cap_bytes=1 << 30)  # large enough never to evict: what is stored is what was asked
    store.open()
    capture = SampleCapture(store, CaptureConfig(site_id="bench", queue_size=256))
    capture.start()
    sampler = HardNegativeSampler(SamplerConfig(), rng=random.Random(seed))
    recorder = HardNegativeRecorder(sampler, capture)
    truths: list[TruePass] = []
    decisions: list[DecidedPass] = []
    totals = Counter()
    first_frame_id, started = 1, time.perf_counter()
    try:
        for i, seq in enumerate(sequences):
            start_time = START_TIME + (first_frame_id - 1) / FPS
            clock = CameraClock(start_time)
            site = SiteDecisions("bench", recorder=recorder, manifests={CAMERA_ID: seq.manifest}, clock=clock)
            source = ContinuedSource(SyntheticCamera(seq.directory, fps=None, loops=1), first_frame_id, start_time,
                                     FPS)
            camera = CameraPipeline(CameraConfig(camera_id=CAMERA_ID, overload=OverloadPolicy.BLOCK),
                                    source, client, ClockedSink(site, clock))
            camera.start()
            camera.join()
            c = camera.counters
            totals.update(frames_in=c.frames_in, frames_decided=c.frames_decided, dropped_frames=c.dropped_frames,
                          inference_errors=c.inference_errors, corrupt_frames=c.corrupt_frames)
            truths += true_passes(seq.annotations, seq.frame_tracks, first_frame_id, seq.plan.name)
            decisions += [DecidedPass.from_decision(d, pass_flags(d, sampler.config, seq.manifest, site.decisions[:k]))
                          for k, d in enumerate(site.decisions)]
            if on_sequence:
                on_sequence(i, seq, {"frames": c.frames_decided, "decided_passes": len(site.decisions),
                                     "sampled": site.counters.frames_offered})
            first_frame_id += len(seq.annotations.frames)
        recorder.flush(START_TIME + (first_frame_id - 1) / FPS)  # the stream ends: its last window closes
    finally:
        capture.stop()
    elapsed = time.perf_counter() - started
    samples = [s.sample for e in store.pending() if (s := store.load(e.sample_id)) is not None]
    stored = StoredFrames(frozenset(s.frame_id for s in samples),
                          frozenset(s.pass_id for s in samples if s.pass_id is not None), len(samples))
    pipeline = {**dict(totals), "seconds": round(elapsed, 2),
                "fps": round(totals["frames_decided"] / elapsed, 2) if elapsed > 0 else 0.0}
    counters = capture.counters()
    return RunOutput(first_frame_id - 1, truths, decisions, stored, pipeline,
                     sampler.counters.model_dump(mode="json"),
                     {"queued": counters.queued, "queue_full": counters.queue_full, "outcomes": counters.outcomes})


def bench_sampler(passes: int = DEFAULT_PASSES, preset: str = "mixed", cache: Path = Path(".edgecv/bench"),
                  triton_url: str | None = None, seed: int = BENCH_SEED,
                  on_progress: Callable[[str], None] | None = None) -> dict:
    from edge_appliance.sampler import SamplerConfig
    from edgecv.local_triton import local_pipeline

    say = on_progress or (lambda _: None)
    plans = plan_sequences(passes, preset, seed)
    t0 = time.perf_counter()
    done = [0]

    def rendered(plan: SequencePlan, cached: bool) -> None:
        done[0] += 1
        say(f"  sequence {done[0]}/{len(plans)} {plan.name}: {'cached' if cached else 'rendered'}")

    say(f"render: {len(plans)} sequence(s), {passes} passes ({preset}) under {cache}")
    dirs = ensure_sequences(plans, cache, on_rendered=rendered)
    sequences = [load_sequence(p, d) for p, d in zip(plans, dirs, strict=True)]
    render_s = time.perf_counter() - t0

    def ran(i: int, seq: LoadedSequence, figures: dict) -> None:
        say(f"  run {i + 1}/{len(sequences)} {seq.plan.name}: {figures['frames']} frames, "
            f"{figures['decided_passes']} passes decided, {figures['sampled']} frames sampled")

    say("run: local Triton -> ingest -> site decisions -> sampler (default SamplerConfig)")
    with tempfile.TemporaryDirectory(prefix="edgecv-bench-sampler-") as tmp, \
            local_pipeline(triton_url, workdir=Path(tmp)) as pipeline:
        run = run_sequences(pipeline.client, sequences, seed, on_sequence=ran)
    matches = match_passes(run.decisions, run.truths)
    config = SamplerConfig()
    result = {
        "format": BENCH_FORMAT, "preset": preset, "passes_requested": passes, "seed": seed,
        "sequences": [{"name": s.plan.name, "preset": s.plan.preset, "passes": s.plan.passes,
                       "frames": len(s.annotations.frames)} for s in sequences],
        **score(matches, run.stored, run.frames),
        # the most a camera may keep over this many frames: the tokens it starts with + its hard-case share + the
        # random baseline's share (each bucket is earned per frame seen)
        "budget_bound_rate": round(
            (config.budget_start + (config.budget_share + config.random_rate) * run.frames) / run.frames, 6)
        if run.frames else 0.0,
        "frames_asked": run.sampler["frames_captured"],
        "sampler_config": config.model_dump(mode="json", exclude={"weights"}),
        "sampler": run.sampler, "capture": run.capture, "pipeline": run.pipeline,
        "render_seconds": round(render_s, 2),
        "wrong": [_describe(m, run.stored) for m in matches if m.wrong],
    }
    return result


def _describe(match: PassMatch, stored: StoredFrames) -> dict:
    d, t = match.decision, match.truth
    return {"kinds": sorted(k.value for k in match.kinds), "captured": is_captured(match, stored),
            "flagged": sorted(d.reasons) if d else [],
            "pass_id": d.pass_id if d else None, "truth": t.key if t else None,
            "decided": {"pro": d.pro, "dest": d.dest, "damaged": d.damaged} if d else None,
            "true": {"pro": t.pro, "dest": t.dest, "damaged": t.damaged} if t else None}
