"""The pytest plugin: fixtures for test authors, markers for points, and result collection.

It runs in the trusted process. Tests ask for `submission`, `reference` and `rng`; each
test's outcome is recorded from what pytest observed here, never from the worker.
"""

from __future__ import annotations

import base64
import io
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from grader import errors
from grader.checks import assert_all_close
from grader.exam import KeyFile, PartialCredit, answer_variable, is_key_file
from grader.perf import compare_speed, default_device
from grader.protocol import SIMULATED_CUDA
from grader.proxy import Proxy, Side
from grader.results import TestResult
from grader.spec import Assignment
from grader.variants import Variant

_REASONS = {
    errors.StudentException: "your code raised an exception",
    errors.MissingName: "missing function",
    errors.CallTimeout: "timed out",
    errors.WorkerDied: "your code crashed",
    errors.BudgetExhausted: "time budget spent",
    errors.LoadFailed: "the submission could not be loaded",
    errors.BadValue: "unusable value",
    errors.ForbiddenApi: "forbidden API",
}
MESSAGE_LIMIT = 3000


class GraderPlugin:
    """Registered with pytest.main(plugins=[...]); one instance grades one submission."""

    def __init__(self, assignment: Assignment, submission: Side | None, reference: Side | None,
                 problem: str | None = None, variant: Variant | None = None, key: dict | None = None,
                 warm_up: bool = False):
        self.warm_up = warm_up  # a batch job's warm-up: it also imports what the tests draw with, for its children
        self.assignment = assignment  # an exam with variants: the student's paper (grader.variants.restrict)
        self.student_variant, self.key = variant, key  # the student's variant and its key, where the exam has variants
        self.answers: dict[str, object] = {}  # answered questions: the value read from the submission
        self.sides = {"submission": submission, "reference": reference}
        self.problem = problem
        self.results: dict[str, TestResult] = {}
        self.items: list[pytest.Item] = []
        self.assignment_errors: list[str] = []  # the assignment's fault: a test module or key that does not load,
        # a module the tests import (at the top or inside a test) that is not installed
        self.before_hidden: BeforeHidden | None = None  # taken as the first hidden test starts, while they are held back

    def submission_side(self) -> Side:
        """The submission's side, or LoadFailed with the reason it could not run."""
        if self.problem:
            raise errors.LoadFailed(self.problem)
        return self.sides["submission"]

    # -- fixtures
    @pytest.fixture(scope="session")
    def submission(self):
        return Proxy(self.submission_side())

    @pytest.fixture(scope="session")
    def reference(self):
        if self.sides["reference"] is None:
            raise errors.ReferenceMissing(f"the reference solution of {self.assignment.slug} is not available here")
        return Proxy(self.sides["reference"])

    @pytest.fixture
    def rng(self, request) -> np.random.Generator:
        """A generator seeded from the assignment's seed and the test's id: the same on every run."""
        return np.random.default_rng([self.assignment.seed, zlib.crc32(request.node.nodeid.encode())])

    @pytest.fixture
    def variant(self) -> dict:
        """The parameters of the student's paper, {question id: {name: value}} (grader.variants); {} without."""
        return self.student_variant.params if self.student_variant is not None else {}

    @pytest.fixture
    def speed(self, request, rng):
        """`speed(submission.f, reference.f, make_args, budget)` fails when f returns something other than
        the reference's result on a sample input, or takes over `budget` times the reference's time on
        the same fresh inputs (`make_args(rng)` returns a tuple of arguments). `budget` may be a dict
        by device ({"cpu": 5, "cuda": 3})."""

        def check(student, reference, make_args, budget: float | dict[str, float], rtol: float = 1e-6,
                  atol: float = 1e-8, device: str | None = None, **options) -> None:
            device = device or default_device()
            if isinstance(budget, dict):  # a budget per device: {"cpu": 5, "cuda": 3}
                budget = budget["cuda" if device == SIMULATED_CUDA else device]
            sample = tuple(make_args(rng))
            assert_all_close(student(*sample), reference(*sample), rtol, atol, name="result")  # fast must be right
            timing = compare_speed(student, reference, make_args, rng, budget, device=device, rtol=rtol, atol=atol,
                                   **options)
            self.results[request.node.nodeid].timing = timing.summary()
            timing.check()

        return check

    @pytest.fixture
    def attach(self, request):
        """`attach(title, figure)` adds a matplotlib figure, rendered to PNG here in the trusted process from
        plain data, to this test's result (shown in the feedback page, carried in the JSON)."""

        def add(title: str, figure) -> None:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
            pyplot = sys.modules.get("matplotlib.pyplot")
            if pyplot is not None:
                pyplot.close(figure)  # one pyplot made keeps it until it is closed
            self.results[request.node.nodeid].figures.append(
                {"title": str(title), "png": base64.b64encode(buffer.getvalue()).decode()})

        return add

    # -- hooks
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "points(n): points the test is worth")
        config.addinivalue_line("markers", "question(id): the question of the assignment the test belongs to")
        config.addinivalue_line("markers", "requirement(*ids): the handout's requirements ([R4.2]) the test checks")

    def pytest_collect_file(self, file_path, parent):
        """An exam's key (tests/hidden/key.yaml) is collected as one test per answered question."""
        if file_path.name == "key.yaml" and is_key_file(file_path, self.assignment):
            collector = KeyFile.from_parent(parent, path=file_path)
            collector.plugin = self
            return collector
        return None

    def pytest_collectreport(self, report):
        if report.failed:
            self.assignment_errors.append(f"{report.nodeid}: {report.longreprtext}")

    def pytest_collection_modifyitems(self, config, items):
        if self.student_variant is not None:  # the tests of questions not on the student's paper do not run
            drawn = {q.id for q in self.assignment.questions}
            kept = [item for item in items if not question_of(item) or question_of(item) in drawn]
            if len(kept) < len(items):
                config.hook.pytest_deselected(items=[item for item in items if item not in kept])
                items[:] = kept
        if self.assignment.hidden_results == "after_release":  # no public test runs after a hidden one
            items.sort(key=lambda item: visibility_of(item, self.assignment) == "hidden")
        self.items = list(items)
        if self.warm_up and any("attach" in getattr(item, "fixturenames", ()) for item in items):
            _import_drawing()
        for item in items:
            self.results[item.nodeid] = TestResult(
                name=_short_name(item), question=question_of(item), points=points_of(item), earned=0.0,
                status="failed", visibility=visibility_of(item, self.assignment), message="not run")

    def pytest_runtest_setup(self, item):
        result = self.results.get(item.nodeid)
        if (self.assignment.hidden_results == "after_release" and self.before_hidden is None
                and result is not None and result.visibility == "hidden"):
            self.before_hidden = BeforeHidden.take(self.assignment, self.sides["submission"], self.problem)
        for side in self.sides.values():
            if side is not None:
                side.take_output()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        result = self.results.get(item.nodeid)
        if result is None:
            return
        result.duration += report.duration
        if report.when == "call" or report.failed or report.skipped:
            if report.when == "setup" or report.when == "call":
                side = self.sides["submission"]
                result.output += side.take_output() if side is not None else ""
            if report.passed:
                result.status, result.earned, result.message = "passed", result.points, ""
            elif report.skipped:
                result.status, result.earned = "skipped", 0.0
                result.message = _skip_reason(report)
            elif call.excinfo is not None and isinstance(call.excinfo.value, ModuleNotFoundError):
                # raised here, in the trusted process (the student's own come back as StudentException): the
                # grader's install lacks what the tests import, which must not cost the student the point
                self.assignment_errors.append(f"{item.nodeid}: ModuleNotFoundError: {call.excinfo.value}")
            elif result.status != "error":
                result.status = "failed" if report.when == "call" else "error"
                partial = call.excinfo is not None and isinstance(call.excinfo.value, PartialCredit)
                result.earned = round(result.points * call.excinfo.value.credit, 6) if partial else 0.0
                result.message = (describe_failure(call.excinfo, show_source=result.visibility == "public")
                                  if call.excinfo else "failed")


