"""Answers that fit another student's paper: the trace a shared answer sheet leaves on an exam with variants.

A graded result keeps the answers read from the submission (grader.variants). An answer to a numeric or choice
question that is wrong for its owner's paper but right for another paper on the roster (or for the plain
paper) is a match: numbers that agree within the question's tolerance, or the same set of labels. Formula
questions are left out (a function is evaluated at its owner's inputs, so copying one is not a slip of this
kind). `grader similarity --grades <folder> --roster roster.csv` lists them beside the code similarity.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from grader.exam import grade_choice, grade_numeric, load_key
from grader.results import GradeResult
from grader.spec import Assignment
from grader.variants import Variant, expected_answers, generate, plain, restrict


@dataclass
class KeyMatch:
    """A submission whose answers to `questions` are wrong on its own paper and right on `paper`'s."""

    submission: str
    paper: Variant
    questions: list[str] = field(default_factory=list)
    numeric: int = 0              # how many of them are numbers (a chance agreement is unlikely)

    @property
    def suspicious(self) -> bool:
        """One number, or two choices, that fit the other paper: worth a look."""
        return self.numeric >= 1 or len(self.questions) >= 2


def key_matches(assignment: Assignment, results: dict[str, GradeResult], roster: Path) -> list[KeyMatch]:
    """Every (submission, other paper) whose key the submission's wrong answers fit, most questions first."""
    from grader.course.roster import read_roster

    key = load_key(assignment)
    papers = [plain(assignment)] + [generate(assignment, student.id) for student in read_roster(roster).students]
    keyed = [(paper, restrict(assignment, paper), expected_answers(assignment, paper, key)) for paper in papers]
    found = []
    for name, result in sorted(results.items()):
        variant = result.variant or {}
        wrong = {q.id for q in result.questions if not q.manual and q.earned < q.possible}
        answers = {qid: value for qid, value in variant.get("answers", {}).items() if qid in wrong}
        for paper, questions, expected in keyed:
            if paper.id == variant.get("id"):
                continue
            match = KeyMatch(name, paper)
            for qid, answer in answers.items():
                question = questions.question(qid)
                if question is None or qid not in expected or question.inputs or answer is None:
                    continue
                if question.type == "numeric" and grade_numeric(question, answer, expected[qid])[0] == 1.0:
                    match.questions.append(qid)
                    match.numeric += 1
                elif question.type == "choice" and grade_choice(question, answer, expected[qid])[0] == 1.0:
                    match.questions.append(qid)
            if match.questions:
                found.append(match)
    return sorted(found, key=lambda m: (-m.numeric, -len(m.questions), m.submission))


def write_key_matches(matches: list[KeyMatch], path: Path) -> None:
    """The matches as CSV: submission, the paper (variant id and its student), the questions."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "paper", "student of that paper", "questions", "numeric"])
        for match in matches:
            writer.writerow([match.submission, match.paper.id, match.paper.student or "(plain paper)",
                             " ".join(match.questions), match.numeric])
