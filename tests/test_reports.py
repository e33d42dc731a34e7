"""The result model and its renderers: Gradescope JSON, JUnit XML, gradebook CSV, terminal table."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped
from rich.console import Console

from grader import results  # not `from grader.results import TestResult`: pytest would try to collect it
from grader.reports import terminal
from grader.reports.gradebook import Row, write_gradebook
from grader.reports.gradescope import to_gradescope
from grader.reports.junit import to_junit

SHA = "ab" * 32
SCHEMAS = Path(__file__).parent / "schemas"


def make_result(**overrides) -> results.GradeResult:
    tests = [
        results.TestResult(name="public/test_forward.py::test_shapes", question="forward", points=6, earned=6,
                           status="passed", visibility="public", duration=0.25),
        results.TestResult(name="public/test_forward.py::test_values", question="forward", points=4, earned=0,
                           status="failed", visibility="public",
                           message="out: 1 of 4 elements differ; first at index (2,): expected 1, got 2\nmore detail",
                           output="student printed this", duration=0.5),
        results.TestResult(name="hidden/test_backward.py::test_gradient[3]", question="backward", points=8, earned=8,
                           status="passed", visibility="hidden", duration=1.0),
        results.TestResult(name="hidden/test_backward.py::test_deep", question="backward", points=2, earned=0,
                           status="failed", visibility="hidden", message="dW: relative error 0.5 > 1e-05 at index (0, 1)",
                           duration=0.125),
    ]
    questions = [
        results.QuestionResult(id="forward", title="Forward pass", possible=10, earned=6),
        results.QuestionResult(id="backward", title="Backward pass", possible=10, earned=8),
        results.QuestionResult(id="essay", title="Why the max trick?", possible=5, earned=0, manual=True,
                               rubric=["3 points: overflow", "2 points: invariance"]),
    ]
    values = dict(assignment="backprop", assignment_version="1.0.0", toolkit_version="0.1.0",
                  submission="jane.ipynb", submission_sha256=SHA, isolation="bubblewrap", tests=tests,
                  questions=questions, score_cap=12, warnings=["a warning"], load_errors=["cell 4: NameError"],
                  execution_time=3.5)
    values.update(overrides)
    return results.GradeResult(**values)


# ---------------------------------------------------------------------------- the model

def test_totals_and_cap():
    result = make_result()
    assert result.score == 14 and result.capped_score == 12
    assert result.autograded_possible == 20 and result.total_possible == 25 and result.pending == 5
    assert result.max_score == 12
    assert result.lost_questions() == {"forward", "backward"}
    assert [q.status for q in result.questions] == ["partial", "partial", "pending"]
    uncapped = make_result(score_cap=None)
    assert uncapped.capped_score == 14 and uncapped.max_score == 25


def test_to_dict_from_dict_roundtrip_also_through_json():
    result = make_result()
    data = result.to_dict()
    assert data["score"] == 14 and data["capped_score"] == 12 and data["max_score"] == 12 and data["pending"] == 5
    assert results.GradeResult.from_dict(data) == result
    assert results.GradeResult.from_dict(json.loads(json.dumps(data))) == result


# ---------------------------------------------------------------------------- Gradescope

def test_gradescope_schema():
    document = to_gradescope(make_result())
    json.dumps(document)  # serialisable as is
    assert document["score"] == 12  # the capped score
    assert document["execution_time"] == 3.5
    assert "bubblewrap" in document["output"] and "cell 4: NameError" in document["output"]
    tests = document["tests"]
    assert len(tests) == 5
    for test in tests[:-1]:
        assert {"name", "score", "max_score", "output", "visibility", "status"} <= set(test)
        assert test["status"] in ("passed", "failed")
    for test in tests:
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    by_name = {t["name"]: t for t in tests}
    shapes = by_name["public/test_forward.py::test_shapes"]
    assert (shapes["score"], shapes["max_score"], shapes["status"], shapes["visibility"]) == (6, 6, "passed", "visible")
    values = by_name["public/test_forward.py::test_values"]
    assert (values["score"], values["max_score"], values["status"]) == (0, 4, "failed")
    assert "index (2,)" in values["output"] and "student printed this" in values["output"]
    for name in ("hidden/test_backward.py::test_gradient[3]", "hidden/test_backward.py::test_deep"):
        assert by_name[name]["visibility"] == "after_published"  # nothing of a hidden test before publication
    manual = tests[-1]  # pending: neither a score nor a status, so Gradescope shows no failed 0
    assert manual["name"] == "essay: Why the max trick? (5 points, graded by a TA)"
    assert not {"score", "max_score", "status"} & set(manual)
    assert manual["output"].startswith("Pending") and "3 points: overflow" in manual["output"]
    assert sum(t.get("max_score", 0) for t in tests) == 20


def assert_gradescope_valid(document: dict) -> None:
    """Gradescope's documented results.json format, as tests/schemas/gradescope_results.schema.json writes it down."""
    schema = json.loads((SCHEMAS / "gradescope_results.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(json.dumps(document)), schema, cls=jsonschema.Draft202012Validator)


def varied_results() -> list[results.GradeResult]:
    """A result as graded, held back, checked (public only), not gradable, and with hostile text in it."""
    hostile = make_result()
    hostile.tests[1].message = "</testcase>]]><x/>\x1b[31m\u202e\ud800 <b>bold</b>"
    return [make_result(), make_result(hidden_held_back=True), make_result(public_only=True, score_cap=None),
            make_result(problem="notes.txt is not a .py, .ipynb or .zip file", tests=[]), hostile,
            make_result(questions=[], tests=[])]


@pytest.mark.parametrize("index", range(6))
def test_gradescope_output_is_valid_against_the_documented_format(index):
    assert_gradescope_valid(to_gradescope(varied_results()[index]))


def test_the_schema_rejects_what_gradescope_would_not_read():
    document = to_gradescope(make_result())
    for broken in ({**document, "scroe": 1}, {**document, "visibility": "later"},
                   {**document, "tests": [{**document["tests"][0], "status": "ok"}]},
                   {k: v for k, v in document.items() if k != "score"}):
        with pytest.raises(jsonschema.ValidationError):
            assert_gradescope_valid(broken)


def test_gradescope_output_explains_the_score_and_the_cap():
    output = to_gradescope(make_result())["output"]
    assert output.startswith("Score 12 of 12: the tests earned 14 of 20 points; the assignment has 25 points and "
                             "full marks at 12")
    assert "5 points are graded by a TA and added later" in output


def test_held_back_hidden_tests_are_shown_after_publication_only():
    document = to_gradescope(make_result(hidden_held_back=True))
    visibility = {t["name"]: t["visibility"] for t in document["tests"]}
    assert visibility["hidden/test_backward.py::test_deep"] == "after_published"
    assert visibility["public/test_forward.py::test_values"] == "visible"
    assert "appear when grades are published" in document["output"]


def test_terminal_holds_back_hidden_tests_names_and_messages():
    text = rendered(make_result(hidden_held_back=True), 80, verbose=True)
    assert "deep" not in text and "relative error" not in text and "gradient[3]" not in text
    assert "2 hidden tests: results released later" in text and "✗ values" in text
    released = rendered(make_result(), 80, verbose=True)
    assert "✗ deep" in released and "released later" not in released


# ---------------------------------------------------------------------------- JUnit

def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMAS / "junit.xsd")


@pytest.mark.parametrize("index", range(6))
def test_junit_is_valid_against_the_xunit_schema_and_counts_add_up(index, tmp_path):
    result = varied_results()[index]
    document = to_junit(result)
    junit_schema().validate(document.decode())
    path = tmp_path / "report.xml"
    path.write_bytes(document)
    root = ET.fromstring(document)
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        for attribute, kind in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            assert suite.get(attribute) == str(sum(case.find(kind) is not None for case in cases))
    suites = list(JUnitXml.fromfile(str(path)))  # read back as a JUnit-reading CI reads it
    manual = sum(q.manual for q in result.questions) if not result.problem else 0
    expected = 1 if result.problem else len(result.tests) + manual
    assert sum(suite.tests for suite in suites) == expected == int(root.get("tests"))
    outcomes = [type(r) for suite in suites for case in suite for r in case.result]
    assert outcomes.count(Failure) == int(root.get("failures"))
    assert outcomes.count(Error) == int(root.get("errors"))
    assert outcomes.count(Skipped) == manual + sum(t.status == "skipped" for t in result.tests) * (not result.problem)


def test_the_xunit_schema_rejects_a_testsuite_without_errors():
    root = ET.fromstring(to_junit(make_result()))
    junit_schema().validate(ET.tostring(root, encoding="unicode"))
    del root.find("testsuite").attrib["errors"]
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        junit_schema().validate(ET.tostring(root, encoding="unicode"))


def test_junit_parses_and_has_one_failure_per_failed_test():
    root = ET.fromstring(to_junit(make_result()))
    assert root.tag == "testsuites" and root.get("tests") == "5" and root.get("failures") == "2"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"forward", "backward", "essay"}
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 2
    failed_cases = [case.get("name") for case in root.iter("testcase") if case.find("failure") is not None]
    assert failed_cases == ["public/test_forward.py::test_values", "hidden/test_backward.py::test_deep"]
    values = root.find(".//testcase[@name='public/test_forward.py::test_values']")
    assert values.find("failure").get("message") == "out: 1 of 4 elements differ; first at index (2,): expected 1, got 2"
    assert "more detail" in values.find("failure").text
    assert values.find("system-out").text == "student printed this"
    assert root.find(".//testcase[@name='public/test_forward.py::test_shapes']/failure") is None
    assert suites["forward"].find("properties/property").get("value") == "6/10"
    assert suites["essay"].get("skipped") == "1"
    assert suites["essay"].find("testcase/skipped") is not None


