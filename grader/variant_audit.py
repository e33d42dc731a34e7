"""Prove an exam's variants fair: every paper is worth the same, the reference earns full marks on each, and
(once a class is graded) how hard each question was on each of its versions.

`grader audit <exam>` grades the reference as the paper of `VARIANTS` students drawn at random (their ids
follow from the spec's seed, so the same audit draws the same papers): the reference computes each paper's
answers from the `variant` the grader sets before it runs (grader.variants.prelude), and its results are
graded against that paper's key as a student's would be, through the batch with a roster.
"""

from __future__ import annotations

import csv
import json
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from grader.results import GradeResult
from grader.spec import Assignment, SpecError
from grader.variants import Variant, ensure_secret, generate

VARIANTS = 20


@dataclass
class VariantAudit:
    """The reference graded as each paper, and what is wrong (nothing, when the audit passes)."""

    assignment: Assignment
    variants: list[Variant]
    results: dict[str, GradeResult] = field(default_factory=dict)   # variant id -> the reference's result
    failures: dict[str, str] = field(default_factory=dict)          # variant id -> why it was not graded

    def totals(self) -> dict[str, float]:
        """Each paper's total: the points of the questions it drew."""
        points = {q.id: q.points for q in self.assignment.questions}
        return {v.id: sum(points[qid] for qid in v.drawn) for v in self.variants}

    def problems(self) -> list[str]:
        found = [f"variant {vid}: not graded: {why}" for vid, why in self.failures.items()]
        totals = self.totals()
        if len(set(totals.values())) > 1:
            found.append("the papers are not worth the same: " + ", ".join(f"{v} {t:g}" for v, t in totals.items()))
        for vid, result in self.results.items():
            lost = result.lost_questions()
            if lost:
                found.append(f"variant {vid}: the reference loses points on {', '.join(sorted(lost))}: "
                             + "; ".join(f"{t.question}: {t.message.splitlines()[0][:160]}" for t in result.tests
                                         if t.status != "passed" and t.question in lost))
        return found

    def to_dict(self) -> dict:
        totals = self.totals()
        return {"variants": [{**v.to_dict(), "total": totals[v.id],
                              "reference": self.results[v.id].autograded_score if v.id in self.results else None,
                              "autograded": self.results[v.id].autograded_possible if v.id in self.results else None}
                             for v in self.variants], "problems": self.problems()}


def audit_variants(assignment: Assignment, count: int = VARIANTS, jobs: int = 2) -> VariantAudit:
    """Grade the reference as the papers of `count` students drawn at random (reproducibly, from the spec's seed)."""
    from grader.store import ClassFolder
    from grader.batch.run import grade_class
    from grader.batch.local import LocalPool

    if assignment.solution is None or not assignment.solution.exists():
        raise SpecError(f"{assignment.solution}: no reference solution, and the audit grades it as every paper")
    secret = ensure_secret(assignment)
    draw = random.Random(f"{assignment.slug}:{assignment.seed}:variants")
    students = [f"audit-{draw.getrandbits(32):08x}" for _ in range(count)]
    variants = [generate(assignment, student, secret) for student in students]
    report = VariantAudit(assignment, variants)
    with tempfile.TemporaryDirectory(prefix="grader-variants-") as scratch:
        roster = Path(scratch) / "roster.csv"
        with roster.open("w", newline="") as handle:
            csv.writer(handle).writerows([["id"], *([s] for s in students)])
        batch = grade_class(assignment, ClassFolder(entries={s: assignment.solution for s in students}),
                            Path(scratch) / "results", LocalPool(jobs), late={"roster": str(roster)})
    by_student = {v.student: v.id for v in variants}
    report.results = {by_student[s]: result for s, result in batch.results.items()}
    report.failures = {by_student[s]: why.strip().splitlines()[-1] for s, why in batch.failures.items()}
    return report


def difficulty(results: dict[str, GradeResult]) -> dict[str, list[tuple[str, int, float]]]:
    """The spread of difficulty of a graded class: per question, each version of it that students had (its own
    parameters and option order) with the number of students and their mean share of its points, hardest first."""
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in results.values():
        variant = result.variant
        if not variant:
            continue
        for question in result.questions:
            if question.manual or not question.possible:
                continue
            version = json.dumps({"params": variant["params"].get(question.id, {}),
                                  "order": variant["orders"].get(question.id, "")}, sort_keys=True)
            groups[question.id][version].append(question.earned / question.possible)
    return {qid: sorted(((version, len(shares), sum(shares) / len(shares)) for version, shares in versions.items()),
                        key=lambda row: row[2])
            for qid, versions in groups.items()}
