"""Triton model configurations, rendered from one source for each device class.

`cpu` (what runs here): every model is a Python-backend model; the three networks run ONNX Runtime inside it.
`gpu`: the three networks are served by Triton's own `onnxruntime_onnx` backend (with the TensorRT execution
accelerator) or as `tensorrt_plan` engines; pre/post-processing stays in the Python backend either way.

The `pallet_pipeline` ensemble pins every step to an explicit version: a step with `model_version: -1` would follow
the newest loaded version and send traffic to a candidate before its smoke test. Switching traffic to a new model
version is therefore the ensemble's own config change (see the OTA agent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from model_repository import processing as P

REPOSITORY = Path(__file__).resolve().parent
PIPELINE = "pallet_pipeline"
CANDIDATE_PIPELINE = "pallet_pipeline_candidate"  # the same wiring pinned to candidate versions (smoke tests)
NETWORKS = ("detector", "ocr", "damage_classifier")
STEPS = ("preprocess", "postprocess", "decide")
MODELS = NETWORKS + STEPS
DEFAULT_VERSION = 1


class DeviceClass(StrEnum):
    CPU = "cpu"
    GPU = "gpu"


class GpuPlatform(StrEnum):
    ONNXRUNTIME = "onnxruntime_onnx"
    TENSORRT = "tensorrt_plan"


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str  # TYPE_FP32, TYPE_UINT8, TYPE_INT32, TYPE_BOOL, TYPE_STRING
    dims: tuple[int, ...]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    network: bool = False  # an ONNX network (backend differs per device class) vs a Python processing step
    max_batch_size: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    cpu_instances: int = 1
    onnx_threads: int = 1


FP32, UINT8, INT32, BOOL, STRING = "TYPE_FP32", "TYPE_UINT8", "TYPE_INT32", "TYPE_BOOL", "TYPE_STRING"

# The decision tensor set the ensemble returns (one row per detection of that kind).
DECISION_OUTPUTS = (
    Tensor("pallet_boxes", FP32, (-1, 4)),
    Tensor("pallet_scores", FP32, (-1,)),
    Tensor("damage_scores", FP32, (-1,)),
    Tensor("pallet_label_index", INT32, (-1,)),
    Tensor("label_boxes", FP32, (-1, 4)),
    Tensor("label_scores", FP32, (-1,)),
    Tensor("label_pro", STRING, (-1,)),  # "" unless a check-digit-valid, confident read
    Tensor("label_dest", STRING, (-1,)),
    Tensor("label_raw", STRING, (-1,)),
    Tensor("label_read_confidence", FP32, (-1,)),
    Tensor("label_check_digit_ok", BOOL, (-1,)),
    Tensor("person_boxes", FP32, (-1, 4)),
    Tensor("person_scores", FP32, (-1,)),
)

_DETECTIONS = (
    Tensor("boxes", FP32, (-1, 4)),
    Tensor("scores", FP32, (-1,)),
    Tensor("classes", INT32, (-1,)),
)

SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "preprocess",
            inputs=(Tensor("frame", UINT8, (-1, -1, 3)),),
            outputs=(Tensor("image", FP32, (1, 3, 384, 640)), Tensor("scale", FP32, (1,))),
        ),
        ModelSpec(
            "detector", network=True,
            inputs=(Tensor("image", FP32, (3, 384, 640)),),
            outputs=(Tensor("heatmap", FP32, (3, 96, 160)), Tensor("size", FP32, (2, 96, 160)),
                     Tensor("offset", FP32, (2, 96, 160))),
            max_batch_size=4, preferred_batch_sizes=(2, 4), max_queue_delay_us=2000, onnx_threads=2,
        ),
        ModelSpec(
            "postprocess",
            inputs=(Tensor("frame", UINT8, (-1, -1, 3)), Tensor("scale", FP32, (1,)),
                    Tensor("heatmap", FP32, (1, 3, 96, 160)), Tensor("size", FP32, (1, 2, 96, 160)),
                    Tensor("offset", FP32, (1, 2, 96, 160))),
            outputs=(*_DETECTIONS, Tensor("label", FP32, (-1, 1, 128, 96)), Tensor("crop", FP32, (-1, 3, 128, 128))),
        ),
        ModelSpec(
            "ocr", network=True,
            inputs=(Tensor("label", FP32, (1, 128, 96)),),
            outputs=(Tensor("pro_log_probs", FP32, (48, 11)), Tensor("dest_log_probs", FP32, (48, 27))),
            max_batch_size=P.MAX_DETECTIONS * len(P.READ_VIEW_SHIFTS), preferred_batch_sizes=(12, 24),
            max_queue_delay_us=1000,
        ),
        ModelSpec(
            "damage_classifier", network=True,
            inputs=(Tensor("crop", FP32, (3, 128, 128)),),
            outputs=(Tensor("logit", FP32, (1,)),),
            max_batch_size=P.MAX_DETECTIONS * P.DAMAGE_VIEWS, preferred_batch_sizes=(8, 16), max_queue_delay_us=1000,
        ),
        ModelSpec(
            "decide",
            inputs=(*_DETECTIONS, Tensor("pro_log_probs", FP32, (-1, 48, 11)),
                    Tensor("dest_log_probs", FP32, (-1, 48, 27)), Tensor("logit", FP32, (-1, 1))),
            outputs=DECISION_OUTPUTS,
        ),
    )
}


@dataclass(frozen=True)
class PipelineVersions:
    """Which version of each network the ensemble routes to."""

    versions: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(NETWORKS, DEFAULT_VERSION))

    def of(self, model: str) -> int:
        return int(self.versions.get(model, DEFAULT_VERSION))


# ------------------------------------------------------------------------------------------------ rendering
def _dims(dims: Sequence[int]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def _tensors(kind: str, tensors: Sequence[Tensor]) -> str:
    rows = [f'  {{ name: "{t.name}" data_type: {t.data_type} dims: {_dims(t.dims)} }}' for t in tensors]
    return f"{kind} [\n" + ",\n".join(rows) + "\n]\n"


def _version_policy(versions: Sequence[int]) -> str:
    listed = ", ".join(str(v) for v in sorted(set(versions)))
    return f"version_policy: {{ specific: {{ versions: [ {listed} ] }} }}\n"


def render_model(name: str, device_class: DeviceClass | str = DeviceClass.CPU, versions: Sequence[int] = (1,),
                 gpu_platform: GpuPlatform | str = GpuPlatform.ONNXRUNTIME, dynamic_batching: bool = True) -> str:
    """config.pbtxt of one model (not the ensemble), serving exactly `versions`."""
    spec = SPECS[name]
    device_class = DeviceClass(device_class)
    gpu_platform = GpuPlatform(gpu_platform)
    out = [f'name: "{name}"\n']
    on_gpu = device_class is DeviceClass.GPU and spec.network
    if on_gpu:
        out.append(f'platform: "{gpu_platform.value}"\n')
    else:
        out.append('backend: "python"\n')
    out.append(f"max_batch_size: {spec.max_batch_size}\n")
    out.append(_version_policy(versions))
    out.append(_tensors("input", spec.inputs))
    out.append(_tensors("output", spec.outputs))
    if spec.max_batch_size > 0 and dynamic_batching:
        preferred = ", ".join(str(b) for b in spec.preferred_batch_sizes)
        out.append(f"dynamic_batching {{ preferred_batch_size: [ {preferred} ] "
                   f"max_queue_delay_microseconds: {spec.max_queue_delay_us} }}\n")
    if device_class is DeviceClass.GPU and (spec.network or spec.name == "preprocess"):
        out.append("instance_group [ { count: 1 kind: KIND_GPU } ]\n" if spec.network
                   else "instance_group [ { count: 2 kind: KIND_CPU } ]\n")
    else:
        out.append(f"instance_group [ {{ count: {spec.cpu_instances} kind: KIND_CPU }} ]\n")
    if on_gpu and gpu_platform is GpuPlatform.ONNXRUNTIME:
        out.append('optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" '
                   'parameters { key: "precision_mode" value: "FP16" } '
                   'parameters { key: "max_workspace_size_bytes" value: "1073741824" } } ] } }\n')
    if on_gpu and gpu_platform is GpuPlatform.TENSORRT:
        out.append('default_model_filename: "model.plan"\n')
    if not on_gpu and spec.network:
        out.append(f'parameters: {{ key: "onnx_threads" value: {{ string_value: "{spec.onnx_threads}" }} }}\n')
    return "".join(out)


def render_pipeline(versions: PipelineVersions | Mapping[str, int] | None = None,
                    name: str = PIPELINE) -> str:
    """The ensemble wiring frame -> preprocess -> detector -> postprocess -> ocr + damage -> decide."""
    pinned = versions if isinstance(versions, PipelineVersions) else PipelineVersions(dict(versions or {}))

    def step(model: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> str:
        version = pinned.of(model) if model in NETWORKS else DEFAULT_VERSION
        ins = " ".join(f'input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items())
        outs = " ".join(f'output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items())
        return f'    {{ model_name: "{model}" model_version: {version} {ins} {outs} }}'

    same = lambda *names: {n: n for n in names}  # noqa: E731
    steps = [
        step("preprocess", same("frame"), same("image", "scale")),
        step("detector", same("image"), same("heatmap", "size", "offset")),
        step("postprocess", same("frame", "scale", "heatmap", "size", "offset"),
             same("boxes", "scores", "classes", "label", "crop")),
        step("ocr", same("label"), same("pro_log_probs", "dest_log_probs")),
        step("damage_classifier", same("crop"), same("logit")),
        step("decide", same("boxes", "scores", "classes", "pro_log_probs", "dest_log_probs", "logit"),
             {t.name: t.name for t in DECISION_OUTPUTS}),
    ]
    return (
        f'name: "{name}"\nplatform: "ensemble"\nmax_batch_size: 0\n'
        + _tensors("input", (Tensor("frame", UINT8, (-1, -1, 3)),))
        + _tensors("output", DECISION_OUTPUTS)
        + "ensemble_scheduling {\n  step [\n" + ",\n".join(steps) + "\n  ]\n}\n"
    )


def render_repository_configs(device_class: DeviceClass | str = DeviceClass.CPU,
                              versions: PipelineVersions | None = None,
                              gpu_platform: GpuPlatform | str = GpuPlatform.ONNXRUNTIME,
                              dynamic_batching: bool = True) -> dict[str, str]:
    """Every model's config.pbtxt, keyed by model name."""
    versions = versions or PipelineVersions()
    configs = {
        name: render_model(name, device_class, [versions.of(name) if name in NETWORKS else DEFAULT_VERSION],
                           gpu_platform, dynamic_batching)
        for name in MODELS
    }
    configs[PIPELINE] = render_pipeline(versions)
    configs[CANDIDATE_PIPELINE] = render_pipeline(versions, name=CANDIDATE_PIPELINE)
    return configs


def write_repository_configs(root: Path = REPOSITORY, device_class: DeviceClass | str = DeviceClass.CPU) -> list[Path]:
    """Render the committed configs (the `cpu` rendering lives in the repository; see tests)."""
    written = []
    for name, text in render_repository_configs(device_class).items():
        path = Path(root) / name / "config.pbtxt"
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / str(DEFAULT_VERSION)).mkdir(exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_repository_configs():
        print(p)
