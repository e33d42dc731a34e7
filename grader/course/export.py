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
from typing import TextIO

from grader.course.grades import Shown
from grader.course.roster import Match, Roster, Student
from grader.course.tables import CourseError
from grader.reports.gradebook import text_cell

FORMATS = ("canvas", "moodle", "csv")
NEEDS_ROSTER = ("canvas", "moodle")  # an LMS imports rows by its own ids, which only a roster gives


def match(students: dict[str, Shown], roster: Roster | None) -> Match:
    """The folder's students (by the names they were submitted under) to the roster's; without a roster, each
    submission is its own student, named by its file."""
    if roster is None:
        return Match(students={name: Student(id="", name="", keys=(name,)) for name in students})
    by_original = {shown.original: name for name, shown in students.items()}
    found = roster.match(by_original)
    return Match(students={by_original[original]: student for original, student in found.students.items()},
                 unmatched=[by_original[original] for original in found.unmatched], missing=found.missing,
                 duplicates={sid: [by_original[o] for o in names] for sid, names in found.duplicates.items()})


def write_export(students: dict[str, Shown], matched: Match, fmt: str, out: TextIO, column: str) -> int:
    """Write the gradebook in `fmt` to `path`: a row per student. A student without a current result (not
    graded now, or no submission) and one whose manual grading is pending have an empty grade, which an LMS
    leaves as it was, and the status says why; in plain CSV, submissions of no student on the roster are kept
    too. `column` names the grade column; the CSV goes to `out`. Returns the number of rows written under the header."""
    if fmt not in FORMATS:
        raise CourseError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    questions: list[str] = []
    for shown in students.values():
        if shown.result is not None:
            questions += [q.id for q in shown.result.questions if q.id not in questions]
    details = ["capped_score", "uncapped_score", "max_score", "late_penalty", "late_status", "late_reason", "status",
               "reason", *(f"{q} (points)" for q in questions)]
    by_student = {student.id: name for name, student in matched.students.items() if student.id}
    if by_student or matched.missing:
        people = [*{s.id: s for s in matched.students.values()}.values(), *matched.missing]
        people.sort(key=lambda s: (s.name.lower(), s.id))
        rows = [(student, by_student.get(student.id, "")) for student in people]
    else:
        rows = [(student, name) for name, student in sorted(matched.students.items())]
    if fmt == "csv":  # a submission of no student on the roster cannot be imported, but is kept here
        rows += [(Student(id="", name=""), name) for name in matched.unmatched]
    head, first, grade_at = _layout(fmt, column)
    writer = csv.writer(out)
    writer.writerow([*head, *details])
    if first:  # Canvas: the points possible, the details read only
        top = max((s.result.max_score for s in students.values() if s.result), default=0)
        writer.writerow([*first[:grade_at], f"{top:g}", *first[grade_at + 1:], *["(read only)"] * len(details)])
    for student, name in rows:
        shown = students.get(name)
        writer.writerow([*map(text_cell, _identity(fmt, student, name, shown)), *_details(shown, questions)])
    return len(rows)


def _layout(fmt: str, column: str) -> tuple[list[str], list[str], int]:
    """The identity and grade columns of `fmt`, the row under the header (Canvas), and the grade column's index."""
    if fmt == "canvas":
        return (["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column],
                ["    Points Possible", "", "", "", "", ""], 5)
    if fmt == "moodle":
        return ["ID number", "Email address", "Full name", column, "Feedback"], [], 3
    return ["student_id", "name", "email", "submission", "score"], [], 4


def grade(shown: Shown | None) -> str:
    """The grade an LMS imports: the final score once it is final; empty while anything is pending or missing."""
    if shown is None or shown.result is None or shown.result.pending:
        return ""
    return f"{shown.result.final_score:g}"


def _identity(fmt: str, student: Student, name: str, shown: Shown | None) -> list[str]:
    """The identity cells and the grade of one student's row."""
    score = grade(shown)
    if fmt == "canvas":
        return [student.name, student.canvas_id, student.id, student.login or student.email, student.section, score]
    if fmt == "moodle":
        result = shown.result if shown else None
        feedback = f"Late policy: {result.late.status}, {result.late_penalty:g} points off ({result.late.reason})" \
            if result and result.late else ""
        if shown is not None and not score:
            feedback = f"{shown.status}: {shown.reason}".strip(": ") + (f"; {feedback}" if feedback else "")
        return [student.id, student.email, student.name, score, feedback]
    return [student.id, student.name, student.email, name, score]


def _details(shown: Shown | None, questions: list[str]) -> list[str]:
    if shown is None:
        return ["", "", "", "", "", "", "no submission", "", *[""] * len(questions)]
    result = shown.result
    if result is None:
        return ["", "", "", "", "", "", shown.status, text_cell(shown.reason), *[""] * len(questions)]
    earned = {q.id: "" if q.pending else f"{q.earned:g}" for q in result.questions}
    late = result.late
    return [f"{result.capped_score:g}", f"{result.score:g}", f"{result.max_score:g}", f"{result.late_penalty:g}",
            late.status if late else "", text_cell(late.reason) if late else "", shown.status, text_cell(shown.reason),
            *(earned.get(q, "") for q in questions)]
