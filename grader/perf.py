"""Performance checks: a submission's function against the reference's, timed fairly.

Both run on the same fresh inputs, on the same device, in the same run, interleaved
(reference, submission, submission, reference, ...), after a warm-up, with a new set of
inputs for every call (so memoising earns nothing). What the grader guarantees, whatever
the submission does inside its sandbox:
- The time is taken by the grader, around one request that carries the inputs (nothing can
  be computed from them before the clock starts; decoding them and moving them to the GPU
  costs both sides alike); the worker waits for CUDA before it answers.
- Every timed result is checked: the worker answers with a summary of each result (shape,
  sum, norm, entries at positions the grader draws), compared with
  the reference's on the same input at the check's tolerance, so skipping the work while
  timed fails the check.
- While one side is timed the other side cannot run: its processes are frozen from outside
  (a control group where the grader may create one, else SIGSTOP to every process of the
  sandbox), and afterwards the grader reads how much CPU they used meanwhile; a block during
  which they ran is measured again, and after a few such blocks the check fails. On CUDA, kernels
  queued before the freeze would still run: the driver is asked (NVML, `grader.gpu_activity`)
  which processes used the GPU during the block, and a block in which the frozen side's did is
  treated the same way.
The check passes on the ratio of medians; absolute times are reported, never graded. CUDA
is used when present, the CPU otherwise, and the result says which.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from typing import Callable

import numpy as np

from grader.deadline import deadline
from grader.errors import CallTimeout
from grader.gpu_activity import SAMPLE_PERIOD, GpuActivity, SimulatedNvml
from grader.protocol import SIMULATED_CUDA
from grader.proxy import RemoteFunction

MIN_BLOCK_SECONDS = 0.02
WATCHED_BLOCK_SECONDS = 3 * SAMPLE_PERIOD  # on a GPU watched through NVML: long enough for its samples
MAX_CALLS_PER_BLOCK = 1024
MAX_BUSY_BLOCKS = 3        # blocks measured again because the frozen side ran, before the check fails
IDLE_CPU_SECONDS = 0.001   # what a frozen side may be seen to use (accounting granularity)


@dataclass(frozen=True)
class Timing:
    """What a speed check measured: medians per block of `number` calls, on `device`."""

    device: str
    number: int
    repeats: int
    submission: float
    reference: float
    budget: float
    lower_bound: bool = False  # the submission was stopped: its time is at least `submission`
    gpu_watched: bool = False  # on CUDA: the frozen side's GPU activity was checked through NVML

    @property
    def ratio(self) -> float:
        return self.submission / self.reference

    def summary(self) -> str:
        over = "over " if self.lower_bound else ""
        watch = "" if self.device == "cpu" else (", the idle side's GPU use checked" if self.gpu_watched else
                                                 ", the idle side's GPU use not checked (no NVML, or blocks shorter "
                                                 "than its sampling period)")
        return (f"{over}{self.ratio:.2f}x the reference's time (budget {self.budget:g}x) on {self.device}: median "
                f"{over}{1e3 * self.submission:.2f} ms against {1e3 * self.reference:.2f} ms per {self.number} calls, "
                f"{self.repeats} repetitions{watch}")

    def check(self) -> None:
        if self.ratio > self.budget:
            raise AssertionError(f"too slow: {self.summary()}")


def default_device() -> str:
    """'cuda' when this machine has a usable GPU, else 'cpu'; the simulated GPU where GRADER_SIMULATE_CUDA is set
    (`idle` or `busy`: what its stand-in NVML reports), so the grader's tests take every GPU branch without one."""
    if os.environ.get("GRADER_SIMULATE_CUDA"):
        return SIMULATED_CUDA
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def compare_speed(submission: RemoteFunction, reference: RemoteFunction, make_args: Callable[[np.random.Generator], tuple],
                  rng: np.random.Generator, budget: float, repeats: int = 7, device: str | None = None,
                  rtol: float = 1e-6, atol: float = 1e-8) -> Timing:
    """Time `submission` against `reference` on inputs from `make_args(rng)` (a tuple of positional arguments).

    Raises AssertionError when a timed result differs from the reference's, or when the side that
    should be frozen kept running.
    """
    device = device or default_device()
    probe = int(rng.integers(2**31))
    gpu = None if device == "cpu" else GpuActivity.open(SimulatedNvml(os.environ.get("GRADER_SIMULATE_CUDA") == "busy")
                                                        if device == SIMULATED_CUDA else None)

    def block(timed: RemoteFunction, other: RemoteFunction, calls, timeout: float | None = None):
        """Seconds and result summaries of one block of `timed`, with the other side frozen and seen to stay idle."""
        used = []
        for _ in range(MAX_BUSY_BLOCKS):
            with other._side.frozen() as stillness:
                start = GpuActivity.clock()
                seconds, summaries = timed._side.timed(timed._name, calls, device, probe, timeout)
                on_gpu = gpu.busy(stillness.pids, start, GpuActivity.clock()) if gpu else set()
            if stillness.cpu_seconds <= IDLE_CPU_SECONDS and not on_gpu:
                return seconds, summaries
            used.append(f"{1e3 * stillness.cpu_seconds:.1f} ms of CPU" + (" and the GPU" if on_gpu else ""))
        raise AssertionError(f"the {other._side.name}'s processes kept running while they were stopped for the "
                             f"{timed._side.name}'s timing ({', '.join(used)}); the timing cannot be trusted")

    def fresh(number: int) -> list:
        return [(tuple(make_args(rng)), {}) for _ in range(number)]

    block(reference, submission, fresh(1))  # warm-up: first calls pay for imports, caches and allocations
    block(submission, reference, fresh(1))
    number, min_block = 1, WATCHED_BLOCK_SECONDS if gpu else MIN_BLOCK_SECONDS
    while True:  # size a block so that the reference's time dominates the round trip
        reference_time, _ = block(reference, submission, fresh(number))
        if reference_time >= min_block or number >= MAX_CALLS_PER_BLOCK:
            break
        number *= 2
    watched = gpu is not None and reference_time >= WATCHED_BLOCK_SECONDS  # else NVML's samples cannot cover a block
    limit = max(1.0, 4 * budget * reference_time)  # far over budget: stop timing, the verdict is clear
    times: dict[str, list[float]] = {"submission": [], "reference": []}
    for repeat in range(repeats):
        calls = fresh(number)
        summaries = {}
        for name in ("reference", "submission") if repeat % 2 == 0 else ("submission", "reference"):
            if name == "reference":
                seconds, summaries[name] = block(reference, submission, calls)
            else:
                try:
                    seconds, summaries[name] = block(submission, reference, calls, timeout=limit)
                except CallTimeout:
                    return Timing(device, number, repeat + 1, limit,
                                  statistics.median(times["reference"] or [reference_time]), budget,
                                  lower_bound=True, gpu_watched=watched)
            times[name].append(seconds)
        for index, (got, expected) in enumerate(zip(summaries["submission"], summaries["reference"])):
            with deadline(CHECK_SECONDS, "comparing a timed call's result with the reference's"):
                mismatch = summary_mismatch(got, expected, rtol, atol)
            if mismatch:
                raise AssertionError(f"while timed, call {index + 1} of a block returned something other than the "
                                     f"reference's result on the same input: {mismatch}")
    return Timing(device, number, repeats, statistics.median(times["submission"]),
                  statistics.median(times["reference"]), budget, gpu_watched=watched)


