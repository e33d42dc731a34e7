"""The one result model every report renders: tests, questions, totals and provenance."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

_C0_C1 = [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]  # all but tab (09) and newline (0A)
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]  # embeddings, overrides, isolates ("Trojan source")
_NEUTRAL = {**{code: f"\\x{code:02x}" for code in _C0_C1}, **{code: f"\\u{code:04x}" for code in _BIDI},
            **dict.fromkeys(range(0xD800, 0xE000), "\ufffd")}  # lone surrogates (JSON can carry them)


def points_text(value: float) -> str:
    """Points as reports print them: at most two decimals (a share of a question's points, 11.83), whole numbers
    bare (12); the stored value keeps its precision."""
    return f"{round(value, 2) + 0.0:g}"


def clean_text(text: str) -> str:
    """Make text from a submission inert in any report: control and bidi characters are shown as escapes.

    Every control character but tab and newline (C0 including NUL, ESC and CR; DEL; C1) becomes its
    Python-style escape as visible text (ESC is shown as the four characters \\x1b), bidirectional
    embeddings, overrides and isolates become \\u202e and the like, and lone surrogates become U+FFFD.
    The result holds none of those characters, so cleaning twice changes nothing.
    """
    return text.translate(_NEUTRAL)


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
    figures: list[dict] = field(default_factory=list)  # {"title", "png"}: PNGs (base64) the test rendered


@dataclass
class QuestionResult:
    id: str
    title: str
    possible: float
    earned: float
    manual: bool = False
    rubric: list[str] = field(default_factory=list)
    answer: str = ""           # a manual question: the student's answer, as found in the submission
    graded: bool = False       # a manual question: a TA has graded it (earned, awarded and comment are theirs)
    awarded: list[str] = field(default_factory=list)  # the rubric items the TA gave
    comment: str = ""          # the TA's comment

    @property
    def pending(self) -> bool:
        """A manual question no TA has graded yet."""
        return self.manual and not self.graded

    @property
    def status(self) -> str:
        if self.pending:
            return "pending"
        return "full" if self.earned >= self.possible else "partial" if self.earned > 0 else "zero"


@dataclass
class LatePenalty:
    """The late policy's verdict on one submission, kept apart from the score it adjusts (after the cap)."""

    status: str                # "on time", "late", "after cutoff", "refused", "early" or "no time"
    reason: str                # what a student and a TA read: the times, the rule, any extension
    deduction: float = 0.0     # points the rule takes off
    floor: float = 0.0         # the score the deduction may not go below (a lower score is left alone)
    zero: bool = False         # after the cutoff: nothing counts


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
    problem: str = ""          # why nothing of the submission could be graded (nothing gradable, a forbidden use)
    load_output: str = ""      # what the submission printed while it loaded
    held_load_errors: list[str] = field(default_factory=list)  # reported by a load after a hidden test began
    late: LatePenalty | None = None  # set from the submission-time manifest whenever results are reported
    hidden_held_back: bool = False  # hidden tests' names and messages not shown until a TA releases them
    code: list[dict] = field(default_factory=list)  # the submission's code ({label, source}), for its feedback page
    tests_digest: str = ""     # sha256 of the test files run (public, and hidden unless public_only): resume checks it
    seed: int | None = None    # the seed the tests' random inputs came from (the spec's, or one given to grade)
    standing: str = "graded"   # whether the code ran: "graded", or "did not load: ...", "refused: ...", "not submitted: ..."
    variant: dict | None = None  # an exam with variants: the student's paper, its key and the answers read (variants)
    file: str = ""             # the file graded inside the submission (a folder or zip may hold several)

    def __post_init__(self) -> None:
        """Clean the text the submission controls, once, here: every report and every result read back get it inert."""
        self.submission, self.file, self.problem, self.load_output, self.standing = map(clean_text, (
            self.submission, self.file, self.problem, self.load_output, self.standing))
        self.warnings = [clean_text(message) for message in self.warnings]
        self.load_errors = [clean_text(message) for message in self.load_errors]
        self.held_load_errors = [clean_text(message) for message in self.held_load_errors]
        for test in self.tests:
            test.message, test.output, test.timing = map(clean_text, (test.message, test.output, test.timing))
        for question in self.questions:
            question.answer = clean_text(question.answer)

    @property
    def score(self) -> float:
        """Points earned: the autograded tests' and those a TA gave (a pending manual question adds nothing yet)."""
        return round(self.autograded_score + sum(q.earned for q in self.questions if q.manual and q.graded), 6)

    @property
    def autograded_score(self) -> float:
        return round(sum(t.earned for t in self.tests), 6)

    @property
    def autograded_possible(self) -> float:
        return round(sum(t.points for t in self.tests), 6)

    @property
    def total_possible(self) -> float:
        return round(sum(q.possible for q in self.questions), 6)

    @property
    def pending(self) -> float:
        return round(sum(q.possible for q in self.questions if q.pending), 6)

    @property
    def capped_score(self) -> float:
        return self.score if self.score_cap is None else min(self.score, self.score_cap)

    @property
    def late_penalty(self) -> float:
        """Points the late policy takes off the capped score (0 without a verdict)."""
        if self.late is None:
            return 0.0
        score = self.capped_score
        kept = 0.0 if self.late.zero else max(score - self.late.deduction, min(score, self.late.floor))
        return round(score - kept, 6)

    @property
    def final_score(self) -> float:
        """The grade: the capped score less the late penalty."""
        return round(self.capped_score - self.late_penalty, 6)

    @property
    def max_score(self) -> float:
        return self.total_possible if self.score_cap is None else min(self.score_cap, self.total_possible)

    def shown_tests(self) -> list[TestResult]:
        """The tests a report may show by name: all of them, less the hidden ones while they are held back."""
        return [t for t in self.tests if not (self.hidden_held_back and t.visibility == "hidden")]

    def shown_load_errors(self) -> list[str]:
        """The load errors a report may show: those of loads after a hidden test began (they may quote what it
        wrote) only once the hidden tests are released."""
        return self.load_errors + ([] if self.hidden_held_back else self.held_load_errors)

    def shown_execution_time(self) -> float | None:
        """The grading's time where a report may show it: not while hidden results are held back (how long the
        hidden tests took is the submission's to choose, so it could carry what they passed it)."""
        return None if self.hidden_held_back else self.execution_time

    def held_back(self, qid: str) -> int:
        """How many hidden tests of a question are held back (0 once released)."""
        return sum(t.question == qid and t.visibility == "hidden" for t in self.tests) if self.hidden_held_back else 0

    def question(self, qid: str) -> QuestionResult:
        return next(q for q in self.questions if q.id == qid)

    def lost_questions(self) -> set[str]:
        """Autograded questions that did not earn full marks."""
        return {q.id for q in self.questions if not q.manual and q.earned < q.possible - 1e-9}

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.update(score=self.score, autograded_score=self.autograded_score, capped_score=self.capped_score,
                    max_score=self.max_score, autograded_possible=self.autograded_possible, pending=self.pending,
                    late_penalty=self.late_penalty, final_score=self.final_score)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GradeResult":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["tests"] = [TestResult(**t) for t in data["tests"]]
        values["questions"] = [QuestionResult(**q) for q in data["questions"]]
        values["late"] = LatePenalty(**data["late"]) if data.get("late") else None
        return cls(**values)
