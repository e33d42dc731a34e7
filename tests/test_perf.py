"""Speed checks: fair ratios measured in one run, not fooled by memoising or a forged clock."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from grader.perf import compare_speed

REFERENCE = "def mm(a, b):\n    return a @ b\n"
SUBMISSIONS = {
    "same": (REFERENCE, False),
    "python_loops": ("""
def mm(a, b):
    n, k = a.shape
    return [[sum(float(a[i, p]) * float(b[p, j]) for p in range(k)) for j in range(b.shape[1])] for i in range(n)]
""", True),
    "memoising_and_forging_the_clock": ("""
import time
time.perf_counter = time.monotonic = lambda: 0.0
_seen = {}
def mm(a, b):
    key = (a.tobytes(), b.tobytes())
    if key not in _seen:
        time.sleep(0.002)
        _seen[key] = a @ b
    return _seen[key]
""", True),
}


BACKGROUND_COUNTER = """
import os, time
if os.fork() == 0:  # a process that leaves the worker's group and keeps counting
    os.setsid()
    n = 0
    while True:
        n += 1
        with open("count.tmp", "w") as out:
            out.write(str(n))
        os.replace("count.tmp", "count")
        time.sleep(0.005)
def ready():
    return True
"""


def matrices(rng):
    return rng.standard_normal((16, 16)), rng.standard_normal((16, 16))


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_ratio_against_the_reference(sides, name):
    source, too_slow = SUBMISSIONS[name]
    timing = compare_speed(sides(source).mm, sides(REFERENCE).mm, matrices, np.random.default_rng(0), budget=4.0)
    assert timing.device == "cpu" or timing.device == "cuda"
    assert (timing.ratio > timing.budget) is too_slow, timing.summary()
    if too_slow:
        with pytest.raises(AssertionError, match="too slow"):
            timing.check()
    else:
        timing.check()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_speed_check_runs_on_cuda_with_synchronisation(sides):
    source = "import torch\ndef mm(a, b):\n    return (a @ b).sum().item()\n"
    make = lambda rng: tuple(__import__("torch").from_numpy(m) for m in matrices(rng))  # noqa: E731
    timing = compare_speed(sides(source, ("numpy", "torch")).mm, sides(source, ("numpy", "torch")).mm, make,
                           np.random.default_rng(0), budget=3.0, device="cuda")
    assert timing.device == "cuda" and timing.ratio < 3.0, timing.summary()
    assert timing.gpu_watched == (importlib.util.find_spec("pynvml") is not None), timing.summary()


def test_everything_the_submission_runs_is_stopped_while_the_reference_is_timed(sides, tmp_path, cgroups):
    submission = sides(BACKGROUND_COUNTER)
    assert submission.ready()
    count = submission._side.template.space.work / "count"

    def read() -> int:
        deadline = time.monotonic() + 10
        while not count.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return int(count.read_text())

    first = read()
    with submission._side.frozen() as stillness:
        time.sleep(0.1)
        stopped = read()
        time.sleep(0.3)
        assert read() == stopped, "a background process of the submission ran while it was paused"
    assert stillness.cpu_seconds == 0
    assert len(stillness.pids) >= 2, "the worker and the counter it forked are named"
    time.sleep(0.3)
    assert read() > stopped >= first
