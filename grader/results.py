"""The one result model every report renders: tests, questions, totals and provenance."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class TestResult:
    name: str                  # e.g. "hidden/test_forward.py::test_deep_network[3]"
    question: str
    points: float
    earned: float
    status: str                # "passed", "failed" or "error"
    visibility: str            # "public" or "hidden"
    message: str = ""
    output: str = ""
    duration: float = 0.0
    timing: str = ""           # what a performance check measured (reported, not graded)


@dataclass
class QuestionResult:
    id: str
    title: str
    possible: float
    earned: float
    manual: bool = False
    rubric: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.manual:
            return "pending"
        return "full" if self.earned >= self.possible else "partial" if self.earned > 0 else "zero"


@dataclass
class GradeResult:
    assignment: str
    assignment_version: str
    toolkit_version: str
    submission: str
    submission_sha256: str
    isolation: str
    tests: list[TestResult]
    questions: list[QuestionResult]
    score_cap: float | None = None
    warnings: list[str] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)
    execution_time: float = 0.0
    public_only: bool = False

    @property
    def score(self) -> float:
        """Points earned by the autograded tests (manual questions are pending, so they add nothing yet)."""
        return round(sum(t.earned for t in self.tests), 6)

    @property
    def autograded_possible(self) -> float:
        return round(sum(t.points for t in self.tests), 6)

    @property
    def total_possible(self) -> float:
        return round(sum(q.possible for q in self.questions), 6)

    @property
    def pending(self) -> float:
        return round(sum(q.possible for q in self.questions if q.manual), 6)

    @property
    def capped_score(self) -> float:
        return self.score if self.score_cap is None else min(self.score, self.score_cap)

    @property
    def max_score(self) -> float:
        return self.total_possible if self.score_cap is None else min(self.score_cap, self.total_possible)

    def question(self, qid: str) -> QuestionResult:
        return next(q for q in self.questions if q.id == qid)

    def lost_questions(self) -> set[str]:
        """Autograded questions that did not earn full marks."""
        return {q.id for q in self.questions if not q.manual and q.earned < q.possible - 1e-9}

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.update(score=self.score, capped_score=self.capped_score, max_score=self.max_score,
                    autograded_possible=self.autograded_possible, pending=self.pending)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GradeResult":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["tests"] = [TestResult(**t) for t in data["tests"]]
        values["questions"] = [QuestionResult(**q) for q in data["questions"]]
        return cls(**values)