def _import_drawing() -> None:
    """Import matplotlib's figures and the PNG renderer (most of a second), where it is installed."""
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401
    except ImportError:
        pass  # the tests that draw fail, each with its reason


@dataclass(frozen=True)
class BeforeHidden:
    """What the student may see of the submission while hidden results are held back, taken before the first
    hidden test: anything reported later (a reload's errors, a variable a hidden call set) may carry its data."""

    load_errors: tuple[str, ...]
    load_output: str
    answers: dict  # free-text answers given as variables, by question id

    @classmethod
    def take(cls, assignment: Assignment, side: Side | None, problem: str | None) -> BeforeHidden:
        if side is None or problem:
            return cls((), "", {})
        side.load()
        answers = {q.id: answer_variable(q, side) for q in assignment.questions if q.type == "free_text"}
        return cls(tuple(side.load_errors), side.load_output, answers)


def points_of(item) -> float:
    marker = item.get_closest_marker("points")
    return float(marker.args[0]) if marker and marker.args else 0.0


def question_of(item) -> str:
    marker = item.get_closest_marker("question")
    return str(marker.args[0]) if marker and marker.args else ""


def visibility_of(item, assignment: Assignment) -> str:
    path = Path(str(item.path)).resolve()
    return "hidden" if assignment.hidden_tests.resolve() in path.parents else "public"


def _short_name(item) -> str:
    path = Path(str(item.path)).resolve()
    try:
        relative = path.relative_to((Path(item.config.rootpath) / "tests").resolve())
    except ValueError:
        relative = Path(path.name)
    return f"{relative.as_posix()}::{item.name}"


def describe_failure(excinfo, show_source: bool = False) -> str:
    """A short reason for a failed test: the kind of failure and its message, no grader traceback.

    Assertions are not rewritten, so a failed `assert` says only what its message says (a hidden
    test's values stay hidden); one without a message shows its source line where the test is public.
    """
    error = excinfo.value
    reason = next((text for kind, text in _REASONS.items() if isinstance(error, kind)), None)
    if reason:
        message = f"{reason}: {error}"
    elif isinstance(error, AssertionError):
        message = str(error) or "assertion failed" + (f": {_statement(excinfo)}" if show_source else "")
    else:
        message = f"{type(error).__name__}: {error}"
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 20] + " [... truncated]"


def _statement(excinfo) -> str:
    """The source of the statement that raised, in the test itself."""
    try:
        return str(excinfo.traceback[-1].statement).strip()
    except (IndexError, OSError, ValueError):
        return "(source not available)"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else "skipped"
