"""Benchmark: what the sandbox costs.

1. Grading the reference backprop submission end to end (the CLI, wall clock) against the
   same tests run as plain in-process pytest on the reference, as a ratio measured in one run.
2. Worker start: forking a worker from the warm template against a cold start (a new sandbox
   that imports numpy, or numpy and torch, then loads the submission).

Run from the repository root: python tests/benchmarks/bench_grading.py [--repeat N]
"""

from __future__ import annotations

import os

for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_threads] = "1"  # the same BLAS threads as the sandboxed worker, before numpy loads

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import pytest

from grader import spec
from grader.plugin import GraderPlugin
from grader.proxy import Side
from grader.runner import run_pytest, worker_limits
from grader.sandbox.launch import Template, detect

ROOT = Path(__file__).resolve().parents[2]


class InProcess(GraderPlugin):
    """The same fixtures, but `submission` and `reference` are the reference module itself, in this process."""

    def __init__(self, assignment, module):
        super().__init__(assignment, None, None)
        self.module = module

    @pytest.fixture(scope="session")
    def submission(self):
        return self.module

    @pytest.fixture(scope="session")
    def reference(self):
        return self.module

    @pytest.fixture
    def speed(self):
        pytest.skip("speed checks time two sandboxes against each other; the CLI figure leaves them out")


def grading_ratio(repeat: int) -> None:
    assignment = spec.load(ROOT / "assignments" / "backprop")
    module = types.ModuleType("reference")
    exec(compile(assignment.solution.read_text(), str(assignment.solution), "exec"), module.__dict__)
    cli, plain = [], []
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "result.json"
        for _ in range(repeat):  # interleaved, so both see the same machine state
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "grader", "grade", "backprop", str(assignment.solution), "--quiet",
                            "--json", str(report)], cwd=ROOT, check=False)
            timed_checks = sum(t["duration"] for t in json.loads(report.read_text())["tests"] if t["timing"])
            cli.append(time.perf_counter() - start - timed_checks)
            plugin = InProcess(assignment, module)
            start = time.perf_counter()
            run_pytest(assignment, plugin)
            plain.append(time.perf_counter() - start)
            assert all(r.status in ("passed", "skipped") for r in plugin.results.values())
    c, p = statistics.median(cli), statistics.median(plain)
    print(f"grading the reference backprop ({len(plugin.results)} tests, the timed speed check left out), "
          f"median of {repeat}:")
    print(f"  grader grade (CLI, sandboxed, {detect().level}): {c:6.2f} s")
    print(f"  plain in-process pytest:                {p:6.2f} s")
    print(f"  ratio: {c / p:.2f}x")


def worker_start(repeat: int) -> None:
    isolation = detect()
    assignment = spec.load(ROOT / "assignments" / "backprop")
    cells = [{"label": "backprop.py", "source": assignment.solution.read_text()}]
    print(f"worker start ({isolation.level}), median of {repeat}:")
    for preload in (["numpy"], ["numpy", "torch"]):
        config = {"preload": preload, "limits": worker_limits(assignment), "forbidden": []}
        cold, warm = [], []
        with tempfile.TemporaryDirectory() as workdir:
            for _ in range(repeat):
                side = Side("bench", lambda: Template(Path(workdir), cells, config, isolation), {}, call_timeout=60)
                start = time.perf_counter()
                side.call("sigmoid", (0.0,))
                cold.append(time.perf_counter() - start)
                side._drop_worker()
                start = time.perf_counter()
                side.call("sigmoid", (0.0,))
                warm.append(time.perf_counter() - start)
                side.close()
        print(f"  preload {'+'.join(preload):12s} cold start {1e3 * statistics.median(cold):7.1f} ms   "
              f"fork from template {1e3 * statistics.median(warm):6.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    worker_start(max(args.repeat, 5))
    grading_ratio(args.repeat)
