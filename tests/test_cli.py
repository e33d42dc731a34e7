"""The grader command end to end, as a TA, a student and CI use it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import nbformat

from grader.notebook import from_percent_script

from conftest import ROOT, make_assignment, solution_source


def grader(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def flat(text: str) -> str:
    """The terminal's text with its wrapping and the panels' borders undone."""
    return " ".join(text.replace("│", " ").split())


def test_grade_writes_json_gradescope_and_junit(tmp_path):
    notebook = tmp_path / "backprop.ipynb"
    cells = from_percent_script(solution_source("backprop"))
    cells.cells.append(nbformat.v4.new_markdown_cell("## Written question\nsoftmax_gradient:\np - e(y), <b>since</b>"))
    nbformat.write(cells, notebook)
    done = grader("grade", "backprop", notebook, "--json", tmp_path / "r.json", "--gradescope",
                  tmp_path / "results.json", "--junit", tmp_path / "report.xml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "isolation" in done.stdout and "pending" in done.stdout
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["score"] == result["autograded_possible"] > 0 and result["pending"] > 0
    (written,) = [q for q in result["questions"] if q["manual"]]
    assert written["answer"] == "p - e(y), <b>since</b>" and not written["graded"]  # for `grader review`
    gradescope = json.loads((tmp_path / "results.json").read_text())
    assert gradescope["score"] == result["capped_score"]
    assert {"name", "score", "max_score", "output", "visibility", "status"} <= set(gradescope["tests"][0])
    suites = ET.parse(tmp_path / "report.xml").getroot()
    manual = sum(question["manual"] for question in result["questions"])  # one skipped testcase each
    assert suites.tag == "testsuites" and int(suites.get("tests")) == len(result["tests"]) + manual > manual


def test_grading_twice_gives_the_same_score(tmp_path):
    path = tmp_path / "backprop.py"
    path.write_text(solution_source("backprop").replace("return s * (1 - s)", "return s * (1 + s)"))
    scores = []
    for run in range(2):
        assert grader("grade", "backprop", path, "--json", tmp_path / f"{run}.json", "--quiet").returncode == 1
        result = json.loads((tmp_path / f"{run}.json").read_text())
        scores.append([(t["name"], t["earned"]) for t in result["tests"]])
    assert scores[0] == scores[1] and 0 < sum(e for _, e in scores[0])


def test_check_runs_public_tests_and_sets_the_exit_code(tmp_path):
    good = ROOT / "solutions" / "backprop.py"
    done = grader("check", "backprop", good)
    assert done.returncode == 0 and "All public tests pass" in done.stdout
    assert "hidden/" not in done.stdout
    starter = grader("check", "backprop", ROOT / "assignments" / "backprop" / "starter.py")
    assert starter.returncode == 1 and "Some public tests fail" in starter.stdout
    assert "✗ written answer softmax_gradient: still the starter's placeholder text" in flat(starter.stdout)
    assert "✗ written answer softmax_gradient: not found; write it under a line `softmax_gradient:`" in flat(done.stdout)
    answered = tmp_path / "backprop.py"
    answered.write_text(good.read_text() + "\n# softmax_gradient:\n# the gradient is p - e(y), as the handout shows\n")
    assert "✓ written answer softmax_gradient: found (10 words)" in flat(grader("check", "backprop", answered).stdout)


def test_batch_grades_a_class_folder_and_resumes(tmp_path):
    folder = tmp_path / "class"
    (folder / "bob").mkdir(parents=True)
    (folder / "alice.py").write_text(solution_source("backprop"))
    (folder / "bob" / "backprop.py").write_text("def sigmoid(a):\n    return 1 / (1 + 2.718281828 ** -a)\n")
    (folder / "carol.ipynb").write_text("{ broken")
    out = tmp_path / "grades"
    done = grader("grade", "backprop", folder, "--out", out, "-j", "2")
    assert done.returncode == 0, done.stdout + done.stderr  # everyone was graded, whatever the scores
    rows = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
    assert set(rows) == {"alice", "bob", "carol"}
    assert float(rows["alice"]["score"]) > float(rows["bob"]["score"]) >= float(rows["carol"]["score"]) == 0
    assert rows["carol"]["status"] == "did not load" and "is not a valid notebook" in rows["carol"]["reason"]
    stamp = (out / "alice.json").stat().st_mtime_ns
    assert grader("grade", "backprop", folder, "--out", out).returncode == 0
    assert (out / "alice.json").stat().st_mtime_ns == stamp


def test_validate_names_the_file_and_key(tmp_path):
    assert grader("validate", "backprop").returncode == 0
    broken = tmp_path / "assignments" / "demo"
    (broken / "tests" / "public").mkdir(parents=True)
    (broken / "assignment.yaml").write_text("slug: demo\ntitle: Demo\nsubmission: [demo.py]\n"
                                            "questions:\n  - {id: q1, title: One, points: -3}\n")
    done = grader("validate", broken)
    assert done.returncode == 2
    assert "assignment.yaml" in done.stderr and "questions[0].points" in done.stderr


def test_unknown_assignment_is_a_clear_error():
    done = grader("grade", "nope", "x.py")
    assert done.returncode == 2 and "no assignment 'nope'" in done.stderr and "Traceback" not in done.stderr


def test_release_bundle_has_no_secrets_and_checks_without_the_solution(tmp_path):
    done = grader("release", "backprop", "--out", tmp_path / "release")
    assert done.returncode == 0, done.stdout + done.stderr
    bundle = tmp_path / "release" / "backprop"
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert {"handout.md", "starter.py", "starter.ipynb", "assignment.yaml"} <= files
    assert not any(f.startswith("tests/hidden") or "mutants" in f for f in files)
    check = grader("check", bundle, ROOT / "solutions" / "backprop.py", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_feedback_report_escapes_what_the_student_wrote(tmp_path):
    path = tmp_path / "backprop.py"
    path.write_text("def sigmoid(a):\n    raise ValueError('<script>alert(1)</script>')\n")
    report = tmp_path / "feedback.html"
    assert grader("grade", "backprop", path, "--feedback", report, "--quiet").returncode == 1
    page = report.read_text()
    assert "<script" not in page and "&lt;script&gt;alert(1)" in page
    assert "sigmoid" in page and "Score: 0" in page


def test_version_and_help_document_the_commands():
    assert grader("--version").stdout.startswith("grader ")
    done = grader("grade", "--help")
    assert "--verbose" in done.stdout and "(default:" in done.stdout and "grades)" in done.stdout


def test_a_path_that_does_not_exist_is_a_command_mistake(tmp_path):
    done = grader("grade", "backprop", tmp_path / "missing.py", "--json", tmp_path / "r.json")
    assert done.returncode == 2 and "missing.py: no such file or folder" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2 and not (tmp_path / "r.json").exists()


def test_a_submission_with_nothing_gradable_is_a_result_of_zero_with_one_message(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my answers")
    done = grader("grade", "backprop", notes, "--gradescope", tmp_path / "g.json", "--junit", tmp_path / "j.xml")
    assert done.returncode == 1 and "not graded" in done.stdout and "✗" not in done.stdout
    gradescope = json.loads((tmp_path / "g.json").read_text())
    assert gradescope["score"] == 0 and gradescope["tests"] == []
    assert gradescope["output"].startswith("Not graded: notes.txt is not a .py, .ipynb or .zip file")
    (case,) = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    assert case.find("error").get("message").startswith("notes.txt is not a .py")


def test_what_a_notebook_prints_while_loading_is_kept_apart(tmp_path):
    path = tmp_path / "backprop.py"
    path.write_text("print('hello from the top level')\n" + solution_source("backprop"))
    done = grader("grade", "backprop", path, "--json", tmp_path / "r.json", "--quiet")
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["load_output"].strip() == "hello from the top level"
    assert not any("hello from the top level" in t["output"] for t in result["tests"]), done.stderr


HIDDEN = """import pytest

