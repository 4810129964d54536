"""kill -9 a process that writes samples in a loop; after restart every buffered sample is whole and readable."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from edge_appliance.sample_buffer import DiskSampleStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CAP = 60_000  # small: the writer evicts all the time, so kills also land in the middle of evictions

WRITER = """
import random, sys
from edge_appliance.sample_buffer import DiskSampleStore
from tests.sample_factory import jpeg, sample

root, first = sys.argv[1], int(sys.argv[2])
store = DiskSampleStore(root, cap_bytes=int(sys.argv[3]))
store.open()
rng = random.Random(first)
frames = {size: jpeg(first + size, size, size) for size in (16, 32, 64)}  # encoded once: the loop is all disk
n = first
while True:
    size = rng.choice([16, 32, 64])
    store.put(sample(n, priority=rng.choice([0.5, 1.0, 2.0, 4.0]), h=size, w=size), frames[size])
    n += 1
"""


def _stored(root: Path) -> int:
    try:
        return int(json.loads((root / "counters.json").read_bytes())["stored_samples"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def test_sigkill_mid_write_leaves_only_whole_samples(tmp_path: Path) -> None:
    root = tmp_path / "buffer"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    partial_total = 0
    rng = random.Random(7)
    for round_no in range(6):
        before = _stored(root)
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(round_no * 100_000), str(CAP)],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            # let it write a while (a different number of samples each round), then kill it mid-loop
            while _stored(root) < before + 15 + 7 * round_no:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "writer died"
                assert time.monotonic() < deadline, "writer made no progress"
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.02))  # off the writer's rhythm (its counters are written last)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stderr:
                proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL

        store = DiskSampleStore(root, cap_bytes=CAP)
        report = store.open()
        partial_total += report.partial_removed
        assert report.corrupt_removed == 0
        assert report.samples == len(store) > 0
        assert store.total_bytes() <= CAP
        files = sorted(p.name for p in (root / "samples").iterdir())
        assert not [f for f in files if f.endswith(".part")]
        assert len(files) == 2 * len(store)
        for entry in store.pending():
            stored = store.load(entry.sample_id)
            assert stored is not None and stored.size == entry.size
            with Image.open(io.BytesIO(stored.frame_jpeg)) as img:
                img.load()
                assert img.size == (stored.sample.width, stored.sample.height)
        counters = store.counters()
        assert counters.starts == 2 * (round_no + 1)
        assert counters.evicted_samples.get("partial_on_start", 0) == partial_total
    print(f"half-written samples cleaned over 6 kills: {partial_total}")
