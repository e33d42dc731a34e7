"""Merge the TAs' grades into the results: each student's JSON, feedback page, and the gradebook.

What is written follows from the store and the spec alone (an answer not graded yet is pending again,
a rubric item's points are the spec's current ones), so merging twice gives the same files.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.roster import read_roster
from grader.course.grades import read_grades, write_result
from grader.course.review.store import Store
from grader.notebook import Cell
from grader.reports.feedback import to_feedback_html
from grader.reports.gradebook import write_gradebook
from grader.results import GradeResult
from grader.sandbox.space import remove_tree
from grader.spec import Assignment
from grader.submission import prepare


@dataclass
class Merged:
    """What a merge did."""

    students: int = 0
    graded: int = 0                 # answers graded by a TA, over all students and manual questions
    pending: int = 0                # answers still to grade
    written: int = 0                # result files that changed
    feedback: int = 0               # feedback pages written again
    missing: list[str] = field(default_factory=list)   # students whose submission was not found for the feedback


def merge(assignment: Assignment, folder: Path, submissions: Path | None = None) -> Merged:
    """Write the manual points into every result of `folder`, then the gradebook and the feedback pages,
    rendered again from the code each result keeps (or, for results written before results kept it, from
    the submissions in the class folder `submissions` where it is given)."""
    grades, merged = read_grades(folder), Merged()
    manual = [q for q in assignment.questions if q.manual]
    store = Store(folder)
    try:
        by_question = {q.id: store.grades(q.id) for q in manual}
    finally:
        store.close()
    for student, result in grades.results.items():
        for question in manual:
            mine = next((q for q in result.questions if q.id == question.id), None)
            if mine is None:
                continue
            grade = by_question[question.id].get(student)
            mine.rubric = [item.label for item in question.rubric]
            if grade and grade.graded:
                mine.graded, mine.earned, mine.comment = True, grade.score(question), grade.comment
                mine.awarded = [item.label for item in grade.awarded(question)]
                merged.graded += 1
            else:
                mine.graded, mine.earned, mine.comment, mine.awarded = False, 0.0, "", []
                merged.pending += 1
        merged.written += write_result(folder / f"{student}.json", result)
    merged.students = len(grades.results)
    write_gradebook(grades.results, folder / "gradebook.csv")
    _feedback(assignment, grades.results, folder, submissions, merged)
    return merged


def _feedback(assignment: Assignment, results: dict[str, GradeResult], folder: Path, submissions: Path | None,
              merged: Merged) -> None:
    """Render each student's feedback page again from their submission's code (read, never run)."""
    found = read_roster(submissions).entries if submissions is not None else {}
    for student, result in results.items():
        if result.code:
            cells = [Cell(**cell) for cell in result.code]
        elif student in found:
            workdir = Path(tempfile.mkdtemp(prefix="grader-merge-"))
            try:
                cells = prepare(found[student], assignment.submission, workdir).cells
            finally:
                remove_tree(workdir)
        else:
            merged.missing.append(student)
            continue
        (folder / f"{student}.html").write_text(to_feedback_html(result, cells), encoding="utf-8")
        merged.feedback += 1
