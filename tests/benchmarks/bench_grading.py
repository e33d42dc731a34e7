"""Benchmark: every speed and memory goal of grading, measured in one run, in wall time and in CPU time.

CPU is the whole process tree's: the grader's own processes (reaped, chain by chain, into this process's
RUSAGE_CHILDREN) plus the processes inside the sandboxes, which bubblewrap's PID namespace kills rather than
reaps: those are sampled from /proc every 10 ms (each may lose its last 10 ms). Slurm's tasks run under
slurmd, outside this tree: their CPU is what Slurm's accounting (sacct TotalCPU) reports for them.

1. Worker start: forking a worker from the warm template against a cold start.
2. One small notebook (three numpy functions, six tests): one CLI call against plain pytest on the same tests
   (the reference imported in process, plugin autoload off, a fresh process); the trusted process's CPU before
   its first test (the fixed start-up).
3. A batch of small notebooks on 2 jobs: per submission, and the fixed cost per batch (from a batch of 1).
4. char_rnn and vae: the reference in one call; a class in a batch on 2 jobs against as many single calls, and
   the peak summed PSS of the batch's process tree; from a class twice as large, the CPU each student adds and
   the CPU the batch shares, so the ratio's floor for any class (what a student adds over a single call).
5. Slurm (where a cluster answers): a class of small notebooks in chunks against the same class graded locally.
6. The feedback page's cost per submission.

The load average is printed before and after; `--busy N` runs N CPU-bound processes beside the benchmark.

Run from the repository root: python tests/benchmarks/bench_grading.py [--repeat N] [--class-size N] [--busy N]
"""

from __future__ import annotations

import os

for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_threads] = "1"  # the same BLAS threads as the sandboxed worker, before numpy loads

import argparse
import compileall
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from datetime import datetime
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


def plain_pytest(folder: str) -> int:
    """Run the assignment's tests once in this process with the reference as the submission (what a plain
    `pytest` in a fresh process costs: its imports included); return the number of tests."""
    assignment = spec.load(folder)
    module = types.ModuleType("reference")
    exec(compile(assignment.solution.read_text(), str(assignment.solution), "exec"), module.__dict__)
    plugin = InProcess(assignment, module)
    run_pytest(assignment, plugin)
    assert all(r.status in ("passed", "skipped") for r in plugin.results.values())
    return len(plugin.results)


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


