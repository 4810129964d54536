"""Served by ONNX Runtime inside the Python backend; the code lives in model_repository.triton_python."""
from model_repository.triton_python.network import TritonPythonModel  # noqa: F401
