"""The demo's cloud steps around the state machines: what an operator or an earlier release would have left.

- `publish_baseline`: v1 as production in the registry (its KMS-signed bundle in the artifacts bucket, an
  Approved package with the golden metrics measured through the ensemble), so the gate's no-regression check
  and the rollout's rollback target are real.
- `upload_dataset`, `upload_checkpoint`, `upload_manifests`: the golden and replay sets (curated bucket), v1's torch
  checkpoint (the `init` channel the training job fine-tunes from) and the sites' truck manifests (dropped in the
  landing bucket as the TMS integration would; the manifest feed curates them; the teacher reads labels against them).
- `execution_stages`: a Step Functions execution's history split into named stages with their durations.
- `regressed_release`: a deliberately broken v3 (v2's weights with the reader's CTC blank pushed up: it reads
  almost nothing; for the damage classifier, its logit pushed up), signed by the same KMS key: a bad model, not a
  bad signature, so only the smoke test and the rollout's health checks can stop it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.bundles import ModelSource, TrustedKey, build_bundle, extract_verified, read_lineage, verify_bundle
from edgecv.kms_signer import KmsSigner
from lambdas.common.events import Release
from lambdas.common.registry import METRIC_PREFIX, package_group_name
from lambdas.evaluate.gate import flatten
from lambdas.localcloud.cloud import LocalCloud

REPO_ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = REPO_ROOT / "model_repository"
CHECKPOINTS = REPO_ROOT / "training" / "checkpoints"


def bundle_key(model: str, version: int) -> str:
    return f"bundles/{model}/{version}/bundle.tar.gz"


def upload_release(cloud: LocalCloud, bundle: Path, model: str, version: int, signer: KmsSigner) -> Release:
    assert cloud.settings is not None
    data = bundle.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    key = bundle_key(model, version)
    cloud.client("s3").put_object(Bucket=cloud.settings.artifacts_bucket, Key=key, Body=data,
                                  Metadata={"sha256": sha})
    return Release(bucket=cloud.settings.artifacts_bucket, key=key, sha256=sha, size=len(data), model_name=model,
                   version=version, device_class="cpu", signer_key_id=signer.key_id)


def publish_baseline(cloud: LocalCloud, signer: KmsSigner, model: str, golden_report: dict, work: Path) -> Release:
    """v1 of `model` as production: signed bundle in the artifacts bucket, Approved package with its metrics."""
    source = work / "v1-source" / model
    (source / "1").mkdir(parents=True)
    for path in (REPOSITORY / model / "1").iterdir():
        if path.is_file():
            shutil.copy2(path, source / "1" / path.name)
    out = work / f"{model}-1.tar.gz"
    build_bundle([ModelSource(source, 1)], "cpu", signer, out, lineage=read_lineage(source / "1" / "lineage.json"),
                 created_at=datetime.now(UTC))
    release = upload_release(cloud, out, model, 1, signer)
    metrics = flatten(golden_report)
    cloud.client("sagemaker").create_model_package(
        ModelPackageGroupName=package_group_name(model), ModelApprovalStatus="Approved",
        ModelPackageDescription=f"{model} v1: the shipped edge model (baseline)",
        CustomerMetadataProperties={"version": "1", "bundle_uri": f"s3://{release.bucket}/{release.key}",
                                    "bundle_sha256": release.sha256, "run_id": "shipped-v1",
                                    **{f"{METRIC_PREFIX}{k}": f"{v:.4f}" for k, v in metrics.items()}})
    return release


def upload_dataset(cloud: LocalCloud, dataset: Path, prefix: str) -> str:
    """An edgecv-annotations set in the curated bucket under `prefix`; returns its s3:// URI."""
    assert cloud.settings is not None
    s3 = cloud.client("s3")
    for path in sorted(dataset.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), cloud.settings.curated_bucket, f"{prefix}{path.relative_to(dataset)}")
    return f"s3://{cloud.settings.curated_bucket}/{prefix}"