def test_junit_errors_are_error_elements():
    result = make_result()
    result.tests[1].status = "error"
    root = ET.fromstring(to_junit(result))
    assert len(root.findall(".//testcase/failure")) == 1 and len(root.findall(".//testcase/error")) == 1


def test_junit_survives_control_characters_in_student_output():
    result = make_result()
    result.tests[1].output = "loss \x1b[32m0.1\x1b[0m\x00"
    result.tests[1].message = "raised ValueError: bad byte \x07"
    ET.fromstring(to_junit(result))


# ---------------------------------------------------------------------------- gradebook

def test_gradebook_header_and_row(tmp_path):
    path = tmp_path / "gradebook.csv"
    other = make_result(submission="zed.py", score_cap=None, submission_sha256="cd" * 32, isolation="rlimits")
    pending = "manual grading pending"
    _gradebook([Row("zed", pending, "5 points", other), Row("jane", pending, "", make_result()),
                Row("kim", "grading failed", "the grader ran out of memory", None)], path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["student", "score", "max_score", "forward", "backward", "essay", "pending_manual",
                       "uncapped_score", "status", "reason", "failed_tests", "isolation", "sha256", "late_penalty",
                       "late"]
    assert rows[1] == ["jane", "12", "12", "6", "8", "", "5", "14", pending, "", "2", "bubblewrap", SHA, "0", ""]
    assert rows[2] == ["kim", "", "", "", "", "", "", "", "grading failed", "the grader ran out of memory", "", "", "",
                       "", ""]  # not graded now: a row with why, and no number
    assert rows[3] == ["zed", "14", "25", "6", "8", "", "5", "14", pending, "5 points", "2", "rlimits", "cd" * 32, "0",
                       ""]
    assert len(rows) == 4


def test_gradebook_union_of_questions(tmp_path):
    extra = make_result()
    extra.questions.append(results.QuestionResult(id="bonus", title="Bonus", possible=2, earned=1))
    path = tmp_path / "gradebook.csv"
    _gradebook([Row("a", "graded", "", make_result()), Row("b", "graded", "", extra)], path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["bonus"] == "" and rows[1]["bonus"] == "1"


# ---------------------------------------------------------------------------- terminal

def rendered(result, width: int, **options) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    terminal.render(result, console, **options)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 200])
def test_terminal_shows_a_row_per_question_and_what_was_lost(width):
    text = rendered(make_result(), width, show_output=True)
    assert all(len(line) <= width for line in text.splitlines())
    assert "isolation: bubblewrap" in text
    assert "pending / 5" in text and "pending (manual) 5" in text
    assert "score 12 / 12" in text and "25 points, full marks at 12" in text
    assert "✗ values" in text and "first at index (2,)" in text and "✗ deep" in text
    assert "shapes" not in text and "gradient[3]" not in text  # passed: only -v lists them
    assert "student printed this" in text
    assert "warning: a warning" in text and "while loading: cell 4: NameError" in text
    assert len(text.splitlines()) < 30


