"""Benchmark: what the sandbox costs, and each speed goal of grading a class, measured in one run.

1. Worker start: forking a worker from the warm template against a cold start (a new sandbox
   that imports numpy, or numpy and torch, then loads the submission).
2. Grading the reference backprop submission end to end (the CLI, wall clock) against the
   same tests run as plain pytest on the reference in a fresh process (its imports paid, as a
   user's `pytest` pays them), as a ratio measured in one run.
3. The goals: one small notebook in one CLI call; a batch of small notebooks on 2 jobs; backprop,
   one call and a class in a batch against as many single calls; the peak memory (summed PSS) of
   a batch's process tree; the feedback page's cost per submission. Each is printed with its goal.

Run from the repository root: python tests/benchmarks/bench_grading.py [--repeat N] [--class-size N]
"""

from __future__ import annotations

import os

for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_threads] = "1"  # the same BLAS threads as the sandboxed worker, before numpy loads

import argparse
import compileall
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


def plain_pytest(slug: str) -> int:
    """Run the assignment's tests once in this process with the reference as the submission (what a plain
    `pytest` in a fresh process costs: its imports included); return the number of tests."""
    assignment = spec.load(ROOT / "assignments" / slug)
    module = types.ModuleType("reference")
    exec(compile(assignment.solution.read_text(), str(assignment.solution), "exec"), module.__dict__)
    plugin = InProcess(assignment, module)
    run_pytest(assignment, plugin)
    assert all(r.status in ("passed", "skipped") for r in plugin.results.values())
    return len(plugin.results)


def grading_ratio(repeat: int) -> tuple[float, float]:
    """The CLI against plain pytest, each in a fresh process (both pay Python's start and the tests' imports)."""
    assignment = spec.load(ROOT / "assignments" / "backprop")
    cli, plain = [], []
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "result.json"
        for _ in range(repeat):  # interleaved, so both see the same machine state
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "grader", "grade", "backprop", str(assignment.solution), "--quiet",
                            "--json", str(report)], cwd=ROOT, check=False)
            timed_checks = sum(t["duration"] for t in json.loads(report.read_text())["tests"] if t["timing"])
            cli.append(time.perf_counter() - start - timed_checks)
            start = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--plain", "backprop"], cwd=ROOT, check=True)
            plain.append(time.perf_counter() - start)
        tests = len(json.loads(report.read_text())["tests"])
    c, p = statistics.median(cli), statistics.median(plain)
    print(f"grading the reference backprop ({tests} tests, the timed speed check left out), median of {repeat}:")
    print(f"  grader grade (CLI, sandboxed, {detect().level}): {c:6.2f} s")
    print(f"  plain pytest in a fresh process:        {p:6.2f} s")
    print(f"  ratio: {c / p:.2f}x")
    return c, p


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


TINY_TESTS = """
import numpy as np
import pytest
from grader.checks import assert_close

pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
@pytest.mark.parametrize("name", ["relu", "softmax", "mse"])
def test_matches_reference(submission, reference, rng, name):
    a, b = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    args = (a, b) if name == "mse" else (a,)
    assert_close(getattr(submission, name)(*args), getattr(reference, name)(*args), name=name)

@pytest.mark.points(1)
def test_relu_of_a_known_row(submission):
    assert_close(submission.relu(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 2.0], name="relu")

@pytest.mark.points(1)
def test_softmax_rows_sum_to_one(submission, rng):
    assert_close(submission.softmax(rng.normal(size=(4, 3)) * 100).sum(axis=1), np.ones(4), name="row sums")

@pytest.mark.points(1)
def test_mse_of_equal_arrays_is_zero(submission):
    assert_close(submission.mse(np.ones(3), np.ones(3)), 0.0, name="mse")
"""
TINY_SOURCE = """# %%
import numpy as np

# %%
def relu(a):
    return np.maximum(a, 0.0)

# %%
def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

# %%
def mse(a, b):
    return float(np.mean((a - b) ** 2))
"""


def tiny_course(root: Path) -> Path:
    """A one-question assignment with a small notebook as its submission (what a quiz looks like): three numpy
    functions, six tests."""
    folder = root / "assignments" / "tiny"
    for sub in ("public", "hidden"):
        (folder / "tests" / sub).mkdir(parents=True)
    (folder / "tests" / "hidden" / "test_tiny.py").write_text(TINY_TESTS)
    (root / "solutions").mkdir()
    (root / "solutions" / "tiny.py").write_text(TINY_SOURCE)
    (folder / "assignment.yaml").write_text("slug: tiny\ntitle: Tiny\nversion: '1'\nsubmission: [tiny.ipynb, tiny.py]\n"
                                            "preload: [numpy]\nquestions:\n  - {id: q, title: Q, points: 6}\n")
    return folder


