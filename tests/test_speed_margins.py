"""Speed margins: each speed check's correct solutions are timed well under its budget and its declared-slow ones
well over, several times each, with busy processes beside them when asked; the audit fails where a margin does not
hold. End to end on a tiny assignment whose slow alternative sleeps in every call."""

from __future__ import annotations

import json

from grader.cli import main
from grader.speed_margins import Check, _busy, measure

from conftest import make_assignment

SOLUTION = "import numpy as np\n\n\ndef total(x):\n    return float(np.sort(x)[-1])\n"  # a few ms of work
SLOW = SOLUTION.replace("    return", "    time.sleep(0.1)\n    return").replace("import numpy", "import time\nimport numpy")
TESTS = """
import pytest

@pytest.mark.question("q")
@pytest.mark.points(1)
def test_total_is_fast(submission, reference, speed):
    speed(submission.total, reference.total, lambda rng: (rng.normal(size=50_000),), budget=BUDGET)
"""


def tiny(tmp_path, budget: float):
    assignment = make_assignment(tmp_path / "course", TESTS.replace("BUDGET", str(budget)), SOLUTION)
    folder = assignment.alternatives_folder
    folder.mkdir(parents=True)
    (folder / "sleeps.py").write_text(SLOW)
    (folder / "same.py").write_text(SOLUTION)
    (folder / "alternatives.yaml").write_text("- {name: sleeps, description: sleeps in every call, loses: [q]}\n")
    return assignment


def test_correct_and_slow_solutions_are_timed_apart_and_the_margins_hold(tmp_path):
    margins = measure(tiny(tmp_path, 5.0), repeats=2)
    (check,) = margins.checks
    assert (check.test, check.question, check.budget, check.device) == ("test_total_is_fast", "q", 5.0, "cpu")
    assert sorted(check.correct) == ["alternative_same", "reference"] and list(check.slow) == ["alternative_sleeps"]
    assert all(len(r) == 2 for r in [*check.correct.values(), *check.slow.values()])
    assert check.slowest_correct() < 5.0 / 1.5 and check.fastest_slow() > 5.0 * 1.5
    assert margins.problems() == [] and margins.to_dict()["load"] == 0


def test_a_margin_that_does_not_hold_fails_the_audit(tmp_path, capsys):
    assignment = tiny(tmp_path, 0.5)  # the correct solutions' ratio, near 1, is far within 1.5x of this budget
    out = tmp_path / "audit.json"
    code = main(["audit", str(assignment.root), "-j", "1", "--mutants", "0", "--seeds", "0", "--speed-margins", "1",
                 "--json", str(out)])
    report = json.loads(out.read_text())
    assert code == 1 and report["speed_margins"]["repeats"] == 1
    assert any("the slowest correct solution took" in p and "within 1.5x of the budget 0.5x" in p for p in report["problems"])
    assert "speed margins (1 timings each" in capsys.readouterr().out


def test_problems_name_each_margin_that_fails_and_a_missing_slow_solution():
    check = Check("test_x", "speed", budget=6.0, device="cpu", correct={"reference": [1.0, 4.5]})
    assert [p.split(":")[1].strip() for p in check.problems()] == [
        "the slowest correct solution took 4.50x, within 1.5x of the budget 6x (at most 4.00x leaves the margin)",
        "no declared-slow alternative (tests/alternatives/ with loses"]
    check.slow = {"alternative_loop": [8.0, 30.0]}
    assert "the fastest declared-slow solution took 8.00x" in check.problems()[1]


def test_busy_processes_run_while_the_block_runs_and_are_stopped_after():
    with _busy(2) as processes:
        assert len(processes) == 2 and all(p.poll() is None for p in processes)
    assert all(p.poll() is not None for p in processes)
