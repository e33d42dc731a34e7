"""Checks inside Jupyter: a question's public tests run against the kernel's current definitions.

    from grader.jupyter import Notebook
    nb = Notebook("backprop")
    nb.check("forward")        # one question's public tests; nb.check() runs every question's

or, as a shorthand, `%load_ext grader` then `%check backprop forward`. The result shows in the cell's
output as a compact HTML table (passed or failed per test, the message, the line of the student's code it
cites), self-contained: no script, nothing fetched, every piece of text escaped.

The tests run here, in the kernel's process, and call the functions the kernel's namespace holds now (no
sandbox, no worker, no bubblewrap): these are the public tests, which the student has anyway, run on the
student's own code on the student's own machine, which is what `grader check` does where bubblewrap is
missing. Serialising the namespace to another process instead would lose whatever does not serialise
(lambdas, closures, classes defined in cells, open handles) and would need a process model that differs
between Linux, macOS and Windows; in the same process, a cell's definitions are exactly what the tests see,
on any system. The arguments a test passes are copied first, as the worker's copies are, so a function
that changes its inputs does not change the test's. There is no time limit: a function that never returns
is stopped with the kernel's interrupt button. Grading proper (`grader check`, `grader grade`) still runs
the code in the sandbox.
"""

from __future__ import annotations

import copy
import sys
import sysconfig
import time
import traceback
from dataclasses import dataclass, field

import pytest

from grader import errors, spec
from grader.plugin import GraderPlugin
from grader.results import TestResult, clean_text
from grader.runner import run_pytest

_LIBRARIES = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")})


class Notebook:
    """The public tests of an assignment, found as `grader check` finds it (the bundle the notebook is in, or
    $GRADER_HOME), to run against `namespace`: by default the running kernel's (IPython's user namespace)."""

    def __init__(self, assignment: str, namespace: dict | None = None):
        self.assignment = spec.load(assignment)
        self.namespace = namespace if namespace is not None else _kernel_namespace()

    def check(self, question: str | None = None) -> CheckResult:
        """Run the public tests of `question` (every question's without one) on the namespace's definitions."""
        autograded = [q.id for q in self.assignment.questions if not q.manual]
        if question is not None and question not in autograded:
            found = self.assignment.question(question)
            raise ValueError(f"{question} is a written question: a TA grades it, there are no tests to run"
                             if found else f"{self.assignment.slug} has no question {question!r} "
                             f"(its questions with tests: {', '.join(autograded)})")
        plugin = _InProcess(self.assignment, Namespace(self.namespace), question)
        started = time.perf_counter()
        run_pytest(self.assignment, plugin, public_only=True)
        return CheckResult(self.assignment.slug, question, list(plugin.results.values()),
                           time.perf_counter() - started, [_cited(plugin.cited.get(name)) for name in plugin.results])


@dataclass
class CheckResult:
    """What a check found; Jupyter shows it as HTML (`_repr_html_`), a terminal as text."""

    assignment: str
    question: str | None
    tests: list[TestResult]
    seconds: float
    cited: list[str] = field(default_factory=list)  # per test: the line of the student's code its failure cites

    @property
    def passed(self) -> bool:
        return bool(self.tests) and all(test.status == "passed" for test in self.tests)

    def __repr__(self) -> str:
        lines = [self.headline()]
        for test, cited in zip(self.tests, self.cited):
            lines.append(f"{'✓' if test.status == 'passed' else '✗'} {_short(test.name)}")
            lines += [f"    {line}" for line in (test.message.splitlines() + ([cited] if cited else []))]
        return "\n".join(lines)

    def headline(self) -> str:
        passed = sum(test.status == "passed" for test in self.tests)
        what = f"{self.assignment}, question {self.question}" if self.question else f"{self.assignment}, every question"
        return f"{what}: {passed} of {len(self.tests)} public tests pass ({self.seconds:.2f} s)"

    def _repr_html_(self) -> str:
        from grader.reports.html import environment
        rows = [{"test": test, "name": _short(test.name), "cited": cited} for test, cited in zip(self.tests, self.cited)]
        return environment().get_template("check.html").render(result=self, rows=rows)


