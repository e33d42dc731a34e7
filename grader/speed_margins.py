"""Prove each speed check separates: correct solutions well under its budget, the declared-slow ones well over.

A speed check is a test that uses the `speed` fixture. Its correct solutions are the reference and every
alternative (tests/alternatives/) that does not declare it loses the check's question; its slow ones are the
alternatives that do (the loop the handout names). Each is graded on the speed checks alone, `repeats` times,
one after the other (never two timings at once), optionally with `load` CPU-bound processes running beside
them; the ratio each check measured is read from its result. The margin holds when the slowest correct ratio
is at most budget / MARGIN and the fastest slow one at least budget * MARGIN.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.audit import Variant, load_alternatives
from grader.spec import Assignment, SpecError

MARGIN = 1.5
_RATIO = re.compile(r"^(over )?([0-9.]+)x the reference's time \(budget ([0-9.]+)x\) on (\w+)")


@dataclass
class Check:
    """One speed check's ratios, by variant, and its budget."""

    test: str
    question: str
    budget: float | None = None
    device: str = ""
    correct: dict[str, list[float]] = field(default_factory=dict)
    slow: dict[str, list[float]] = field(default_factory=dict)
    unmeasured: list[str] = field(default_factory=list)    # "variant: why" where a grading gave no ratio

    def slowest_correct(self) -> float | None:
        return max((r for rs in self.correct.values() for r in rs), default=None)

    def fastest_slow(self) -> float | None:
        return min((r for rs in self.slow.values() for r in rs), default=None)

    def problems(self) -> list[str]:
        found = [f"{self.test}: no ratio measured for {why}" for why in self.unmeasured]
        if self.budget is None:
            return found + [f"{self.test}: no timing was measured"]
        high, low = self.slowest_correct(), self.fastest_slow()
        if high is not None and high * MARGIN > self.budget:
            found.append(f"{self.test}: the slowest correct solution took {high:.2f}x, within {MARGIN}x of the "
                         f"budget {self.budget:g}x (at most {self.budget / MARGIN:.2f}x leaves the margin)")
        if low is None:
            found.append(f"{self.test}: no declared-slow alternative (tests/alternatives/ with loses: "
                         f"[{self.question}]) to show the check fails what it exists to catch")
        elif low < MARGIN * self.budget:
            found.append(f"{self.test}: the fastest declared-slow solution took {low:.2f}x, within {MARGIN}x of "
                         f"the budget {self.budget:g}x (at least {MARGIN * self.budget:.2f}x leaves the margin)")
        return found

    def to_dict(self) -> dict:
        return {"test": self.test, "question": self.question, "budget": self.budget, "device": self.device,
                "correct": self.correct, "slow": self.slow, "unmeasured": self.unmeasured,
                "slowest_correct": self.slowest_correct(), "fastest_slow": self.fastest_slow()}


@dataclass
class SpeedMargins:
    load: int
    repeats: int
    checks: list[Check]

    def problems(self) -> list[str]:
        return [p for check in self.checks for p in check.problems()]

    def to_dict(self) -> dict:
        return {"load": self.load, "repeats": self.repeats, "margin": MARGIN,
                "checks": [c.to_dict() for c in self.checks], "problems": self.problems()}


def speed_checks(assignment: Assignment) -> dict[str, str]:
    """The assignment's speed checks: test function name -> its question."""
    from grader.plugin import GraderPlugin, question_of
    from grader.runner import run_pytest

    plugin = GraderPlugin(assignment, None, None)
    run_pytest(assignment, plugin, collect_only=True)
    return {item.originalname if hasattr(item, "originalname") else item.name: question_of(item)
            for item in plugin.items if "speed" in getattr(item, "fixturenames", ())}


def measure(assignment: Assignment, repeats: int = 5, load: int = 0) -> SpeedMargins:
    """Grade the correct and declared-slow solutions on the speed checks alone, `repeats` times each, with
    `load` busy processes beside them, and collect each check's ratios."""
    from grader.runner import grade

    checks = {name: Check(name, question) for name, question in speed_checks(assignment).items()}
    if not checks:
        return SpeedMargins(load, repeats, [])
    if assignment.solution is None or not assignment.solution.exists():
        raise SpecError(f"{assignment.solution}: no reference solution, and the speed margins time it")
    solutions = [Variant("reference", assignment.solution.read_text(), ".py", "full"), *load_alternatives(assignment)]
    with tempfile.TemporaryDirectory(prefix=f"grader-speed-{assignment.slug}-") as scratch, _busy(load):
        paths = {v.name: v.write(Path(scratch)) for v in solutions}
        for _ in range(repeats):
            for variant in solutions:
                result = grade(assignment, paths[variant.name], select=tuple(checks))
                for name, check in checks.items():
                    test = next((t for t in result.tests if t.name.endswith(f"::{name}")), None)
                    _record(check, variant, test)
    return SpeedMargins(load, repeats, list(checks.values()))


def _record(check: Check, variant: Variant, test) -> None:
    """Add the ratio `test` measured for `variant` to the correct or slow ones of `check`."""
    found = _RATIO.match(test.timing) if test is not None else None
    if found is None:
        reason = "not run" if test is None else (test.message.strip().splitlines() or ["no timing"])[0][:160]
        check.unmeasured.append(f"{variant.name}: {reason}")
        return
    check.budget, check.device = float(found.group(3)), found.group(4)
    ratios = check.slow if check.question in variant.loses else check.correct
    ratios.setdefault(variant.name, []).append(float(found.group(2)))


@contextlib.contextmanager
def _busy(count: int):
    """`count` CPU-bound processes (yielded) running while the block runs, each stopped after it."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield processes
    finally:
        for process in processes:
            process.kill()
            process.wait()
