"""Processing-job entry points: the work of the training pipeline that needs Triton or the teacher networks.

Each runs as `python -m edgecv.jobs.<name> --input-root IN --output-root OUT ...` in the processing image on
SageMaker Processing (`lambdas.common.processing`), and as the same command on one machine
(`lambdas.localcloud.processing_emulator`). Inputs are folders under IN, outputs folders under OUT.
"""

from __future__ import annotations

import argparse
from pathlib import Path


class JobInputError(Exception):
    """The job's inputs or arguments are unusable: one clear line, exit 2."""


def job_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input-root", type=Path, required=True, help="one folder per input channel")
    parser.add_argument("--output-root", type=Path, required=True, help="one folder per output, uploaded at the end")
    return parser


def channel(root: Path, name: str) -> Path:
    folder = root / name
    if not folder.is_dir() or not any(folder.iterdir()):
        raise JobInputError(f"input {name!r} is missing or empty ({folder})")
    return folder


def parse_pin(text: str) -> tuple[str, int]:
    name, sep, version = text.partition("=")
    if not sep or not name or not version.isdigit() or int(version) < 1:
        raise JobInputError(f"not NETWORK=VERSION: {text!r}")
    return name, int(version)
