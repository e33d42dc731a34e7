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
from dataclasses import dataclass
from typing import TextIO

from grader.results import GradeResult, clean_text

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection


@dataclass
class Row:
    """One student's row: their name, status and reason, and their result (None: not graded now)."""

    name: str
    status: str
    reason: str
    result: GradeResult | None


def write_gradebook(rows: list[Row], out: TextIO) -> None:
    """Write a row per student (a Row, or anything with its fields), questions as columns, sorted by student; a
    student without a result has every number empty, and the status and reason say why."""
    questions: list[str] = []
    for row in rows:
        if row.result is not None:
            questions += [q.id for q in row.result.questions if q.id not in questions]
    writer = csv.writer(out)
    writer.writerow(["student", "score", "max_score", *questions, "pending_manual", "uncapped_score", "status",
                     "reason", "failed_tests", "isolation", "sha256", "late_penalty", "late"])
    for row in sorted(rows, key=lambda row: row.name):
        result = row.result
        if result is None:
            writer.writerow([text_cell(row.name), "", "", *[""] * len(questions), "", "", row.status,
                             text_cell(row.reason), "", "", "", "", ""])
            continue
        earned = {q.id: ("" if q.pending else f"{q.earned:g}") for q in result.questions}  # numbers only
        writer.writerow([text_cell(row.name), f"{result.final_score:g}", f"{result.max_score:g}",
                         *(earned.get(q, "") for q in questions), f"{result.pending:g}", f"{result.score:g}",
                         row.status, text_cell(row.reason), sum(t.status != "passed" for t in result.tests),
                         result.isolation, result.submission_sha256, f"{result.late_penalty:g}",
                         text_cell(f"{result.late.status}: {result.late.reason}") if result.late else ""])


def text_cell(text: str) -> str:
    """A cell for text a student controls: control characters shown as escapes, never read as a formula."""
    text = clean_text(text)
    return "'" + text if text.startswith(_FORMULA_START) else text