def test_terminal_verbose_lists_every_test_failing_first():
    text = rendered(make_result(), 120, verbose=True)
    assert "✓ shapes  6/6" in text and "✓ gradient[3]  8/8" in text
    assert text.index("✗ values") < text.index("✓ shapes")


def test_terminal_for_check_speaks_of_public_tests_not_caps():
    text = rendered(make_result(public_only=True), 80)
    assert "public tests 2 of 4 pass" in text and "full marks at" not in text and "capped" not in text


def test_terminal_shows_one_message_when_nothing_could_be_graded():
    text = rendered(make_result(problem="jane.txt is not a .py, .ipynb or .zip file"), 80)
    assert "not graded" in text and "jane.txt is not a .py" in text and "✗" not in text


def test_terminal_says_a_repeated_message_once():
    result = make_result()
    result.tests[3].message = result.tests[1].message
    result.tests[3].question = "forward"
    text = rendered(result, 120)
    assert text.count("first at index (2,)") == 1 and "✗ values, deep (2 tests, the same failure)" in text


TRACEBACK = ("your code raised an exception: calling forward() raised:\n"
             '  File "backprop.py", line 80, in forward\n'
             "    h_k = softmax(a_k) + np.zeros_like(a_k, dtype=np.float64) + np.zeros_like(a_k, dtype=np.float64)\n"
             "          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
             "NameError: name 'undefined_name_that_is_long' is not defined, and this sentence goes on past the edge")


