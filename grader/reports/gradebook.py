"""The gradebook of a batch: one CSV row per submission, one column per question."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.results import GradeResult


def write_gradebook(results: dict[str, GradeResult], path: Path) -> None:
    """Write `results` (student name -> result) as CSV, questions as columns, sorted by student."""
    questions = []
    for result in results.values():
        questions += [q.id for q in result.questions if q.id not in questions]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", *questions, "pending_manual", "failed_tests",
                         "isolation", "sha256"])
        for student in sorted(results):
            result = results[student]
            earned = {q.id: ("pending" if q.manual else f"{q.earned:g}") for q in result.questions}
            writer.writerow([student, f"{result.capped_score:g}", f"{result.max_score:g}",
                             *(earned.get(q, "") for q in questions), f"{result.pending:g}",
                             sum(t.status != "passed" for t in result.tests), result.isolation,
                             result.submission_sha256])