def upload_manifests(cloud: LocalCloud, sequences: dict[str, Path]) -> int:
    """Each site's truck manifest dropped where the transport management system's integration writes it
    (`manifests/<site>/<truck>.json` in the landing bucket); the S3 notification runs the manifest feed, which
    validates it into the curated bucket, where the teacher reads that site's labels against it. Returns how many
    were curated."""
    from botocore.exceptions import ClientError

    from contracts.annotations import TruckManifest
    from lambdas.common.layout import manifest_prefix

    assert cloud.settings is not None
    s3 = cloud.client("s3")
    curated = 0
    for site, sequence in sequences.items():
        manifest = TruckManifest.model_validate_json((sequence / "manifest.json").read_bytes())
        key = f"{manifest_prefix(site)}{manifest.truck_id}.json"
        s3.put_object(Bucket=cloud.settings.landing_bucket, Key=key, Body=manifest.model_dump_json().encode())
        try:
            s3.head_object(Bucket=cloud.settings.curated_bucket, Key=key)
            curated += 1
        except ClientError:
            pass  # parked by the feed (the demo reports the count)
    return curated


def upload_checkpoint(cloud: LocalCloud, model: str, version: int = 1) -> str:
    """The shipped torch checkpoint of `model` vN in the artifacts bucket; returns its s3:// prefix."""
    assert cloud.settings is not None
    folder = CHECKPOINTS / f"v{version}" / model
    if not (folder / "model.pt").is_file():
        raise FileNotFoundError(f"no checkpoint at {folder / 'model.pt'} (training/checkpoints is part of the repo)")
    prefix = f"checkpoints/{model}/{version}/"
    s3 = cloud.client("s3")
    for path in folder.iterdir():
        if path.is_file():
            s3.upload_file(str(path), cloud.settings.artifacts_bucket, prefix + path.name)
    return f"s3://{cloud.settings.artifacts_bucket}/{prefix}"


# The training state machine's states, grouped into the stages the demo reports.
TRAINING_STAGES = {
    "ingest": ("Ingest",), "deidentify": ("Deidentify",),
    "auto_label": ("StartAutoLabel", "WaitForLabels", "PollAutoLabel", "LabelRoute", "LabelingFailed"),
    "review": ("ReviewGate", "ReviewRoute", "HumanReview", "HumanRoute", "ReviewRejected"),
    "train": ("BuildDataset", "StartTraining", "WaitForTraining", "PollTraining", "TrainingRoute", "TrainingFailed"),
    "eval_gate": ("StartEvaluation", "WaitForEvaluation", "PollEvaluation", "GateRoute", "GateFailed",
                  "EvaluationFailed"), "export": ("Export",), "sign": ("Sign",),
    "register": ("Register",),
}


def execution_stages(cloud: LocalCloud, execution_arn: str, groups: dict[str, tuple[str, ...]] = TRAINING_STAGES
                     ) -> dict[str, float]:
    """Seconds spent per stage (entered -> next state entered), from the execution history."""
    history = cloud.client("stepfunctions").get_execution_history(executionArn=execution_arn,
                                                                  maxResults=1000)["events"]
    entered = [(e["stateEnteredEventDetails"]["name"], e["timestamp"]) for e in history
               if "stateEnteredEventDetails" in e]
    end = history[-1]["timestamp"] if history else None
    per_state: dict[str, float] = {}
    for i, (name, at) in enumerate(entered):
        until = entered[i + 1][1] if i + 1 < len(entered) else end
        per_state[name] = per_state.get(name, 0.0) + (until - at).total_seconds()
    stages: dict[str, float] = {}
    for state, seconds in per_state.items():
        stage = next((s for s, names in groups.items() if state in names), state)
        stages[stage] = round(stages.get(stage, 0.0) + seconds, 2)
    return stages


