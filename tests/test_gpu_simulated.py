"""The speed check's GPU path on a machine without a GPU: GRADER_SIMULATE_CUDA makes the timing take every CUDA
branch (the device named in the timed request, inputs moved and the device waited for in the worker, the idle
side's GPU use read through a stand-in NVML) so that it runs on every commit; tests/gpu/run.sh runs the real one."""

from __future__ import annotations

import numpy as np
import pytest

from grader.perf import compare_speed, default_device
from grader.protocol import SIMULATED_CUDA

from conftest import make_assignment

MM = "def mm(a, b):\n    return a @ b\n"
# A millisecond a call: blocks of at most MAX_CALLS_PER_BLOCK calls then outlast NVML's sampling period.
SLEEPY_MM = "import time\ndef mm(a, b):\n    time.sleep(0.001)\n    return a @ b\n"
SLOW_MM = """
import numpy as np
def mm(a, b):
    return np.array([[sum(a[i, p] * b[p, j] for p in range(len(b))) for j in range(b.shape[1])] for i in range(len(a))])
"""
TORCH_MM = "import torch\ndef mm(a, b):\n    return {'product': [a @ b, (b @ a)[:, :3]], 'trace': float((a @ b).trace())}\n"


def matrices(rng):
    return rng.standard_normal((24, 24)), rng.standard_normal((24, 24))


def tensors(rng):
    import torch
    return tuple(torch.from_numpy(m) for m in matrices(rng))


@pytest.fixture
def simulated(monkeypatch):
    monkeypatch.setenv("GRADER_SIMULATE_CUDA", "idle")
    assert default_device() == SIMULATED_CUDA


def test_a_worker_without_torch_is_timed_on_the_gpu_path(sides, simulated):
    """Before: forcing the CUDA path, the reference itself earned 0 of 6 (TypeError: 'NoneType' object is not
    callable: a worker without torch had no synchronize); after: 6 of 6 (the grading test below)."""
    timing = compare_speed(sides(SLEEPY_MM).mm, sides(SLEEPY_MM).mm, matrices, np.random.default_rng(0), budget=4.0)
    assert timing.device == SIMULATED_CUDA and timing.gpu_watched, timing.summary()
    assert timing.ratio < 4.0, timing.summary()
    assert "the idle side's GPU use checked" in timing.summary()


def test_tensors_nested_in_the_arguments_move_and_slow_code_still_fails(sides, simulated):
    preload = ("numpy", "torch")
    timing = compare_speed(sides(TORCH_MM, preload).mm, sides(TORCH_MM, preload).mm, tensors,
                           np.random.default_rng(0), budget=4.0)
    assert timing.device == SIMULATED_CUDA and timing.ratio < 4.0, timing.summary()
    slow = compare_speed(sides(SLOW_MM).mm, sides(MM).mm, matrices, np.random.default_rng(0), budget=4.0)
    assert slow.ratio > 4.0, slow.summary()


def test_a_frozen_side_seen_on_the_gpu_fails_the_check(sides, monkeypatch):
    monkeypatch.setenv("GRADER_SIMULATE_CUDA", "busy")
    with pytest.raises(AssertionError, match="kept running.*and the GPU"):
        compare_speed(sides(SLEEPY_MM).mm, sides(SLEEPY_MM).mm, matrices, np.random.default_rng(0), budget=4.0)


def test_blocks_too_short_for_nvml_are_not_called_watched(sides, monkeypatch):
    """Found by the simulation: a function so fast that the largest block is shorter than NVML's sampling
    period cannot have its idle side watched; the timing says so rather than claiming the check."""
    import grader.perf
    monkeypatch.setenv("GRADER_SIMULATE_CUDA", "busy")
    monkeypatch.setattr(grader.perf, "MAX_CALLS_PER_BLOCK", 2)
    timing = compare_speed(sides(MM).mm, sides(MM).mm, matrices, np.random.default_rng(0), budget=4.0)
    assert not timing.gpu_watched and "not checked" in timing.summary(), timing.summary()


SPEED_TESTS = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(6)
def test_mm_is_vectorised(submission, reference, speed):
    speed(submission.mm, reference.mm, lambda r: (r.standard_normal((24, 24)), r.standard_normal((24, 24))),
          budget={"cpu": 4.0, "cuda": 4.0})
"""


def test_grading_on_the_simulated_gpu_gives_the_reference_its_speed_points(tmp_path, simulated):
    from grader.runner import grade
    assignment = make_assignment(tmp_path / "course", SPEED_TESTS, MM, questions=[{"id": "q", "title": "S", "points": 6}])
    path = tmp_path / "tiny.py"
    path.write_text(MM)
    result = grade(assignment, path)
    assert result.score == 6, [t.message for t in result.tests]
    assert "on cuda-simulated" in result.tests[0].timing