CHECK_SECONDS = 30  # the trusted side's work on one summary the worker sent (grader.deadline)


def summary_mismatch(got, expected, rtol: float, atol: float, where: str = "the result") -> str | None:
    """How the worker's summary `got` of a result differs from the reference's `expected`, or None if it does not.

    The summary is hostile: it must have the reference's structure exactly (the same kind of node with
    the same fields at every level, as many items, a summary for every leaf, an entry for every sampled
    position and no other), or the check fails. Sums and norms are compared with a tolerance scaled by
    the norm and the number of entries (so float noise in a long sum passes), sampled entries as
    assert_close compares them.
    """
    if type(got) is not dict or type(expected) is not dict or got.keys() != expected.keys():
        return f"{where}: its summary is not of the reference's kind"
    if "shape" in expected:
        if got["shape"] != expected["shape"]:
            return f"{where} has shape {_shape(got['shape'])}, expected {_shape(expected['shape'])}"
        if type(got["at"]) is not list or len(got["at"]) != len(expected["at"]):
            return f"{where}: its summary does not sample the entries it was asked for"
        size = max(1, math.prod(expected["shape"]))
        tolerance = (rtol * expected["norm"] + atol) * math.sqrt(size)  # bounds the float noise of a sum of `size` terms
        for key in ("sum", "norm"):
            if not _close(got[key], expected[key], tolerance):
                return f"{where}: its {key} is {got[key]!r}, expected {expected[key]!r}"
        for g, e in zip(got["at"], expected["at"]):
            if not _close(g, e, rtol * abs(e) + atol):
                return f"{where}: an entry is {g!r}, expected {e!r}"
        return None
    if "items" in expected:
        if got.get("length") != expected.get("length") or got.get("keys") != expected.get("keys"):
            return f"{where} has another structure than expected (length or keys differ)"
        if type(got["items"]) is not list or len(got["items"]) != len(expected["items"]):
            return f"{where}: its summary does not summarise every item"
        for index, (g, e) in enumerate(zip(got["items"], expected["items"])):
            mismatch = summary_mismatch(g, e, rtol, atol, f"{where}[{index}]")
            if mismatch:
                return mismatch
        return None
    return None if got == expected else f"{where} is not what the reference returned"


def _shape(shape) -> str:
    return str(tuple(shape)) if type(shape) is list else "unreadable"


def _close(got, expected, tolerance: float) -> bool:
    if type(got) not in (int, float) or type(expected) not in (int, float) or type(tolerance) not in (int, float):
        return False
    if math.isnan(expected):
        return math.isnan(got)
    return got == expected or abs(got - expected) <= tolerance