def make_class(folder: Path, source: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        target = folder / f"student{index:03d}{source.suffix}"
        target.write_bytes(source.read_bytes())
    return folder


_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Cost:
    """What one command cost: wall seconds, CPU seconds of its whole process tree (`sandboxed`: of which inside
    the sandboxes), peak summed PSS (MiB)."""

    wall: float
    cpu: float
    pss: float = 0.0
    sandboxed: float = 0.0


def _processes() -> dict[int, tuple[int, str, str, float]]:
    """Every process now: pid -> (parent pid, name, start time, CPU seconds of its own)."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    head, tail = handle.read().rsplit(")", 1)
            except OSError:
                continue
            fields = tail.split()
            found[int(entry.name)] = (int(fields[1]), head.split("(", 1)[1], fields[19],
                                      (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def measured(args: list, pss: bool = False, env: dict | None = None) -> Cost:
    """Run a command to its end and say what it cost (see the module's docstring for how CPU is counted)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen([str(a) for a in args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env)
    tree, sandboxed, sampled, peak, last_pss = {process.pid}, set(), {}, 0, 0.0
    while process.poll() is None:
        now = _processes()
        for pid, (parent, name, started, cpu) in sorted(now.items()):
            if parent in tree:
                tree.add(pid)
                if parent in sandboxed or now.get(parent, (0, ""))[1] == "bwrap":
                    sandboxed.add(pid)  # inside a sandbox: killed with its namespace, never reaped into ours
            if pid in sandboxed:
                sampled[pid, started] = max(sampled.get((pid, started), 0.0), cpu)
        if pss and time.perf_counter() - last_pss >= 0.1:
            peak, last_pss = max(peak, sum(_pss_kib(pid) for pid in tree if pid in now)), time.perf_counter()
        time.sleep(0.01)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Cost(wall, reaped + sum(sampled.values()), peak / 1024, sum(sampled.values()))


def median_cost(costs: list[Cost]) -> Cost:
    return Cost(statistics.median(c.wall for c in costs), statistics.median(c.cpu for c in costs),
                max(c.pss for c in costs), statistics.median(c.sandboxed for c in costs))


def grader_command(*args) -> list:
    return [sys.executable, "-m", "grader", *args]


FIRST_TEST = """
import json, os, sys, time
for pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(pool, "1")  # as the `grader` command does (grader.cli.run) before numpy loads
import grader.plugin
from grader.cli import main
marks, setup = [], grader.plugin.GraderPlugin.pytest_runtest_setup
def pytest_runtest_setup(self, item):
    marks.append(marks[0] if marks else time.process_time())
    setup(self, item)
grader.plugin.GraderPlugin.pytest_runtest_setup = pytest_runtest_setup
main(["grade", sys.argv[1], sys.argv[2], "--quiet"])
print(json.dumps({"cpu": marks[0]}))
"""  # the CLI graded in a process of its own that imports nothing else: the CPU it had used when the first test began


def start_up_cpu(assignment: Path, path: Path, repeat: int) -> float:
    """The median CPU of the trusted process before its first test (the interpreter's start included)."""
    runs = [json.loads(subprocess.run([sys.executable, "-c", FIRST_TEST, str(assignment), str(path)], cwd=ROOT,
                                      capture_output=True, text=True, check=True).stdout.splitlines()[-1])["cpu"]
            for _ in range(repeat)]
    return statistics.median(runs)


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


class Goals:
    """Rows of measured figures beside their goals, printed together at the end."""

    def __init__(self):
        self.rows: list[tuple[str, str, str, bool]] = []

    def add(self, what: str, measured: str, goal: str, met: bool) -> None:
        self.rows.append((what, measured, goal, met))
        print(f"  {'met ' if met else 'MISS'}  {what}: {measured} (goal {goal})", flush=True)

    def print(self) -> None:
        print("goals:")
        for what, measured, goal, met in self.rows:
            print(f"  {'met ' if met else 'MISS'}  {what:86s} {measured:>24s}   goal {goal}")


def small_notebook(goals: Goals, scratch: Path, repeat: int) -> tuple[Path, Path]:
    """One small notebook in one call against plain pytest, the fixed start-up, and a batch of them."""
    course = tiny_course(scratch / "course")
    notebook = scratch / "tiny.ipynb"
    subprocess.run(grader_command("notebook", scratch / "course" / "solutions" / "tiny.py", "-o", notebook), cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    one, plain = [], []
    for _ in range(repeat):  # interleaved, so both see the same machine state
        one.append(measured(grader_command("grade", course, notebook, "--quiet")))
        plain.append(measured([sys.executable, __file__, "--plain", course]))
    one, plain = median_cost(one), median_cost(plain)
    goals.add("one small notebook, one CLI call: wall / CPU", f"{one.wall:.2f} s / {one.cpu:.2f} s", "-", True)
    goals.add(f"  its CPU against plain pytest's ({plain.cpu:.2f} s CPU, {plain.wall:.2f} s wall)",
              f"{one.cpu / plain.cpu:.2f}x", "<= 1.3x", one.cpu / plain.cpu <= 1.3)
    start_up = start_up_cpu(course, notebook, repeat)
    goals.add("fixed start-up: CPU of the trusted process before its first test", f"{start_up:.3f} s", "<= 0.25 s",
              start_up <= 0.25)
    size = 20
    single = measured(grader_command("grade", course, make_class(scratch / "one", notebook, 1), "--out",
                                     scratch / "one-out", "-j", "2", "--quiet"))
    whole = measured(grader_command("grade", course, make_class(scratch / "small", notebook, size), "--out",
                                    scratch / "small-out", "-j", "2", "--quiet"))
    wall, cpu = (whole.wall - single.wall) / (size - 1), (whole.cpu - single.cpu) / (size - 1)
    goals.add(f"batch of {size} small notebooks, 2 jobs, per submission: wall", f"{wall:.3f} s", "<= 0.10 s",
              wall <= 0.10)
    goals.add(f"batch of {size} small notebooks, 2 jobs, per submission: CPU", f"{cpu:.3f} s", "<= 0.15 s",
              cpu <= 0.15)
    goals.add("fixed cost per batch (a batch of 1 less one submission): wall / CPU",
              f"{single.wall - wall:.2f} s / {single.cpu - cpu:.2f} s", "<= 0.5 s", single.wall - wall <= 0.5)
    return course, notebook


def torch_class(goals: Goals, scratch: Path, slug: str, single_goal: float, class_size: int, repeat: int) -> None:
    """The reference in one call, and a class of it in a batch on 2 jobs against as many single calls."""
    solution = scratch / f"{slug}.py"
    solution.write_bytes((ROOT / "solutions" / f"{slug}.py").read_bytes())
    single = median_cost([measured(grader_command("grade", slug, solution, "--quiet"))
                          for _ in range(min(class_size, repeat))])
    goals.add(f"{slug} reference, one call: wall (CPU {single.cpu:.1f} s, {single.sandboxed:.1f} s in sandboxes)",
              f"{single.wall:.1f} s",
              f"<= {single_goal:g} s", single.wall <= single_goal)
    klass = make_class(scratch / f"{slug}-class", solution, class_size)
    batch = measured(grader_command("grade", slug, klass, "--out", scratch / f"{slug}-out", "-j", "2", "--quiet"),
                     pss=True)
    ratio = batch.cpu / (class_size * single.cpu)
    goals.add(f"{slug} class of {class_size} in a batch: CPU / {class_size} single calls' "
              f"({batch.cpu:.1f} s, {batch.sandboxed:.1f} s in sandboxes / {class_size} x {single.cpu:.1f} s; "
              f"wall {batch.wall:.1f} s)", f"{ratio:.2f}",
              "<= 0.4", ratio <= 0.4)
    goals.add(f"{slug} class: peak summed PSS of the batch's process tree (2 jobs)", f"{batch.pss:.0f} MiB",
              "<= 1024 MiB", batch.pss <= 1024)
    double = measured(grader_command("grade", slug, make_class(scratch / f"{slug}-double", solution, 2 * class_size),
                                     "--out", scratch / f"{slug}-double-out", "-j", "2", "--quiet"))
    student = (double.cpu - batch.cpu) / class_size  # what a batch cannot share: the student's own code, its timed
    shared = batch.cpu - class_size * student          # checks, the tests' work on its answers
    goals.add(f"  {slug} in a batch, per student / shared by the batch (from a class of {2 * class_size}: "
              f"{double.cpu:.1f} s of CPU, ratio {double.cpu / (2 * class_size * single.cpu):.2f})",
              f"{student:.2f} s / {shared:.1f} s", "-", True)
    goals.add(f"  {slug}: the ratio's floor, however large the class (per student / single call)",
              f"{student / single.cpu:.2f}", "-", True)


def slurm_cpu(since: str, name: str) -> float | None:
    """CPU seconds Slurm's accounting reports for the steps of the jobs named `name` since `since`."""
    done = subprocess.run(["sacct", "-n", "-P", "-S", since, "--name", name, "-o", "JobID,TotalCPU"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None
    total = 0.0
    for line in done.stdout.splitlines():
        job, _, cpu = line.partition("|")
        if "." in job and cpu:  # a step (the batch step runs the task); the allocation line repeats its total
            days, _, clock = cpu.rpartition("-")
            parts = [float(x) for x in clock.split(":")]
            total += float(days or 0) * 86400 + sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
    return total


def slurm(goals: Goals, scratch: Path, course: Path, notebook: Path, size: int) -> None:
    """A class of small notebooks on Slurm (chunks of the default size) against the same class graded locally,
    in the CPU of the grader's processes (the sandboxes' are the same in both, and Slurm's accounting sees
    only the former)."""
    if not (shutil.which("sbatch") and os.environ.get("SLURM_CONF")):
        print("Slurm: no cluster (sbatch, SLURM_CONF): left out")
        return
    klass = make_class(scratch / "slurm-class", notebook, size)
    local = measured_grader_only(grader_command("grade", course, klass, "--out", scratch / "local-out", "-j", "2",
                                                "--quiet"))
    since = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    submitting = measured_grader_only(grader_command("grade", course, klass, "--out", scratch / "slurm-out",
                                                     "--slurm", "--quiet"))
    time.sleep(3)  # the accounting daemon records the ended steps
    tasks = slurm_cpu(since, "grader-tiny")
    if tasks is None:
        print("Slurm: sacct did not answer: left out")
        return
    ratio = (submitting + tasks) / local
    goals.add(f"Slurm, {size} small notebooks in chunks: grader CPU per submission against local "
              f"({(submitting + tasks) / size:.2f} s / {local / size:.2f} s)", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5)


def measured_grader_only(args: list) -> float:
    """CPU seconds of a command's own processes, reaped into ours (the sandboxes' left out)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(a) for a in args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--class-size", type=int, default=4, help="char_rnn and vae submissions in each batch goal")
    parser.add_argument("--slurm-class", type=int, default=16, help="small notebooks graded on Slurm")
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound processes to run beside the benchmark")
    parser.add_argument("--plain", metavar="FOLDER", help=argparse.SUPPRESS)  # one plain pytest run, for the ratio
    args = parser.parse_args()
    if args.plain:
        sys.exit(0 if plain_pytest(args.plain) else 1)
    compileall.compile_dir(ROOT / "grader", quiet=1)  # as an install leaves it: every module's bytecode up to date
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, {args.busy} CPU-bound processes beside; load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; isolation: {detect().level}", flush=True)
    try:
        worker_start(max(args.repeat, 5))
        goals = Goals()
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            course, notebook = small_notebook(goals, scratch, args.repeat)
            torch_class(goals, scratch, "char_rnn", 5, args.class_size, args.repeat)
            torch_class(goals, scratch, "vae", 3, args.class_size, args.repeat)
            slurm(goals, scratch, course, notebook, args.slurm_class)
        page, page_cpu = feedback_ms()
        goals.add("feedback page per submission (backprop): wall / CPU", f"{page:.1f} ms / {page_cpu:.1f} ms",
                  "<= 25 ms", page <= 25)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    goals.print()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
