"""Exam questions answered with plain data: numeric, formula, choice, derivation and free text.

A small exam is built in a temporary course folder; each submission is graded through the sandbox
like any other, and each question must earn exactly what its answer deserves, with a reason.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from grader import exam, spec
from grader.notebook import from_percent_script
from grader.reports.feedback import to_feedback_html
from grader.reports.gradescope import to_gradescope
from grader.runner import GradingError, grade
from grader.validate import validate

SPEC = {
    "slug": "quiz", "title": "A quiz", "version": "1", "kind": "exam", "submission": ["quiz.ipynb", "quiz.py"],
    "seed": 7, "score_cap": 20, "preload": ["numpy"],
    "limits": {"call_timeout": 10, "total_timeout": 60},
    "questions": [
        {"id": "decay", "type": "numeric", "title": "0.9 to the 10th", "points": 4,
         "tolerance": {"sigfigs": 3}, "partial": {"rel": 0.05, "credit": 0.5}},
        {"id": "power", "type": "numeric", "title": "f to the T", "points": 2,
         "inputs": [{"f": 0.9, "T": 10}, {"f": 0.5, "T": 3}], "tolerance": {"rel": 1e-9}},
        {"id": "momentum", "type": "choice", "title": "Heavy ball's beta", "points": 2,
         "options": ["0 <= beta < 1", "beta < 0 gives gradient descent", "beta > 1 diverges"]},
        {"id": "convex", "type": "choice", "title": "Which are convex?", "points": 4, "multiple": True,
         "options": ["x^2", "-x^2", "|x|", "sin x"]},
        {"id": "gap", "type": "derivation", "title": "The ELBO's gap", "points": 6, "family": "elbo",
         "goal": ["log p(x)", "=", "ELBO + KL(q(z|x) || p(z|x))"]},
        {"id": "why", "type": "free_text", "title": "Why?", "points": 3, "rubric": ["3 points: because"]},
        {"id": "double", "title": "A function", "points": 2},
    ],
}
KEY = {"decay": 0.3486784401, "power": [0.3486784401, 0.125], "momentum": ["a"], "convex": ["a", "c"]}
CODE_TEST = '''
import pytest

@pytest.mark.question("double")
@pytest.mark.points(2)
def test_double(submission):
    assert submission.double(3) == 6, "double(3) should be 6"
'''
RIGHT = '''
decay = 0.3487
def power(f, T):
    return f ** T
momentum = "a"
convex = ["c", "a"]
gap = ["log p(x)", "= E_q[log p(x)]", "= E_q[log p(x,z) - log p(z|x)]",
       "= E_q[log p(x,z) - log q(z|x)] + E_q[log q(z|x) - log p(z|x)]", "= ELBO + KL(q(z|x) || p(z|x))"]
why = "Because the gap is the KL divergence."
def double(x):
    return 2 * x
'''


def make_quiz(root: Path, key: dict = KEY, code_test: str = CODE_TEST, **changes) -> spec.Assignment:
    folder = root / "assignments" / "quiz"
    (folder / "tests" / "hidden").mkdir(parents=True)
    (folder / "assignment.yaml").write_text(yaml.safe_dump({**SPEC, **changes}, sort_keys=False))
    (folder / "tests" / "hidden" / "key.yaml").write_text(yaml.safe_dump(key))
    (folder / "tests" / "hidden" / "test_code.py").write_text(code_test)
    (root / "solutions").mkdir()
    (root / "solutions" / "quiz.py").write_text(RIGHT)
    return spec.load(folder)


@pytest.fixture(scope="module")
def quiz(tmp_path_factory) -> spec.Assignment:
    return make_quiz(tmp_path_factory.mktemp("course"))


def graded(assignment, tmp_path: Path, source: str, name: str = "quiz.py"):
    path = tmp_path / name
    if name.endswith(".ipynb"):
        nbformat.write(from_percent_script(source), path)
    else:
        path.write_text(textwrap.dedent(source))
    result = grade(assignment, path)
    return result, {t.question: t for t in result.tests}


def test_right_answers_earn_every_point_and_the_cap_applies(quiz, tmp_path):
    result, tests = graded(quiz, tmp_path, RIGHT)
    assert {q: t.earned for q, t in tests.items()} == {"decay": 4, "power": 2, "momentum": 2, "convex": 4, "gap": 6,
                                                       "double": 2}, {q: t.message for q, t in tests.items()}
    assert result.score == 20 and result.capped_score == 20 and result.pending == 3
    assert "has 23 points and full marks at 20" in to_gradescope(result)["output"]
    assert all(t.visibility == "hidden" for t in tests.values())
    assert result.question("why").answer == "Because the gap is the KL divergence."


def test_a_blank_exam_earns_nothing_and_says_what_is_missing(quiz, tmp_path):
    result, tests = graded(quiz, tmp_path, "decay = None\nmomentum = None\n")
    assert result.score == 0
    assert "not answered" in tests["decay"].message and "not answered" in tests["gap"].message
    assert "define the function power(f, T)" in tests["power"].message
    assert result.question("why").answer == ""


def test_wrong_partial_and_malformed_answers_each_cost_only_their_question(quiz, tmp_path):
    source = '''
decay = 0.35                      # within 5 %: half the points
def power(f, T):
    return 0.125 if f == 0.5 else 1 / 0   # right on one input, a crash on the other
momentum = ["a", "b"]             # two choices where one is asked
convex = ["a", "b", "c"]          # both right ones and a wrong one: (2 - 1) / 2
gap = ["log p(x)", "= ELBO + KL(q(z|x) || p(z|x))"]   # the statement itself, not a derivation
why = 42                          # not text: nothing for the TA to read
def double(x):
    return 2 * x
'''
    result, tests = graded(quiz, tmp_path, source)
    earned = {q: t.earned for q, t in tests.items()}
    assert earned == {"decay": 2, "power": 1, "momentum": 0, "convex": 2, "gap": 0, "double": 2}, earned
    assert "partial credit" in tests["decay"].message
    assert "ZeroDivisionError" in tests["power"].message and "f=0.9" in tests["power"].message
    assert "choose one option, not 2" in tests["momentum"].message
    assert tests["momentum"].message.endswith("\nyour answer: ['a', 'b']\nexpected: one label among a to c")
    assert "\nyour answer: ['a', 'b', 'c']\nexpected: a list of labels among a to d" in tests["convex"].message
    assert "\nyour answer: 0.35\nexpected: a single number, within" in tests["decay"].message
    assert "0.3" not in tests["decay"].message.replace("0.35", "")  # the form, never the key's value
    assert "your answer: ['log p(x)'" in tests["gap"].message and "expected: a list of steps" in tests["gap"].message
    assert "your answer" not in tests["power"].message  # a formula: each input's result says what went wrong
    assert "1 wrong one" in tests["convex"].message
    assert "step 2 skips reasoning" in tests["gap"].message
    assert tests["decay"].status == "failed" and result.question("why").answer == ""


def test_grading_one_answer_past_its_deadline_costs_that_answer_only(quiz):
    started = time.monotonic()

    def endless():
        while True:
            pass

    assert exam._graded(quiz.question("gap"), endless, 0.2) == (
        0.0, "grading the answer to gap took too long (over 0.2 s): stopped")
    assert time.monotonic() - started < 2
    assert exam._graded(quiz.question("decay"), lambda: (1.0, ""), 0.2) == (1.0, "")


def test_a_derivation_too_slow_to_check_costs_its_question_only(tmp_path):
    quiz = make_quiz(tmp_path / "course", limits={"call_timeout": 1, "total_timeout": 60})
    leap = "+".join(["E_q[log(p(x,z) * q(z|x) / p(z|x))] - E_q[log q(z|x)]"] * 20)  # true, 4 rules from 20 log p(x)
    slow = textwrap.dedent(RIGHT) + f'''gap = ["20 * log p(x)"] + ["= {leap}", "= 20 * log p(x)"] * 19\n'''
    result, tests = graded(quiz, tmp_path, slow)
    assert {q: t.earned for q, t in tests.items()} == {"decay": 4, "power": 2, "momentum": 2, "convex": 4, "gap": 0,
                                                       "double": 2}, {q: t.message for q, t in tests.items()}
    assert tests["gap"].message == "gap: grading the answer to gap took too long (over 1 s): stopped"


def test_hostile_answers_get_a_reason_and_nothing_else(quiz, tmp_path):
    source = '''
decay = "9" * 10_000_000          # a "number" that is 10 MB of text
def power(f, T):
    return "fast"
momentum = "z"
convex = [["a"]]
gap = ["log p(x)", "= " + "(" * 5000 + "p(x)" + ")" * 5000]
why = "<script>alert(1)</script>\x1b[31m"
'''
    result, tests = graded(quiz, tmp_path, source)
    assert result.score == 0
    page = to_feedback_html(result, [])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31m" in page and "<script>" not in page
    assert "Your answer:\n<script>" in to_gradescope(result)["tests"][-1]["output"]
    assert "got text '9999" in tests["decay"].message and "10000000 characters" in tests["decay"].message
    assert len(tests["decay"].message) < 300
    assert "expected a number, got text 'fast'" in tests["power"].message
    assert "'z' is not one of the options (a to c)" in tests["momentum"].message
    assert "expected a list of labels" in tests["convex"].message
    assert "step 2" in tests["gap"].message and len(tests["gap"].message) < 1000
    assert "missing function" in tests["double"].message or "not defined" in tests["double"].message


def test_a_notebook_answers_in_tagged_cells_and_a_misplaced_answer_is_noted(quiz, tmp_path):
    source = '''# %% [markdown] tags=["why"]
# Because the gap is **exactly** the KL divergence.

# %% tags=["decay"]
decay = None

# %% tags=["momentum"]
momentum = "a"
decay = 0.3487   # the answer to decay, written in momentum's cell
'''
    result, tests = graded(quiz, tmp_path, source, "quiz.ipynb")
    assert tests["decay"].earned == 4 and tests["momentum"].earned == 2
    assert result.question("why").answer == "Because the gap is **exactly** the KL divergence."
    assert any("question decay: answered in cell 3, not in the cell tagged decay" in w for w in result.warnings)


def test_a_submission_that_cannot_run_fails_every_answer_with_its_reason(quiz, tmp_path):
    result, tests = graded(quiz, tmp_path, "decay = (\n")
    assert result.score == 0
    assert all(t.status in ("failed", "error") for t in tests.values())


@pytest.mark.parametrize("question, problem", [
    ({"type": "choice", "options": ["only one"]}, "options must list 2 to 26 options"),
    ({"type": "numeric", "tolerance": {"rel": 0}}, "tolerance needs at least one positive bound"),
    ({"type": "numeric", "tolerance": {"relative": 0.1}}, "tolerance.relative is not a known key"),
    ({"type": "numeric", "partial": {"rel": 0.1, "credit": 1.5}}, "partial.credit must be the share"),
    ({"type": "numeric", "inputs": [{"f": 1}, 3]}, "inputs must list mappings"),
    ({"type": "derivation", "goal": ["log p(x)", ">", "ELBO"]}, "goal must be [left, relation, right]"),
    ({"type": "derivation", "family": "physics", "goal": ["a", "=", "b"]}, "family must be one of elbo"),
    ({"type": "essay"}, "type must be one of code, numeric, choice, derivation, free_text"),
    ({"type": "numeric", "id": "two words"}, "must be a Python identifier"),
])
def test_a_bad_question_in_the_spec_is_named(question, problem, tmp_path):
    data = {**SPEC, "slug": tmp_path.name, "questions": [{"id": "q", "title": "Q", "points": 1, **question}]}
    with pytest.raises(spec.SpecError, match=problem.replace("[", r"\[").replace("(", r"\(")):
        spec.parse(data, tmp_path)


def test_a_key_that_misses_or_mislabels_an_answer_is_named(quiz, tmp_path, monkeypatch):
    for key, problem in [({**KEY, "decay": None} | {"decay": 1}, None),
                         ({k: v for k, v in KEY.items() if k != "convex"}, "no answer for question 'convex'"),
                         ({**KEY, "momentum": ["x"]}, "labels among a, b, c"),
                         ({**KEY, "power": [1.0]}, "one value per input"),
                         ({**KEY, "extra": 1}, "'extra' is not a numeric, choice or derivation question")]:
        path = tmp_path / "key.yaml"
        path.write_text(json.dumps(key))
        monkeypatch.setattr(type(quiz), "key_path", property(lambda self: path))
        if problem is None:
            assert exam.load_key(quiz)["decay"] == 1
        else:
            with pytest.raises(spec.SpecError, match=problem):
                exam.load_key(quiz)


@pytest.mark.parametrize("key, code_test, problem", [
    ({**KEY, "momentum": ["q"]}, CODE_TEST, "key.yaml: .*momentum: the answer must be labels among a, b, c"),
    (KEY, "import no_such_module\n", "need no_such_module, which is not installed here"),
])
def test_an_assignment_whose_key_or_tests_do_not_load_is_a_grading_error_not_a_zero(key, code_test, problem, tmp_path):
    assignment = make_quiz(tmp_path, key, code_test)
    (tmp_path / "quiz.py").write_text(RIGHT)
    with pytest.raises(GradingError, match=problem):
        grade(assignment, tmp_path / "quiz.py")
    assert any(re.search(problem, p) for p in validate(assignment))


@pytest.mark.parametrize("answer, right, credit", [
    ("b", ["b"], 1), ("(B)", ["b"], 1), (["a", "b"], ["a", "b"], 1), (["a"], ["a", "b"], 0.5),
    (["a", "c"], ["a", "b"], 0), (["a", "b", "c", "d"], ["a", "b"], 0), ([], ["a"], 0),
])
def test_choice_scoring_per_option(answer, right, credit):
    question = spec.Question("q", "Q", 2, type="choice", options=("w", "x", "y", "z"), multiple=True,
                             scoring="per_option")
    assert exam.grade_choice(question, answer, right)[0] == credit


def test_significant_figures_tolerance():
    question = spec.Question("q", "Q", 1, type="numeric", tolerance=spec.Tolerance(sigfigs=3))
    assert exam.grade_numeric(question, 0.0317, 0.031655)[0] == 1
    assert exam.grade_numeric(question, 0.0316, 0.031655)[0] == 0
    assert exam.grade_numeric(question, [1.0, 2.0], 1.0)[1] == "expected a single number, got an array of shape (2,)"


def test_a_wrong_array_names_its_first_wrong_entry_and_a_formula_returning_none_is_unanswered():
    question = spec.Question("q", "Q", 1, type="numeric")
    assert exam.grade_numeric(question, [[1, 2], [3, 5]], [[1, 2], [3, 4]])[1].endswith("index (1, 1)")
    formula = spec.Question("p", "P", 1, type="numeric", inputs=((("f", 0.5),),))
    assert exam.grade_formula(formula, [("", None)], [1.0]) == (0.0, "not answered: p(...) returns None")


def test_an_exams_feedback_is_held_back_until_the_ta_releases_it(quiz, tmp_path):
    exams = tmp_path / "class"
    exams.mkdir()
    (exams / "ada.py").write_text(RIGHT)
    (exams / "bob.py").write_text("decay = 0.1\n")
    out = tmp_path / "grades"

    def grader(*args):
        return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], capture_output=True, text=True,
                              timeout=600)

    graded = grader("grade", quiz.root, exams, "--out", out, "-j", "2", "--hold-feedback")
    assert graded.returncode == 0, graded.stderr  # both graded
    assert sorted(p.name for p in out.glob("*.json")) == ["ada.json", "bob.json"] and not list(out.glob("*.html"))
    assert "feedback pages held back" in graded.stdout
    released = grader("feedback", out)
    assert released.returncode == 0, released.stderr
    assert "decay: not the right value" in (out / "bob.html").read_text()
