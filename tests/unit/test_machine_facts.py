"""A training report names the CPU its latencies and INT8 figures were measured on."""

import os

import pytest

pytest.importorskip("torch")

from training.export import INT8_DOT_PRODUCT_FLAGS, machine_facts


def test_the_machine_facts_name_the_cpu_and_its_int8_dot_product_instructions() -> None:
    facts = machine_facts()
    assert set(facts) == {"cpu", "arch", "logical_cpus", "int8_dot_product", "onnxruntime"}
    assert facts["cpu"] and facts["arch"] and facts["logical_cpus"] == os.cpu_count()
    assert set(facts["int8_dot_product"]) <= set(INT8_DOT_PRODUCT_FLAGS)
    assert facts["int8_dot_product"] == sorted(facts["int8_dot_product"])
    assert facts["onnxruntime"].count(".") >= 1