class Namespace:
    """What the tests call `submission`: the functions a namespace holds when a test calls them."""

    def __init__(self, namespace: dict):
        object.__setattr__(self, "_namespace", namespace)

    def __getattr__(self, name: str) -> LocalFunction:
        if name.startswith("__"):
            raise AttributeError(name)
        return LocalFunction(self._namespace, name)

    def __setattr__(self, name, value):
        raise AttributeError("the submission is read-only")


class LocalFunction:
    """A function of the namespace, looked up at each call; failures are the errors a worker's would be."""

    def __init__(self, namespace: dict, name: str):
        self._namespace, self._name = namespace, name

    def __call__(self, *args, **kwargs):
        return self._call(args, kwargs)[0]

    def call_reporting_arguments(self, *args, **kwargs):
        """Call the function; return (result, args, kwargs) with the arguments as the call left them."""
        return self._call(args, kwargs)

    def _call(self, args: tuple, kwargs: dict):
        function = self._namespace.get(self._name)
        if not callable(function):
            raise errors.MissingName(f"{self._name} is not defined in the notebook (run the cell that defines it)"
                                     if function is None else f"{self._name} is not a function")
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)  # the code gets its own copies, as in a worker
        try:
            return function(*args, **kwargs), args, kwargs
        except (KeyboardInterrupt, errors.SubmissionError):
            raise
        except BaseException as error:  # the student's code failed: a test failure that cites its line
            frames = [_labelled(frame) for frame in traceback.extract_tb(error.__traceback__)[1:]
                      if not frame.filename.startswith(_LIBRARIES)]
            failure = errors.StudentException(f"{self._name}() raised:\n" + "".join(
                traceback.format_list(frames[-8:]) + traceback.format_exception_only(type(error), error)))
            failure.cited = frames[-1] if frames else None  # the line of the student's code that raised
            raise failure from None


class _InProcess(GraderPlugin):
    """The grader's plugin with `submission` bound to a namespace, and only one question's tests kept."""

    def __init__(self, assignment: spec.Assignment, namespace: Namespace, question: str | None):
        super().__init__(assignment, None, None)
        self.namespace, self.question = namespace, question
        self.cited: dict[str, traceback.FrameSummary] = {}

    @pytest.fixture(scope="session")
    def submission(self):
        return self.namespace

    def pytest_collection_modifyitems(self, session, config, items):
        from grader.plugin import question_of
        if self.question is not None:
            kept = [item for item in items if question_of(item) == self.question]
            config.hook.pytest_deselected(items=[item for item in items if item not in kept])
            items[:] = kept
        super().pytest_collection_modifyitems(config, items)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        yield from super().pytest_runtest_makereport(item, call)  # the result, as the grader records it
        cited = getattr(call.excinfo.value, "cited", None) if call.excinfo is not None else None
        if cited is not None:
            self.cited[item.nodeid] = cited


def _labelled(frame: traceback.FrameSummary) -> traceback.FrameSummary:
    """The frame with the notebook's name of its cell ("Cell In[5]") where IPython compiled it."""
    shell = _shell()
    label = None
    if shell is not None and hasattr(shell.compile, "format_code_name"):
        named = shell.compile.format_code_name(frame.filename)
        label = f"{named[0]} {named[1]}" if named else None
    if label is None:
        return frame
    return traceback.FrameSummary(label, frame.lineno, frame.name, line=frame.line)


def _cited(frame: traceback.FrameSummary | None) -> str:
    if frame is None:
        return ""
    return clean_text(f"{frame.filename}, line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}")


def _short(name: str) -> str:
    return name.rsplit("::", 1)[-1].removeprefix("test_")


def _shell():
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _kernel_namespace() -> dict:
    shell = _shell()
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])


def load_ipython_extension(ipython) -> None:
    """`%load_ext grader`: adds `%check <assignment> [question]`."""

    def check(line: str):
        words = line.split()
        if not 1 <= len(words) <= 2:
            raise ValueError("usage: %check <assignment> [question]")
        return Notebook(words[0], ipython.user_ns).check(words[1] if len(words) == 2 else None)

    ipython.register_magic_function(check, "line", "check")