def test_terminal_at_80_columns_keeps_indents_and_does_not_wrap_tracebacks_inside_a_token():
    result = make_result()
    result.tests[1].message = TRACEBACK
    lines = rendered(result, 80).splitlines()
    cell = [line.split("│")[-1] for line in lines if "│" in line]  # the "what was lost" column
    start = next(n for n, line in enumerate(cell) if "your code raised" in line)
    head, wrapped = cell[start], cell[start + 1]
    assert len(head) - len(head.lstrip()) == len(wrapped) - len(wrapped.lstrip())  # the wrap keeps the indent
    code = next(line for line in cell if "h_k = softmax" in line)
    assert code.rstrip().endswith("…") and not any(line.strip().startswith("dtype") for line in cell)
    carets = [line for line in cell if "^" in line]
    assert len(carets) == 1 and carets[0].rstrip().endswith("…")  # one row, cut: no wrapped run of carets
    error = next(n for n, line in enumerate(cell) if "NameError" in line)
    indent = lambda line: len(line) - len(line.lstrip())  # noqa: E731
    assert cell[error + 1].strip() and indent(cell[error + 1]) == indent(cell[error]) == indent(head)


def test_terminal_render_lists_tests_of_unknown_questions():
    result = make_result()
    result.tests.append(results.TestResult(name="hidden/test_misc.py::test_orphan", question="nowhere", points=1,
                                           earned=0, status="error", visibility="hidden", message="boom"))
    text = rendered(result, 120)
    assert "orphan" in text and "boom" in text and "nowhere" in text


def test_shares_of_points_print_with_at_most_two_decimals():
    from grader.reports.feedback import to_feedback_html
    result = make_result()
    result.tests[1].earned = 4 * 5 / 6  # a derivation's milestones: 3.3333...
    result.questions[0].earned = 6 + 4 * 5 / 6
    text = rendered(result, 120, verbose=True)
    assert "9.33 / 10" in text and "3.33/4" in text and "3.3333" not in text
    page = to_feedback_html(result, [])
    assert "9.33&nbsp;/&nbsp;10" in page and "3.3333" not in page
    assert results.points_text(12.0) == "12" and results.points_text(0.125) == "0.12" and results.points_text(-1e-9) == "0"


def _gradebook(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as out:
        write_gradebook(rows, out)


def test_load_errors_after_a_hidden_test_are_shown_only_once_released():
    from grader.reports.feedback import to_feedback_html
    from grader.reports.gradescope import to_gradescope
    held = make_result(hidden_held_back=True, held_load_errors=["cell 1: RuntimeError: a hidden test passed 31337"])
    assert held.shown_load_errors() == ["cell 4: NameError"]
    assert "31337" not in to_gradescope(held)["output"] and "31337" not in to_feedback_html(held, [])
    released = results.GradeResult.from_dict(held.to_dict())
    released.hidden_held_back = False
    assert released.shown_load_errors()[-1].endswith("31337") and "31337" in to_gradescope(released)["output"]
