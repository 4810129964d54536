"""Pre/post-processing step; the code lives in model_repository.triton_python."""
from model_repository.triton_python.decide import TritonPythonModel  # noqa: F401
