"""A class's results as the gradebook an LMS imports: Canvas, Moodle, or plain CSV.

Canvas's grade import reads Student, ID, SIS User ID, SIS Login ID and Section, then one column per
assignment, and a "Points Possible" row under the header; a column whose Points Possible cell reads
"(read only)" is shown but not imported, which is how the detail columns travel. Moodle's CSV import maps
a column that identifies the user (ID number or email address) to a grade item, and another to its
feedback; the other columns it is told to ignore. Every text cell goes through the gradebook's guard
against spreadsheet formulas.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.roster import Match, Roster, Student
from grader.course.tables import CourseError
from grader.reports.gradebook import grade_status, text_cell
from grader.results import GradeResult

FORMATS = ("canvas", "moodle", "csv")


@dataclass
class Grades:
    """The results in a grades folder by submission name, and the files that could not be read."""

    results: dict[str, GradeResult] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def read_grades(folder: Path) -> Grades:
    """Read every result (<name>.json) a batch wrote into `folder`."""
    if not folder.is_dir():
        raise CourseError(f"{folder}: no such grades folder (the --out folder of `grader grade`)")
    grades = Grades()
    for path in sorted(folder.glob("*.json")):
        try:
            grades.results[path.stem] = GradeResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            grades.unreadable[path.stem] = f"{path.name}: not a readable result ({type(error).__name__}: {error})"
    if not grades.results and not grades.unreadable:
        raise CourseError(f"{folder}: holds no results (<name>.json); grade the class into it first")
    return grades


def match(results: dict[str, GradeResult], roster: Roster | None) -> Match:
    """Submissions to students; without a roster, each submission is its own student, named by its file."""
    if roster is None:
        return Match(students={name: Student(id=name, name=name, keys=(name,)) for name in results})
    return roster.match(results)


def write_export(results: dict[str, GradeResult], matched: Match, fmt: str, path: Path, column: str) -> int:
    """Write the gradebook in `fmt` to `path`: a row per student (those without a submission have an empty
    score; in plain CSV, so do submissions of no student on the roster); `column` names the grade column.
    Returns the number of rows written under the header."""
    questions: list[str] = []
    for result in results.values():
        questions += [q.id for q in result.questions if q.id not in questions]
    details = ["capped_score", "uncapped_score", "max_score", "late_penalty", "late_status", "late_reason", "status",
               *(f"{q} (points)" for q in questions)]
    by_student = {student.id: name for name, student in matched.students.items()}
    students = [*{s.id: s for s in matched.students.values()}.values(), *matched.missing]
    students.sort(key=lambda s: (s.name.lower(), s.id))
    rows = [(student, by_student.get(student.id, "")) for student in students]
    if fmt == "csv":  # a submission of no student on the roster cannot be imported, but is kept here
        rows += [(Student(id="", name=""), name) for name in matched.unmatched]
    head, first, grade_at = _layout(fmt, column)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*head, *details])
        if first:  # Canvas: the points possible, the details read only
            top = max((r.max_score for r in results.values()), default=0)
            writer.writerow([*first[:grade_at], f"{top:g}", *first[grade_at + 1:], *["(read only)"] * len(details)])
        for student, name in rows:
            result = results.get(name)
            writer.writerow([*map(text_cell, _identity(fmt, student, name, result)), *_details(result, questions)])
    return len(rows)


def _layout(fmt: str, column: str) -> tuple[list[str], list[str], int]:
    """The identity and grade columns of `fmt`, the row under the header (Canvas), and the grade column's index."""
    if fmt == "canvas":
        return (["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column],
                ["    Points Possible", "", "", "", "", ""], 5)
    if fmt == "moodle":
        return ["ID number", "Email address", "Full name", column, "Feedback"], [], 3
    if fmt == "csv":
        return ["student_id", "name", "email", "submission", "score"], [], 4
    raise CourseError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")


def _identity(fmt: str, student: Student, name: str, result: GradeResult | None) -> list[str]:
    """The identity cells and the grade (empty without a result) of one student's row."""
    score = f"{result.final_score:g}" if result else ""
    if fmt == "canvas":
        return [student.name, student.canvas_id, student.id, student.login or student.email, student.section, score]
    if fmt == "moodle":
        late = f"Late policy: {result.late.status}, {result.late_penalty:g} points off ({result.late.reason})" \
            if result and result.late else ""
        return [student.id, student.email, student.name, score, late]
    return [student.id, student.name, student.email, name, score]


def _details(result: GradeResult | None, questions: list[str]) -> list[str]:
    if result is None:
        return ["", "", "", "", "", "", "no submission", *[""] * len(questions)]
    earned = {q.id: "" if q.manual else f"{q.earned:g}" for q in result.questions}
    late = result.late
    return [f"{result.capped_score:g}", f"{result.score:g}", f"{result.max_score:g}", f"{result.late_penalty:g}",
            late.status if late else "", text_cell(late.reason) if late else "", grade_status(result),
            *(earned.get(q, "") for q in questions)]
