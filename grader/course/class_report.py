"""`grader report`: one self-contained HTML page about a graded class.

The score distribution, each question's mean and spread, the tests most often failed with their
most common messages (grouped once numbers are abstracted), the students not graded and why, and
the time grading took. Plots are drawn with matplotlib (Agg) and embedded as base64 PNGs; the page
has no script and fetches nothing (its Content-Security-Policy says so), and every piece of student
text goes through the project's one escaping path (grader.reports.html).
"""

from __future__ import annotations

import base64
import io
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from grader.course.grades import Grades
from grader.reports.html import environment, stylesheet
from grader.results import GradeResult

MOST_FAILED = 15
MESSAGES_PER_TEST = 3
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class QuestionStats:
    id: str
    title: str
    possible: float
    earned: list[float] = field(default_factory=list)
    pending: int = 0

    @property
    def mean(self) -> float:
        return statistics.fmean(self.earned) if self.earned else 0.0

    @property
    def spread(self) -> float:
        return statistics.pstdev(self.earned) if len(self.earned) > 1 else 0.0

    @property
    def full(self) -> int:
        return sum(e >= self.possible - 1e-9 for e in self.earned)


@dataclass
class FailedTest:
    name: str
    question: str
    failed: int
    ran: int
    messages: list[tuple[int, str]]   # (how many, an example of the group), most common first


def class_report(grades: Grades) -> str:
    """The class report of a grades folder, as one HTML page."""
    ran = {s: r for s, r in grades.results.items() if r.standing == "graded"}
    did_not_run = sorted((name, f"{shown.status}: {shown.reason}") for name, shown in grades.students.items()
                         if shown.result is not None and shown.result.standing != "graded")
    not_graded = sorted(grades.failures.items())
    questions = _questions(ran)
    scores = [r.capped_score for r in ran.values()]
    maximum = max((r.max_score for r in ran.values()), default=0.0)
    times = [r.execution_time for r in grades.results.values()]
    slowest = max(grades.results.items(), key=lambda item: item[1].execution_time, default=None)
    written = [shown.at for shown in grades.students.values() if shown.result is not None]
    return environment().get_template("class_report.html").render(
        folder=grades.folder.name, assignments=[grades.assignment.slug], students=len(grades.students),
        graded=len(grades.results), not_graded=not_graded, did_not_run=did_not_run,
        pending=sorted(s for s, r in ran.items() if r.pending), scores=_describe(scores), maximum=maximum,
        histogram=_histogram(scores, maximum), questions=questions, questions_plot=_questions_plot(questions),
        failed=_most_failed(ran.values()), time_total=sum(times), time_median=statistics.median(times) if times else 0,
        slowest=slowest and (slowest[0], slowest[1].execution_time),
        span=max(written) - min(written) if written else 0.0, stylesheet=stylesheet())


def _describe(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": statistics.fmean(values), "median": statistics.median(values),
            "spread": statistics.pstdev(values), "min": min(values), "max": max(values)}


def _questions(results: dict[str, GradeResult]) -> list[QuestionStats]:
    stats: dict[str, QuestionStats] = {}
    for result in results.values():
        for q in result.questions:
            entry = stats.setdefault(q.id, QuestionStats(q.id, q.title, q.possible))
            if q.pending:
                entry.pending += 1
            else:
                entry.earned.append(q.earned)
    return list(stats.values())


def _group(message: str) -> str:
    """A failure message's first line with its numbers abstracted: messages that differ only in values group."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    return _NUMBER.sub("#", first)[:300]


def _most_failed(results) -> list[FailedTest]:
    ran, failed, messages = Counter(), Counter(), defaultdict(Counter)
    examples: dict[tuple[str, str], str] = {}
    question = {}
    for result in results:
        for test in result.tests:
            ran[test.name] += 1
            question[test.name] = test.question
            if test.status in ("failed", "error"):
                failed[test.name] += 1
                group = _group(test.message)
                messages[test.name][group] += 1
                examples.setdefault((test.name, group), test.message.strip().splitlines()[0][:300]
                                    if test.message.strip() else "(no message)")
    return [FailedTest(name, question[name], count, ran[name],
                       [(n, examples[(name, group)]) for group, n in messages[name].most_common(MESSAGES_PER_TEST)])
            for name, count in failed.most_common(MOST_FAILED)]


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))


def _histogram(scores: list[float], maximum: float) -> str:
    if not scores:
        return ""
    figure = _figure(7, 3)
    axes = figure.subplots()
    axes.hist(scores, bins=min(20, max(5, len(set(scores)))), range=(0, max(maximum, max(scores)) or 1),
              color="#3b5bab", edgecolor="white")
    axes.set_xlabel("score (capped)")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def _questions_plot(questions: list[QuestionStats]) -> str:
    shown = [q for q in questions if q.earned and q.possible > 0]
    if not shown:
        return ""
    figure = _figure(7, 0.45 * len(shown) + 1)
    axes = figure.subplots()
    labels = [q.id for q in shown][::-1]
    means = [100 * q.mean / q.possible for q in shown][::-1]
    spreads = [100 * q.spread / q.possible for q in shown][::-1]
    axes.barh(labels, means, xerr=spreads, color="#1e7d34", ecolor="#5b6475", capsize=3)
    axes.set_xlim(0, 105)
    axes.set_xlabel("mean share of the points (bar: one standard deviation)")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)
