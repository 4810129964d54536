"""The Triton configs: one source renders `cpu` (committed) and `gpu` configs that Triton's own schema accepts,
with an ensemble whose wiring is consistent and whose steps are pinned to explicit versions."""

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from edge_appliance.triton_server import config_json, parse_prometheus
from model_repository.configs import (
    CANDIDATE_PIPELINE,
    DECISION_OUTPUTS,
    MODELS,
    NETWORKS,
    PIPELINE,
    REPOSITORY,
    SPECS,
    PipelineVersions,
    render_model,
    render_pipeline,
    render_repository_configs,
)


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def test_committed_cpu_configs_are_the_rendered_ones():
    for name, text in render_repository_configs("cpu").items():
        assert (REPOSITORY / name / "config.pbtxt").read_text() == text, "re-run python -m model_repository.configs"


@pytest.mark.parametrize("device_class,platform", [("cpu", "onnxruntime_onnx"), ("gpu", "onnxruntime_onnx"),
                                                   ("gpu", "tensorrt_plan")])
def test_every_rendering_parses_as_a_triton_model_config(device_class, platform):
    for name in MODELS:
        config = parse(render_model(name, device_class, [1, 2], platform))
        assert config.name == name
        assert list(config.version_policy.specific.versions) == [1, 2]
        if device_class == "gpu" and name in NETWORKS:
            assert config.platform == platform and config.backend == ""
            assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
        else:
            assert config.backend == "python"
            assert all(g.kind == model_config_pb2.ModelInstanceGroup.KIND_CPU for g in config.instance_group)
        if SPECS[name].max_batch_size:
            assert config.dynamic_batching.max_queue_delay_microseconds > 0
            assert max(config.dynamic_batching.preferred_batch_size) <= config.max_batch_size
        assert config_json(render_model(name, device_class, [1], platform)).startswith("{")


def test_gpu_onnxruntime_uses_the_tensorrt_accelerator_and_trt_plans_their_file():
    ort = parse(render_model("detector", "gpu", [3], "onnxruntime_onnx"))
    assert ort.optimization.execution_accelerators.gpu_execution_accelerator[0].name == "tensorrt"
    plan = parse(render_model("detector", "gpu", [3], "tensorrt_plan"))
    assert plan.default_model_filename == "model.plan"


@pytest.mark.parametrize("device_class", ["cpu", "gpu"])
def test_the_ensemble_wiring_is_consistent(device_class):
    versions = PipelineVersions({"detector": 3, "ocr": 2, "damage_classifier": 5})
    configs = {n: parse(t) for n, t in render_repository_configs(device_class, versions).items()}
    pipeline = configs[PIPELINE]
    available = {t.name for t in pipeline.input}
    for step in pipeline.ensemble_scheduling.step:
        model = configs[step.model_name]
        assert set(step.input_map) == {t.name for t in model.input}, step.model_name
        assert set(step.input_map.values()) <= available, f"{step.model_name} reads a tensor nobody wrote"
        assert set(step.output_map) <= {t.name for t in model.output}
        available |= set(step.output_map.values())
        # pinned: -1 would follow the newest loaded version and route traffic to an untested candidate
        assert step.model_version == versions.of(step.model_name) if step.model_name in NETWORKS else 1
        if step.model_name in NETWORKS:
            assert list(model.version_policy.specific.versions) == [versions.of(step.model_name)]
    assert {t.name for t in pipeline.output} == {t.name for t in DECISION_OUTPUTS} <= available
    assert configs[CANDIDATE_PIPELINE].name == CANDIDATE_PIPELINE


def test_an_unpinned_version_never_renders():
    text = render_pipeline({"detector": 2})
    assert "model_version: -1" not in text and 'model_name: "detector" model_version: 2' in text


def test_parse_prometheus_sums_label_sets():
    text = '# HELP x\nnv_inference_count{model="a",version="1"} 3\nnv_inference_count{model="b"} 4\nother 1\n'
    assert parse_prometheus(text) == {"nv_inference_count": 7.0}
