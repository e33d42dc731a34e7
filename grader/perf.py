"""Performance checks: a submission's function against the reference's, timed fairly.

Both run on the same fresh inputs, on the same device, in the same run, interleaved
(reference, submission, submission, reference, ...), after a warm-up, with a new set of
inputs for every call (so memoising earns nothing). While the reference is timed, every
process of the submission is stopped, so nothing it left running can slow the reference. Inputs are staged in each worker
ahead of time (decoded, moved to the GPU); the grader then times only the run request
from its own side, and the worker synchronises CUDA before answering, so a submission
cannot forge its time. The check passes on the ratio of medians; absolute times are
reported, never graded. CUDA is used when present, the CPU otherwise, and the result
says which.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable

import numpy as np

from grader.errors import CallTimeout
from grader.proxy import RemoteFunction

MIN_BLOCK_SECONDS = 0.02
MAX_CALLS_PER_BLOCK = 1024


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

    @property
    def ratio(self) -> float:
        return self.submission / self.reference

    def summary(self) -> str:
        over = "over " if self.lower_bound else ""
        return (f"{over}{self.ratio:.2f}x the reference's time (budget {self.budget:g}x) on {self.device}: median "
                f"{over}{1e3 * self.submission:.2f} ms against {1e3 * self.reference:.2f} ms per {self.number} calls, "
                f"{self.repeats} repetitions")

    def check(self) -> None:
        if self.ratio > self.budget:
            raise AssertionError(f"too slow: {self.summary()}")


def default_device() -> str:
    """'cuda' when this machine has a usable GPU, else 'cpu'."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def compare_speed(submission: RemoteFunction, reference: RemoteFunction, make_args: Callable[[np.random.Generator], tuple],
                  rng: np.random.Generator, budget: float, repeats: int = 7, device: str | None = None) -> Timing:
    """Time `submission` against `reference` on inputs from `make_args(rng)` (a tuple of positional arguments)."""
    device = device or default_device()

    def block(function: RemoteFunction, calls, timeout: float | None = None) -> float:
        side = function._side
        staged = side.stage(calls, device)
        try:
            return side.run(function._name, staged, timeout)
        finally:
            side.release(staged)

    def fresh(number: int) -> list:
        return [(tuple(make_args(rng)), {}) for _ in range(number)]

    number = 1
    while True:  # size a block so that the reference's time dominates the round trip
        with submission._side.paused():
            reference_time = block(reference, fresh(number))
        if reference_time >= MIN_BLOCK_SECONDS or number >= MAX_CALLS_PER_BLOCK:
            break
        number *= 2
    block(submission, fresh(1))  # warm-up
    limit = max(1.0, 4 * budget * reference_time)  # far over budget: stop timing, the verdict is clear
    times: dict[str, list[float]] = {"submission": [], "reference": []}
    for repeat in range(repeats):
        calls = fresh(number)
        order = ("reference", "submission") if repeat % 2 == 0 else ("submission", "reference")
        for name in order:
            if name == "reference":
                with submission._side.paused():  # nothing the submission left running competes with it
                    times[name].append(block(reference, calls))
                continue
            try:
                times[name].append(block(submission, calls, timeout=limit))
            except CallTimeout:
                return Timing(device, number, repeat + 1, limit, statistics.median(times["reference"] or [reference_time]),
                              budget, lower_bound=True)
    return Timing(device, number, repeats, statistics.median(times["submission"]),
                  statistics.median(times["reference"]), budget)
