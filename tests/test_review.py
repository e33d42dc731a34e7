"""grader review: answers found in submissions, the store under two TAs at once, re-scoring, the app's guard, merging.

The class is generated (tests/classes.py): perceptron results written as `grader grade --out` writes them.
The browser test of the page is in test_course_browser.py.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from classes import HOSTILE, make_class
from grader import cli, spec
from grader.answers import find_answers
from grader.course.grades import read_grades
from grader.course.review.app import Review, create_app, serve
from grader.course.review.merge import merge
from grader.course.review.store import Store
from grader.reports.gradescope import to_gradescope
from grader.submission import prepare
from grader.validate import validate

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("flask", reason="Flask is not installed (pip install 'dl-grader[review]')")


@pytest.fixture
def folder(tmp_path) -> Path:
    make_class(tmp_path / "grades", 12)
    return tmp_path / "grades"


@pytest.fixture
def assignment():
    return spec.load("perceptron")


# ---------------------------------------------------------------------------- answers in submissions

def test_answers_are_found_in_tagged_cells_marked_text_and_comment_blocks(tmp_path):
    ids = ("proof", "why")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Question 7\nproof: first line\n$\\delta > 0$ because\n\nwhy: other answer"),
        nbformat.v4.new_code_cell("x = 1\n# proof: and in code\n# continued\ny = 2\n# not part of it"),
        nbformat.v4.new_markdown_cell("A tagged cell, all of it", metadata={"tags": ["why"]}),
        nbformat.v4.new_markdown_cell("Claim: not an id, so no answer starts here")])
    answers = find_answers(nbformat.writes(notebook), notebook=True, ids=ids)
    assert answers == {"proof": "first line\n$\\delta > 0$ because\n\n\nand in code\ncontinued",
                       "why": "other answer\n\nA tagged cell, all of it"}
    module = "import numpy as np\n\n# %% [markdown]\n# proof:\n# step one\n#\n# step two\n\n# %%\ndef f():\n    pass\n"
    assert find_answers(module, notebook=False, ids=ids) == {"proof": "step one\n\nstep two"}
    assert find_answers(module, notebook=False, ids=()) == {}
    (tmp_path / "s.py").write_text(module)
    (tmp_path / "work").mkdir()
    prepared = prepare(tmp_path / "s.py", ("perceptron.py",), tmp_path / "work", answers=("proof",))
    assert prepared.answers == {"proof": "step one\n\nstep two"}  # what grading puts in the result


@pytest.mark.parametrize("slug", ["perceptron", "backprop", "char_rnn", "ebm", "elbo", "vae"])
def test_the_starters_mark_where_the_answer_goes(slug):
    assignment = spec.load(slug)
    manual = tuple(q.id for q in assignment.questions if q.manual)
    for suffix in (".py", ".ipynb"):
        answers = find_answers(assignment.starter(suffix).read_text(), suffix == ".ipynb", manual)
        assert answers == dict.fromkeys(manual, "*Your answer here.*"), (slug, suffix)


# ---------------------------------------------------------------------------- the store

def _ta(path: Path, item: str, students: list[str], barrier) -> None:
    store = Store(path)
    barrier.wait()
    for student in students:
        store.set_mark(student, "proof", item, True, by=item)
        store.set_comment(student, "proof", f"from {item}", by=item)


def test_two_tas_at_once_lose_nothing(tmp_path):
    """Two processes give different items to the same students, interleaved: every mark of both is kept."""
    students = [f"s{n}" for n in range(60)]
    barrier = multiprocessing.Barrier(2, timeout=60)  # a TA that dies must not leave the other waiting
    tas = [multiprocessing.Process(target=_ta, args=(tmp_path, item, students, barrier)) for item in ("a", "b")]
    for ta in tas:
        ta.start()
    for ta in tas:
        ta.join(60)
        assert ta.exitcode == 0
    grades = Store(tmp_path).grades("proof")
    assert set(grades) == set(students)
    assert all(g.given == {"a", "b"} and g.graded and g.comment in ("from a", "from b") for g in grades.values())
    with sqlite3.connect(Store(tmp_path).path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_rubric_item_whose_points_change_rescores_and_says_so(tmp_path, folder, assignment):
    home = tmp_path / "home" / "assignments" / "perceptron"
    shutil.copytree(assignment.root, home)
    (home.parent.parent / "solutions").mkdir()
    shutil.copy(assignment.solution, home.parent.parent / "solutions")
    text = (assignment.root / "assignment.yaml").read_text()
    before = spec.load(home)
    proof = before.question("proof")
    store = Store(folder)
    assert store.rubric_changes(proof) == []
    store.set_mark("student000", "proof", proof.rubric[0].id, True)
    store.set_mark("student000", "proof", proof.rubric[1].id, True)
    store.set_mark("student001", "proof", proof.rubric[0].id, True)
    store.set_mark("student001", "proof", proof.rubric[0].id, False)  # taken back: graded, 0 points
    assert merge(before, folder).graded == 2
    assert _manual(folder, "student000") == (5.0, True) and _manual(folder, "student001") == (0.0, True)

    (home / "assignment.yaml").write_text(text.replace('"2 points: reduces to P', '"1 point: reduces to P'))
    after = spec.load(home)
    assert after.question("proof").rubric[0].id == proof.rubric[0].id
    (change,) = store.rubric_changes(after.question("proof"))
    assert "worth 2 points when grading started, 1 now; the 1 student given it is re-scored" in change
    merge(after, folder)
    assert _manual(folder, "student000") == (4.0, True)
    page = create_app(Review(after, folder), "t").test_client().get("/t/q/proof/0").get_data(as_text=True)
    assert "Rubric changed: reduces to P&#39;" in page and "is re-scored" in page
    assert validate(after) == [f"{home / 'assignment.yaml'}: questions[7].rubric: its items give 9 points but the "
                               "question has 10"]  # grader validate says the rubric no longer adds up


def _manual(folder: Path, student: str) -> tuple[float, bool]:
    question = next(q for q in json.loads((folder / f"{student}.json").read_text())["questions"] if q["id"] == "proof")
    return question["earned"], question["graded"]


# ---------------------------------------------------------------------------- merging

def test_merging_twice_gives_the_same_gradebook_and_feedback(tmp_path, folder, assignment):
    store = Store(folder)
    items = assignment.question("proof").rubric
    for item in items[:3]:
        store.set_mark("student004", "proof", item.id, True, by="ta1")
    store.set_comment("student004", "proof", "<b>good</b>, but see (11)", by="ta2")
    store.set_graded("student005", "proof")

    first = merge(assignment, folder)
    assert (first.graded, first.pending, first.students) == (2, 9, 11)
    assert first.written == 2 * 2 + 1  # the two students' results and pages, and the gradebook
    book = (folder / "gradebook.csv").read_bytes()
    pages = {p.name: p.read_bytes() for p in folder.glob("*.html")}
    second = merge(assignment, folder)
    assert second.written == 0 and (folder / "gradebook.csv").read_bytes() == book
    assert {p.name: p.read_bytes() for p in folder.glob("*.html")} == pages

    rows = {row["student"]: row for row in csv.DictReader(book.decode().splitlines())}
    result = read_grades(folder).results["student004"]
    assert rows["student004"]["proof"] == "8" and rows["student004"]["status"] == "graded"
    assert float(rows["student004"]["uncapped_score"]) == result.autograded_score + 8
    assert rows["student005"]["proof"] == "0" and rows["student006"]["proof"] == ""
    assert rows["student006"]["status"] == "manual grading pending"
    page = pages["student004.html"].decode()
    assert "&lt;b&gt;good&lt;/b&gt;, but see (11)" in page and "<b>good</b>" not in page
    assert page.count('class="given"') == 3 and "# my proof</span>" in page  # the code the result keeps
    gradescope = {t["name"]: t for t in to_gradescope(result)["tests"]}
    graded = gradescope["proof: The convergence proof, written out (graded by a TA)"]
    assert (graded["score"], graded["max_score"]) == (8, 10) and "<b>good</b>, but see (11)" in graded["output"]
    assert to_gradescope(result)["score"] == result.capped_score == float(rows["student004"]["score"])


# ---------------------------------------------------------------------------- the app, over HTTP

@pytest.fixture
def server(folder, assignment):
    review = Review(assignment, folder)
    httpd = serve(create_app(review, "secret-token"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", review
    httpd.shutdown()
    httpd.server_close()


def _request(url: str, data: dict | None = None, headers: dict | None = None):
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, ""


def test_the_token_guards_every_path_and_pages_are_locked_down(server):
    url, review = server
    for path in ("/", "/q/proof/0", "/wrong-token/q/proof/0", "/secret-token-x/", "/static/review.js",
                 "/secret-tokenq/proof/0"):
        assert _request(url + path)[0] == 403, path
    assert _request(url + "/secret-token/q/proof/0", headers={"Host": "evil.example"})[0] == 403  # DNS rebinding
    status, headers, html = _request(url + "/secret-token/q/proof/0")
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["Referrer-Policy"] == "no-referrer"
    assert "student0" not in html and "Student 1" in html  # anonymous by default
    number = review.students["proof"].index("<img src=x onerror=alert(9)>")
    html = _request(f"{url}/secret-token/q/proof/{number}")[2]
    assert "<script>" not in html and "<img src=x" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\x1b" not in html and HOSTILE not in html
    named = _request(f"{url}/secret-token/q/proof/{number}?names=1")[2]
    assert "&lt;img src=x onerror=alert(9)&gt;" in named
    for bad in ({"question": "mp_neuron", "student": 0}, {"question": "proof", "student": 999, "item": "x"},
                {"question": "proof", "student": 0, "item": "not-an-item", "given": True}, [1, 2]):
        assert _request(f"{url}/secret-token/api/mark", bad)[0] == 400


def test_two_clients_at_once_keep_each_others_marks(server, assignment):
    url, review = server
    items = [item.id for item in assignment.question("proof").rubric]
    total = len(review.students["proof"])

    def client(item: str) -> None:
        for number in range(total):
            status, _, body = _request(f"{url}/secret-token/api/mark",
                                       {"question": "proof", "student": number, "item": item, "given": True})
            assert status == 200 and item in json.loads(body)["given"]

    threads = [threading.Thread(target=client, args=(item,)) for item in items[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    grades = review.store.grades("proof")
    assert len(grades) == total and all(g.given == set(items[:2]) for g in grades.values())
    last = json.loads(_request(f"{url}/secret-token/api/graded", {"question": "proof", "student": 0})[2])
    assert last["progress"] == f"{total} of {total} graded" and last["score"] == 5


# ---------------------------------------------------------------------------- the command line

def test_review_export_from_the_command_line(folder, assignment, capsys):
    Store(folder).set_mark("student000", "proof", assignment.question("proof").rubric[1].id, True)
    assert cli.main(["review", "perceptron", str(folder), "--export"]) == 0
    assert "published 1 graded answers of 11 graded students (10 still pending)" in " ".join(
        capsys.readouterr().out.split())
    assert _manual(folder, "student000") == (3.0, True)
    assert cli.main(["review", "perceptron", str(folder / "nope"), "--export"]) == 2
    assert "nope: no such grades folder" in capsys.readouterr().err
    assert cli.main(["review", "backprop", str(folder), "--export"]) == 2  # the folder holds another assignment's
    assert "holds grades of perceptron, not backprop" in " ".join(capsys.readouterr().err.split())


def test_review_serves_on_loopback_with_the_token_printed_once(folder, capsys):
    assert cli.main(["review", "optimizers", str(folder)]) == 2
    assert "holds grades of perceptron, not optimizers" in " ".join(capsys.readouterr().err.split())
    command = [sys.executable, "-m", "grader", "review", "perceptron", str(folder)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:[0-9]+/[A-Za-z0-9_-]{20,}/", line).group(0)
        status, _, html = _request(url)
        assert status == 200 and "Student 1" in html
        assert _request(url.rsplit("/", 2)[0] + "/")[0] == 403
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0 and "stopped; the grades are in" in output and url not in output  # printed once


# ---------------------------------------------------------------------------- what the page shows

MATH_ANSWER = ("**Claim.** The margin grows: $w_{t+1} \\cdot w^* \\ge w_t \\cdot w^* + \\delta$, so\n\n"
               "$$\\|w_T\\| \\le \\sqrt{T} R$$\n\n<script>alert(1)</script> [x](javascript:alert(3)) "
               "![a](http://e.vil/a.png) $\\text{<b>x</b>}$ and $\\href{javascript:alert(4)}{y}$ cost $5 and $6")


def _set_answers(folder: Path, answers: dict[str, str], keep_code: bool = True) -> None:
    """Give the named students these answers to `proof`, as their results were recorded by grading."""
    from grader.store import GradesFolder
    with GradesFolder.writing(folder, "grade") as store:
        for student, answer in answers.items():
            entry = store.entry(student)
            entry.result.question("proof").answer = answer
            entry.result.code = entry.result.code if keep_code else []
            store.record(student, entry.original, entry.source, entry.result, entry.provenance or {})


def test_answers_render_markdown_and_math_as_inert_html(folder, assignment):
    from grader.reports.answer_text import answer_html
    html = str(answer_html(MATH_ANSWER))
    assert "<strong>Claim.</strong>" in html and html.count("<math ") == 2 and '<math xmlns' in html
    assert '<msqrt><mrow><mi>T</mi></mrow></msqrt>' in html and 'display="block"' in html
    assert "<script" not in html and "&lt;script&gt;" in html and "javascript:" not in html.replace(
        "[x](javascript:alert(3))", "").replace("$\\href{javascript:alert(4)}{y}$", "")
    assert "<b>" not in html and "$\\text{&lt;b&gt;x&lt;/b&gt;}$" in html  # MathML outside the allowlist: text
    assert "<img" not in html and "http://e.vil" not in html and "cost $5 and $6" in html
    assert "`$x$`" not in html and "<code>$x$</code>" in str(answer_html("`$x$`"))  # code stays code


def test_a_wrong_assignment_or_an_old_grades_folder_stops_the_app_at_start(folder, capsys):
    assert cli.main(["review", "backprop", str(folder)]) == 2
    assert "holds grades of perceptron, not backprop (give perceptron as the assignment)" in " ".join(
        capsys.readouterr().err.split())


def test_no_answer_links_to_the_code_and_points_for_an_empty_answer_warn(folder, assignment):
    placeholder = "*Your answer here.*"
    _set_answers(folder, {"student000": MATH_ANSWER, "student001": "", "student003": placeholder})
    _set_answers(folder, {"student004": ""}, keep_code=False)
    review = Review(assignment, folder)
    client = create_app(review, "t").test_client()
    number = {student: review.students["proof"].index(student) for student in ("student000", "student001",
                                                                                "student003", "student004")}
    page = client.get(f"/t/q/proof/{number['student000']}", headers={"Host": "127.0.0.1"}).text
    assert '<div class="answer rendered" id="answer"><p><strong>Claim.</strong>' in page and "<math " in page
    assert "<summary>As typed</summary>" in page

    empty = client.get(f"/t/q/proof/{number['student001']}", headers={"Host": "127.0.0.1"}).text
    assert "No answer found" in empty and f'href="/t/q/proof/{number["student001"]}/code" id="open-code"' in empty
    code = client.get(f"/t/q/proof/{number['student001']}/code", headers={"Host": "127.0.0.1"})
    assert code.status_code == 200 and "my proof" in code.text and "<script" not in code.text
    assert "student001" not in code.text  # still anonymous
    assert "The result keeps no code" in client.get(f"/t/q/proof/{number['student004']}",
                                                    headers={"Host": "127.0.0.1"}).text
    missing = client.get("/t/q/nope/0", headers={"Host": "127.0.0.1"})
    assert missing.status_code == 404 and "The questions: /t/q/proof/0" in missing.text

    item = assignment.question("proof").rubric[0].id
    for student, warned in (("student001", True), ("student003", True), ("student000", False)):
        state = client.post("/t/api/mark", json={"question": "proof", "student": number[student], "item": item,
                                                 "given": True}, headers={"Host": "127.0.0.1"}).json
        assert state["empty_given"] is warned and state["score"] > 0, student
        page = client.get(f"/t/q/proof/{number[student]}", headers={"Host": "127.0.0.1"}).text
        assert ('<p class="warning" id="empty-given">' in page) is warned
    assert "the starter's placeholder text" in client.get(f"/t/q/proof/{number['student003']}",
                                                          headers={"Host": "127.0.0.1"}).text
