"""Lint an assignment: the spec, the files it needs, the tests' markers and points, the handout's requirements
(each checked by a test), the mutants, alternatives and equivalent mutants the audit reads."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import nbformat

from grader.audit import load_alternatives, load_equivalents, load_mutants
from grader.notebook import from_percent_script
from grader.papers import variant_problems
from grader.plugin import GraderPlugin
from grader.requirements import coverage
from grader.runner import GradingError, run_pytest
from grader.spec import Assignment, SpecError


def validate(assignment: Assignment) -> list[str]:
    """Every problem found, each naming the file (and key or test) it is about."""
    problems = []
    spec = assignment.spec_path
    for path, what in [(assignment.root / "handout.md", "the handout"), (assignment.starter(".py"), "the starter"),
                       (assignment.starter(".ipynb"), "the starter notebook (grader notebook starter.py)"),
                       (assignment.solution, "the reference solution"), (assignment.public_tests, "public tests"),
                       (assignment.hidden_tests, "hidden tests")]:
        if not Path(path).exists():
            problems.append(f"{path}: missing ({what})")
    notebook = assignment.starter(".ipynb")
    if notebook.exists() and assignment.starter(".py").exists():
        generated = from_percent_script(assignment.starter(".py").read_text())
        if [c.source for c in nbformat.read(notebook, as_version=4).cells] != [c.source for c in generated.cells]:
            problems.append(f"{notebook}: out of date with starter.py (run: grader notebook {assignment.starter('.py')})")
    for load in (load_mutants, load_alternatives, load_equivalents):
        try:
            load(assignment) if assignment.solution.exists() else None
        except SpecError as error:
            problems.append(str(error))
    problems += variant_problems(assignment)
    plugin = GraderPlugin(assignment, None, None)
    try:
        run_pytest(assignment, plugin, collect_only=True)
    except GradingError as error:
        return problems + [str(error)]
    totals: dict[str, float] = defaultdict(float)
    for item in plugin.items:
        test = plugin.results[item.nodeid]
        where = f"{item.path}::{item.name}"
        question = assignment.question(test.question)
        if not test.question:
            problems.append(f"{where}: no question marker (@pytest.mark.question('id'))")
        elif question is None:
            problems.append(f"{where}: question {test.question!r} is not in {spec.name}")
        elif question.manual:
            problems.append(f"{where}: question {test.question!r} is manual in {spec.name} and cannot have tests")
        if test.visibility == "public" and "reference" in getattr(item, "fixturenames", ()):
            problems.append(f"{where}: a public test uses the reference fixture, but students run public tests "
                            "without the solution (compare with values computed in the test instead)")
        if test.points <= 0:
            problems.append(f"{where}: no positive points marker (@pytest.mark.points(n))")
        totals[test.question] += test.points
    problems += coverage(assignment, plugin.items).problems()
    for i, question in enumerate(assignment.questions):
        if question.manual:
            given = sum(item.points for item in question.rubric if item.points > 0)
            if not question.rubric:
                problems.append(f"{spec}: questions[{i}].rubric: the manual question {question.id!r} needs a rubric")
            elif abs(given - question.points) > 1e-9:
                problems.append(f"{spec}: questions[{i}].rubric: its items give {given:g} points but the question "
                                f"has {question.points:g}")
            continue
        if abs(totals.get(question.id, 0.0) - question.points) > 1e-9:
            problems.append(f"{spec}: questions[{i}].points is {question.points:g} but the tests of "
                            f"{question.id!r} add up to {totals.get(question.id, 0.0):g}")
    return problems
