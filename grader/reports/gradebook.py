"""The gradebook of a batch: one CSV row per submission, one column per question.

Numeric columns hold numbers only: a question a TA has yet to grade is empty, and the status
column says why; the score (capped, less any late penalty: what the grade is) comes first, the uncapped one
beside it, and the late policy's verdict and penalty last.

The student column is a submission's name, so it is cleaned like any student text and guarded
against formula injection: a cell a spreadsheet would read as a formula ("=", "+", "-", "@",
tab or carriage return first) gets a leading single quote, as OWASP recommends. The numbers
are written by the grader and stay numbers.
"""

from __future__ import annotations

import csv
from pathlib import Path

from grader.results import GradeResult, clean_text

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection


def write_gradebook(results: dict[str, GradeResult], path: Path) -> None:
    """Write `results` (student name -> result) as CSV, questions as columns, sorted by student."""
    questions = []
    for result in results.values():
        questions += [q.id for q in result.questions if q.id not in questions]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", *questions, "pending_manual", "uncapped_score", "status",
                         "failed_tests", "isolation", "sha256", "late_penalty", "late"])
        for student in sorted(results):
            result = results[student]
            earned = {q.id: ("" if q.pending else f"{q.earned:g}") for q in result.questions}  # numbers only
            writer.writerow([text_cell(student), f"{result.final_score:g}", f"{result.max_score:g}",
                             *(earned.get(q, "") for q in questions), f"{result.pending:g}", f"{result.score:g}",
                             grade_status(result), sum(t.status != "passed" for t in result.tests), result.isolation,
                             result.submission_sha256, f"{result.late_penalty:g}",
                             f"{result.late.status}: {result.late.reason}" if result.late else ""])


def grade_status(result: GradeResult) -> str:
    """What the score is: not graded, refused (after the late cutoff), pending manual grading, or graded."""
    if result.problem:
        return "not graded"
    if result.late is not None and result.late.status == "refused":
        return "refused (after the cutoff)"
    return "manual grading pending" if result.pending else "graded"


def text_cell(text: str) -> str:
    """A cell for text a student controls: control characters shown as escapes, never read as a formula."""
    text = clean_text(text)
    return "'" + text if text.startswith(_FORMULA_START) else text
