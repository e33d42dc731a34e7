"""What test authors get beyond submission and reference: figures attached to a result, speed budgets
per device, and longer limits for named calls (training)."""

from __future__ import annotations

import base64
import json
import tempfile

from grader import runner
from grader.reports.feedback import to_feedback_html
from grader.reports.gradescope import to_gradescope
from grader.runner import grade

from conftest import TINY_SOLUTION, TINY_TESTS, make_assignment

SOLUTION = """
import time
import numpy as np

def curve(n):
    return np.cumsum(np.ones(n))

def mm(a, b):
    return a @ b

def train(seconds):
    time.sleep(seconds)
    return Model()

def answer(seconds):
    time.sleep(seconds)
    return 42

class Model:
    def fit(self, seconds):
        time.sleep(seconds)
        return True
"""

FIGURE_TESTS = """
import matplotlib.pyplot as plt
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_curve_is_drawn(submission, attach):
    figure, axes = plt.subplots()
    axes.plot(submission.curve(10))
    attach("the curve, step by step", figure)
"""


def graded(tmp_path, tests: str, source: str = SOLUTION, **spec_items):
    assignment = make_assignment(tmp_path / "course", tests, SOLUTION, **spec_items)
    path = tmp_path / "tiny.py"
    path.write_text(source)
    return grade(assignment, path)


def test_a_figure_is_attached_to_the_result_and_shown_in_every_report(tmp_path):
    result = graded(tmp_path, FIGURE_TESTS)
    (test,) = result.tests
    assert test.status == "passed"
    (figure,) = test.figures
    assert figure["title"] == "the curve, step by step"
    page = to_feedback_html(result, [])
    assert f'<img src="data:image/png;base64,{figure["png"]}" alt="the curve, step by step">' in page
    assert "img-src data:" in page
    assert json.loads(json.dumps(result.to_dict()))["tests"][0]["figures"] == [figure]
    assert "Figure: the curve, step by step" in to_gradescope(result)["tests"][0]["output"]
    assert base64.b64decode(figure["png"]).startswith(b"\x89PNG")


def test_a_figure_that_is_not_a_png_in_base64_is_left_out_of_the_page(tmp_path):
    result = graded(tmp_path, FIGURE_TESTS)
    result.tests[0].figures[0]["png"] = '"><script>alert(1)</script>'
    assert "<script" not in to_feedback_html(result, [])


SPEED_TESTS = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_mm_generous(submission, reference, speed):
    speed(submission.mm, reference.mm, lambda r: (r.standard_normal((32, 32)), r.standard_normal((32, 32))),
          budget={"cpu": 1e6, "cuda": 1e6})

@pytest.mark.points(1)
def test_mm_impossible(submission, reference, speed):
    speed(submission.mm, reference.mm, lambda r: (r.standard_normal((32, 32)), r.standard_normal((32, 32))),
          budget={"cpu": 1e-6, "cuda": 1e-6})
"""


def test_a_speed_budget_may_be_given_per_device(tmp_path):
    result = graded(tmp_path, SPEED_TESTS)
    status = {t.name.rsplit("::", 1)[1]: t for t in result.tests}
    assert status["test_mm_generous"].status == "passed", status["test_mm_generous"].message
    assert "too slow" in status["test_mm_impossible"].message


LIMIT_TESTS = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_training_may_take_longer(submission):
    model = submission.train(3)
    assert model.fit(3) is True

@pytest.mark.points(1)
def test_other_calls_keep_the_ordinary_limit(submission):
    assert submission.answer(3) == 42
"""


def test_named_calls_get_their_own_limit(tmp_path):
    result = graded(tmp_path, LIMIT_TESTS, limits={"call_timeout": 1.5, "call_timeouts": {"train": 10, "fit": 10}})
    status = {t.name.rsplit("::", 1)[1]: t for t in result.tests}
    assert status["test_training_may_take_longer"].status == "passed", status["test_training_may_take_longer"].message
    assert "calling answer() took longer than the limit of 1.5 s" in status["test_other_calls_keep_the_ordinary_limit"].message


# -- when the sandboxes start -------------------------------------------------------------------

ASKS_FOR_REFERENCE = TINY_TESTS + '''

@pytest.fixture
def expected(
        reference):
    return reference.answer()

@pytest.mark.points(1)
def test_same(submission, expected):
    assert submission.answer() == expected
'''


def test_the_reference_sandbox_starts_with_the_grading_only_where_a_test_asks_for_it(tmp_path, monkeypatch):
    started = []

    class Counting(runner.Template):
        def __init__(self, files, cells, *args):
            started.append("submission" if cells is None else "reference")
            super().__init__(files, cells, *args)

    monkeypatch.setattr(runner, "Template", Counting)
    never = make_assignment(tmp_path / "never", TINY_TESTS, TINY_SOLUTION)
    asks = make_assignment(tmp_path / "asks", ASKS_FOR_REFERENCE, TINY_SOLUTION,
                           questions=[{"id": "q", "title": "The question", "points": 3}])
    assert not runner._asks_for_reference(never, public_only=False)
    assert runner._asks_for_reference(asks, public_only=False)
    assert runner._asks_for_reference(asks, public_only=True) is False  # only the public tests run: none asks
    solution = tmp_path / "tiny.py"
    solution.write_text(TINY_SOLUTION)
    assert grade(never, solution).score == 2 and started == ["submission"]  # the reference never started
    started.clear()
    assert grade(asks, solution).score == 3 and sorted(started) == ["reference", "submission"]


def test_the_sandbox_started_before_a_submission_was_read_is_stopped_when_it_cannot_run(tmp_path, monkeypatch):
    """The submission's sandbox starts before its file is read; a file that is no notebook stops it again."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    closed = []
    monkeypatch.setattr(runner.Template, "close", lambda self, close=runner.Template.close: (closed.append(self), close(self)))
    assignment = make_assignment(tmp_path / "course", TINY_TESTS, TINY_SOLUTION, submission=["tiny.ipynb", "tiny.py"])
    broken = tmp_path / "tiny.ipynb"
    broken.write_text("{ not json")
    result = grade(assignment, broken)
    assert result.score == 0 and "is not a valid notebook" in result.problem
    assert len(closed) == 1 and not closed[0].alive()
    assert list(scratch.iterdir()) == []  # its folders are gone too