def last_state_output(cloud: LocalCloud, execution_arn: str) -> dict[str, Any]:
    """The output of the last state that finished (what a failed execution had got to)."""
    import json

    history = cloud.client("stepfunctions").get_execution_history(executionArn=execution_arn,
                                                                  maxResults=1000)["events"]
    for event in reversed(history):
        output = event.get("stateExitedEventDetails", {}).get("output")
        if output:
            try:
                data = json.loads(output)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def _push_damage_logit(onnx_path: Path, shift: float) -> None:
    """The damage classifier's logit pushed up: it calls every pallet damaged."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    gemm = [n for n in model.graph.node if n.op_type == "Gemm"][-1]
    bias = next(i for i in model.graph.initializer if i.name == gemm.input[2])
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias).astype(np.float32) + shift, bias.name))
    onnx.save(model, str(onnx_path))


def _push_blank(onnx_path: Path, shift: float) -> None:
    """The label reader's CTC blank pushed up on both heads: it reads (almost) nothing."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    for name in ("pro.out.bias", "dest.out.bias"):
        bias = next(i for i in model.graph.initializer if i.name == name)
        values = numpy_helper.to_array(bias).astype(np.float32).copy()
        values[0] += shift
        bias.CopyFrom(numpy_helper.from_array(values, name))
    onnx.save(model, str(onnx_path))


# network -> (how to break it, by how much): a blank pushed up by 6 still let a confident reader read a third of the
# canary's labels, enough to pass its smoke test; 20 silences it.
REGRESSIONS = {"damage_classifier": (_push_damage_logit, 6.0), "ocr": (_push_blank, 20.0)}


def regressed_release(cloud: LocalCloud, signer: KmsSigner, good: Release, version: int, work: Path,
                      shift: float | None = None) -> Release:
    """`good`'s model broken on purpose (`REGRESSIONS`: the damage logit or the reader's blank shifted up by
    `shift`, by default the network's own in `REGRESSIONS`), as a signed v`version` in the artifacts bucket."""
    with tempfile.TemporaryDirectory(prefix="edgecv-regressed-", dir=work) as tmp_name:
        tmp = Path(tmp_name)
        downloaded = tmp / "good.tar.gz"
        cloud.client("s3").download_file(good.bucket, good.key, str(downloaded))
        verified = verify_bundle(downloaded, [TrustedKey(signer.public_key(), "kms")])
        root = extract_verified(verified, tmp / "good")
        model_dir = root / good.model_name
        (model_dir / str(good.version)).rename(model_dir / str(version))
        regress, default_shift = REGRESSIONS[good.model_name]
        regress(model_dir / str(version) / "model.onnx", default_shift if shift is None else shift)
        out = tmp / "regressed.tar.gz"
        lineage: Any = verified.manifest.lineage
        build_bundle([ModelSource(model_dir, version)], "cpu", signer, out, lineage=lineage,
                     created_at=datetime.now(UTC))
        return upload_release(cloud, out, good.model_name, version, signer)


class DemoReviewer:
    """The person at the review gate, played by the demo: when the training execution parks a review task (the
    teacher's labels were not all confident enough to auto-approve), it approves it through the same call a review
    tool makes (`lambdas.review.core.submit_review`, SendTaskSuccess with the task token). A thread, so the demo can
    wait on the execution meanwhile; `stop()` ends it however the execution ended."""

    def __init__(self, cloud: LocalCloud, run_id: str, reviewer: str = "demo-operator",
                 poll_s: float = 0.5) -> None:
        import threading

        self.cloud, self.run_id, self.reviewer, self.poll_s = cloud, run_id, reviewer, poll_s
        self.task: dict[str, Any] | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-reviewer", daemon=True)

    def start(self) -> DemoReviewer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from lambdas.common.s3io import get_json, list_keys
        from lambdas.review.core import review_task_key, submit_review

        s3, bucket, key = self.cloud.client("s3"), self.cloud.settings.curated_bucket, review_task_key(self.run_id)
        while not self._stop.wait(self.poll_s):
            if not any(True for _ in list_keys(s3, bucket, key)):
                continue
            try:
                self.task = get_json(s3, bucket, key)
                labeled = self.task["labels"]["labeled"]
                submit_review(self.cloud.client("stepfunctions"), self.task["task_token"], approved=True,
                              reviewer=self.reviewer, reason=f"demo: {labeled} teacher-labeled frames accepted "
                                                             f"unseen (a person would inspect them here)")
            except Exception as exc:  # the execution then times out at the gate; the demo reports why
                self.error = f"{type(exc).__name__}: {exc}"
            return