@pytest.mark.question("q")
@pytest.mark.points(1)
def test_secret_case(submission):
    assert submission.double(21) == 42, "double(21) is not 42: the secret case fails"
"""


def test_hidden_tests_held_back_until_the_ta_releases_them(tmp_path):
    folder = make_assignment(tmp_path, HIDDEN, "def double(x):\n    return 2 * x\n",
                             hidden_results="after_release").root
    submission = tmp_path / "tiny.py"
    submission.write_text("def double(x):\n    return x + 1\n")
    grades = tmp_path / "grades"
    done = grader("grade", folder, submission, "--json", grades / "jane.json", "--feedback", grades / "jane.html",
                  "--gradescope", tmp_path / "results.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "secret" not in done.stdout and "1 hidden tests: results released later" in done.stdout
    assert "secret" not in (grades / "jane.html").read_text()
    (test,) = json.loads((tmp_path / "results.json").read_text())["tests"]
    assert test["visibility"] == "after_published"
    assert json.loads((grades / "jane.json").read_text())["hidden_held_back"] is True
    released = grader("feedback", grades)
    assert released.returncode == 0, released.stdout + released.stderr
    page = (grades / "jane.html").read_text()
    assert "secret_case" in page and "the secret case fails" in page and "released later" not in page
    assert "<h3>tiny.py</h3>" in page and page.count("<span class=\"line") == 2  # its code, kept in the result
    assert json.loads((grades / "jane.json").read_text())["hidden_held_back"] is False
    assert grader("feedback", tmp_path / "results.json").returncode == 2  # not a result of grader grade


def test_a_folder_holding_the_untouched_starter_beside_the_work_is_graded_from_the_work(tmp_path):
    """The bundle's README shows both copy commands: a student who ran both and worked in the module keeps
    the notebook starter beside it. Check, a single grade and a class grade the module and say so; where both
    files were worked on, nothing is graded and the message names them."""
    starter = ROOT / "assignments" / "backprop" / "starter.ipynb"
    classroom = tmp_path / "class"
    jane, tom = classroom / "jane", classroom / "tom"
    for folder, notebook in ((jane, starter.read_text()), (tom, starter.read_text().replace("raise", "pass  #", 1))):
        folder.mkdir(parents=True)
        (folder / "backprop.ipynb").write_text(notebook)
        (folder / "backprop.py").write_text(solution_source("backprop"))
    note = "found backprop.ipynb and backprop.py: graded backprop.py; backprop.ipynb is the starter, unchanged"

    check = grader("check", "backprop", jane)
    assert check.returncode == 0 and "All public tests pass" in check.stdout, check.stdout + check.stderr
    assert "backprop v1" in check.stdout and "jane/backprop.py" in check.stdout and note in flat(check.stdout)

    single = grader("grade", "backprop", jane, "--json", tmp_path / "jane.json", "--quiet")
    result = json.loads((tmp_path / "jane.json").read_text())
    assert single.returncode == 0 and result["file"] == "backprop.py" and note in result["warnings"]
    assert result["score"] == result["autograded_possible"] > 90

    refused = grader("check", "backprop", tom)
    assert refused.returncode == 1 and "not graded" in refused.stdout
    assert "found backprop.ipynb and backprop.py, and each differs from the starter" in flat(refused.stdout)

    grader("grade", "backprop", classroom, "--out", tmp_path / "grades", "-j", "1")
    graded = {name: json.loads((tmp_path / "grades" / f"{name}.json").read_text()) for name in ("jane", "tom")}
    assert graded["jane"]["score"] == result["score"] and note in graded["jane"]["warnings"]
    assert graded["tom"]["score"] == 0 and "hand in only one of them" in graded["tom"]["problem"]