def cli(*args) -> float:
    """Wall seconds of one grader command."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_class(folder: Path, source: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        target = folder / f"student{index:03d}{source.suffix}"
        target.write_bytes(source.read_bytes())
    return folder


def batch_with_peak_pss(course: Path, folder: Path, out: Path) -> tuple[float, float]:
    """Grade a class on 2 jobs; return the wall seconds and the peak summed PSS (MiB) of the process tree."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(course), str(folder), "--out", str(out),
                                "-j", "2", "--quiet"], cwd=ROOT)
    peak = 0
    while process.poll() is None:
        peak = max(peak, sum(_pss_kib(pid) for pid in _tree(process.pid)))
        time.sleep(0.05)
    return time.perf_counter() - start, peak / 1024


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def feedback_ms(repeat: int = 50) -> tuple[float, float]:
    """Median wall and CPU milliseconds to render a backprop result's feedback page (templates loaded)."""
    from grader.reports.feedback import to_feedback_html
    from grader.runner import grade
    from grader.submission import prepare

    assignment = spec.load(ROOT / "assignments" / "backprop")
    result = grade(assignment, assignment.solution)
    with tempfile.TemporaryDirectory() as scratch:
        cells = prepare(assignment.solution, assignment.submission, Path(scratch)).cells
    to_feedback_html(result, cells)
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        to_feedback_html(result, cells)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def goals(repeat: int, class_size: int, backprop_cli: float, plain: float) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        course = tiny_course(scratch / "course")
        notebook = scratch / "tiny.ipynb"
        subprocess.run([sys.executable, "-m", "grader", "notebook", str(scratch / "course" / "solutions" / "tiny.py"),
                        "-o", str(notebook)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        one = statistics.median(cli("grade", course, notebook, "--quiet") for _ in range(repeat))
        rows.append(("one small notebook, one CLI call", f"{one:.2f} s", "<= 0.5 s", one <= 0.5))
        small = make_class(scratch / "small", notebook, 20)
        wall, _ = batch_with_peak_pss(course, small, scratch / "small-out")
        rows.append(("batch of 20 small notebooks, 2 jobs, per submission", f"{wall / 20:.2f} s", "<= 0.15 s",
                     wall / 20 <= 0.15))
        rows.append(("backprop reference, one CLI call (speed check left out)", f"{backprop_cli:.2f} s", "<= 3 s",
                     backprop_cli <= 3))
        solution = scratch / "backprop.py"
        solution.write_bytes((ROOT / "solutions" / "backprop.py").read_bytes())
        singles = [cli("grade", "backprop", solution, "--quiet") for _ in range(min(class_size, 3))]
        single = statistics.median(singles)
        klass = make_class(scratch / "backprop-class", solution, class_size)
        wall, peak = batch_with_peak_pss(ROOT / "assignments" / "backprop", klass, scratch / "backprop-out")
        ratio = wall / (single * class_size)
        rows.append((f"backprop class of {class_size} in a batch / {class_size} single calls "
                     f"({wall:.1f} s / {class_size} x {single:.2f} s)", f"{ratio:.2f}", "<= 0.5", ratio <= 0.5))
        rows.append(("grading overhead over plain in-process pytest (backprop)", f"{backprop_cli / plain:.2f}x",
                     "<= 1.3x", backprop_cli / plain <= 1.3))
        rows.append(("peak summed PSS of the batch's process tree (backprop class, 2 jobs)", f"{peak:.0f} MiB",
                     "<= 600 MB", peak * 2**20 <= 600e6))
    page, page_cpu = feedback_ms()
    rows.append((f"feedback page per submission (backprop; {page_cpu:.1f} ms of CPU)", f"{page:.1f} ms",
                 "well under 50 ms", page < 25))
    print(f"goals (machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for what, measured, goal, met in rows:
        print(f"  {'met ' if met else 'MISS'}  {what:78s} {measured:>10s}   goal {goal}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--class-size", type=int, default=10, help="backprop submissions in the batch goal (stated for a class of 100)")
    parser.add_argument("--plain", metavar="SLUG", help=argparse.SUPPRESS)  # one plain pytest run, for the ratio
    args = parser.parse_args()
    if args.plain:
        sys.exit(0 if plain_pytest(args.plain) else 1)
    compileall.compile_dir(ROOT / "grader", quiet=1)  # as an install leaves it: every module's bytecode up to date
    worker_start(max(args.repeat, 5))
    cli_seconds, plain_seconds = grading_ratio(args.repeat)
    goals(args.repeat, args.class_size, cli_seconds, plain_seconds)
