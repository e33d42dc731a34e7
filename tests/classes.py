"""A generated class of perceptron results (what `grader grade --out` writes), for the course tools' tests."""

from __future__ import annotations

import random
from pathlib import Path

from grader import results, spec
from grader.course.views import render
from grader.store import GradesFolder

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> **bold** [x](javascript:alert(3)) </pre>\x1b[2J'


def make_class(folder: Path, students: int, seed: int = 0) -> dict[str, results.GradeResult]:
    """Record `students` results in the folder's store (the third one's answer hostile, the last a failure)
    and render the views, as `grader grade --out` leaves them."""
    assignment = spec.load("perceptron")
    rng = random.Random(seed)
    made = {}
    for number in range(students - 1):
        name = f"student{number:03d}" if number != 2 else "<img src=x onerror=alert(9)>"
        tests, questions = [], []
        for q in assignment.questions:
            if q.manual:
                answer = HOSTILE if number == 2 else f"delta > 0 since the points are finitely many ({number})."
                questions.append(results.QuestionResult(q.id, q.title, q.points, 0.0, manual=True,
                                                        rubric=[i.label for i in q.rubric], answer=answer))
                continue
            earned = 0.0
            for k in range(2):
                ok = rng.random() < (0.9 if k == 0 else 0.6)
                points = q.points / 2
                a, b = rng.randint(2, 9), rng.randint(2, 9)
                message = "" if ok else rng.choice([f"{q.id}: expected {a}, got {rng.random():.3f} at index {k}",
                                                    f"{q.id} returned shape ({a}, {b}) instead of ({b}, {a})"])
                tests.append(results.TestResult(f"hidden/test_{q.id}.py::test_case_{k}", q.id, points,
                                                points if ok else 0.0, "passed" if ok else "failed", "hidden",
                                                message=message, duration=0.01))
                earned += points if ok else 0.0
            questions.append(results.QuestionResult(q.id, q.title, q.points, earned))
        result = results.GradeResult("perceptron", assignment.version, "0.1.0", f"{name}.ipynb", f"{number:064x}",
                                     "bubblewrap", tests, questions, execution_time=round(2 + rng.random() * 3, 3),
                                     code=[{"label": f"{name}.py", "source": "# proof:\n# my proof\n\nx = 1\n"}])
        made[name] = result
    record(folder, "perceptron", made, {"late": "Traceback ...\nRuntimeError: the grader ran out of memory"})
    return made


def record(folder: Path, slug: str, made: dict[str, results.GradeResult], failed: dict[str, str] | None = None) -> None:
    """Record results (and failed gradings) in the folder's store as a batch does, then render the views."""
    assignment = spec.load(slug)
    with GradesFolder.writing(folder, "grade", create=True) as store:
        store.set_setting("assignment", assignment.slug)
        store.set_setting("assignment_root", str(assignment.root))
        for name, result in made.items():
            store.record(name, name, f"class/{name}.ipynb", result, {})
        for name, why in (failed or {}).items():
            store.mark(name, "failed", why)
        render(store)
