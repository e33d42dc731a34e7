"""The feedback page: the grade as the student reads it, failing tests first, cited lines of code linked.

Three results are built by hand: full marks (a notebook), partly wrong (a module, a forbidden import, a
traceback, a cap and a pending manual question) and hostile (student text made of HTML, a script,
Markdown after a blank line, javascript: URLs, citations of lines that exist and lines that do not).
The page is parsed here with html.parser, then rendered in headless Chromium (through Playwright) and
checked in the DOM; screenshots go to a temporary folder (and to $FEEDBACK_SCREENSHOTS when set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader import results  # not `from grader.results import TestResult`: pytest would try to collect it
from grader.notebook import Cell
from grader.reports.feedback import to_feedback_html

ROOT = Path(__file__).resolve().parent.parent
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="  # 1x1
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def make_test(name, question, points, earned, status="passed", visibility="public", **extra) -> results.TestResult:
    return results.TestResult(name=name, question=question, points=points, earned=earned, status=status,
                              visibility=visibility, **extra)


def grade_result(tests, questions, **extra) -> results.GradeResult:
    values = dict(assignment="backprop", assignment_version="1.0.0", toolkit_version="0.1.0",
                  submission="jane.ipynb", submission_sha256="ab" * 32, isolation="bubblewrap", tests=tests,
                  questions=questions, execution_time=2.5)
    return results.GradeResult(**{**values, **extra})


# ---------------------------------------------------------------------------- the three results

def full_marks():
    cells = [Cell("cell 1", "import numpy as np\n"),
             Cell("cell 3", "def sigmoid(a):\n    return 1.0 / (1.0 + np.exp(-a))\n")]
    tests = [make_test("public/test_public.py::test_sigmoid", "activations", 2, 2, duration=0.02),
             make_test("hidden/test_activations.py::test_sigmoid_matches_torch", "activations", 3, 3, visibility="hidden",
                  output="loss 0.25\nloss 0.125\n", figures=[{"title": "sigmoid, drawn", "png": PNG}]),
             make_test("hidden/test_speed.py::test_vectorised", "speed", 1, 1, visibility="hidden",
                  timing="0.83x the reference's time (budget 5x) on cpu")]
    questions = [results.QuestionResult("activations", "Sigmoid and its derivative", 5, 5),
                 results.QuestionResult("speed", "A vectorised forward pass", 1, 1),
                 results.QuestionResult("why", "Why the max trick?", 4, 0, manual=True, rubric=["2 points: overflow"])]
    return grade_result(tests, questions), cells


PARTLY_SOURCE = """import numpy as np
import torch

def softmax(a):
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)

def relu_grad(a):
    return (a >= 0).astype(float)

def train(X, y):
    raise NotImplementedError("ran out of time")

print(W1.shape)
"""


def partly_wrong():
    cells = [Cell("backprop.py", PARTLY_SOURCE)]
    traceback = ('your code raised an exception: calling train() raised:\n'
                 '  File "backprop.py", line 12, in train\n    raise NotImplementedError("ran out of time")\n'
                 'NotImplementedError: ran out of time\n')
    tests = [make_test("public/test_public.py::test_softmax_small", "softmax", 3, 3),
             make_test("hidden/test_outputs.py::test_softmax_large_logits", "softmax", 2, 0, "failed", "hidden",
                  message="softmax of logits around 1000: 2 of 4 elements are not finite",
                  output="backprop.py:5: RuntimeWarning: overflow encountered in exp\n  e = np.exp(a)\n"),
             make_test("public/test_public.py::test_relu_grad", "activations", 1, 1),
             make_test("hidden/test_activations.py::test_relu_at_zero", "activations", 1, 0, "failed", "hidden",
                  message="relu_grad: 9 of 20 elements differ; first at index (0, 0): expected 0, got 1"),
             make_test("public/test_public.py::test_xor", "training", 4, 0, "error", message=traceback, duration=0.05),
             make_test("hidden/test_training.py::test_digits", "training", 6, 0, "failed", "hidden", message=traceback)]
    questions = [results.QuestionResult("softmax", "A numerically stable softmax", 5, 3),
                 results.QuestionResult("activations", "ReLU", 2, 1),
                 results.QuestionResult("training", "Training on XOR", 10, 0),
                 results.QuestionResult("why", "Why the max trick?", 4, 0, manual=True)]
    result = grade_result(tests, questions, submission="backprop.py", score_cap=20,
                          load_errors=['backprop.py:   File "backprop.py", line 14, in <module>\n    print(W1.shape)\n'
                                       "NameError: name 'W1' is not defined\n"],
                          warnings=["bubblewrap is missing: the sandbox is weaker (resource limits only)",
                                    "backprop.py, line 2: uses torch (advisory: not enforced, but the course asks "
                                    "you not to)"])
    return result, cells


HOSTILE = ('<script>alert(1)</script> <img src=x onerror=alert(1)> </pre></td><b>escaped</b>\n'
           '\n'
           '[click me](javascript:alert(1)) <a href="javascript:alert(2)">link</a> ![x](http://evil.example/x.png)\n'
           '# heading\n'
           '<style>body{background:url(http://evil.example/t)}</style>\x1b[2J\u202e')


def hostile():
    source = f"x = 1\ns = '''{HOSTILE}'''\nraise ValueError(s)\n"
    cells = [Cell("cell 2", source), Cell("cell 5", "y = 2\n"), Cell(f"cell 7 {HOSTILE}", "z = 3\n")]
    message = (f'ValueError raised:\n  File "<cell 2>", line 5, in <module>\n{HOSTILE}\n'
               f'  File "<cell 5>", line 99, in <module>\n'  # a line that does not exist: no link
               f'  File "cell 5", line 1\n')  # neither <cell 5> nor a .py name: no link
    figures = [{"title": f"fig {HOSTILE}", "png": PNG}, {"title": "bad", "png": '"><script>alert(3)</script>'},
               {"title": "not base64", "png": "javascript:alert(4)"}]
    tests = [make_test(f"public/test_x.py::test_hostile[{HOSTILE}]", "q", 2, 0, "failed", message=message,
                  output=HOSTILE, timing=HOSTILE, figures=figures),
             make_test("hidden/test_y.py::test_passes", "q", 1, 1, visibility="hidden", output=HOSTILE),
             make_test("hidden/test_y.py::test_orphan", "gone", 1, 0, "error", visibility="hidden", message=HOSTILE)]
    questions = [results.QuestionResult("q", f"Question {HOSTILE}", 3, 1,
                                        manual=False, rubric=[HOSTILE])]
    result = grade_result(tests, questions, submission=f"{HOSTILE}.ipynb",
                          load_errors=[f"cell 2: SyntaxError at line 2: {HOSTILE}"], warnings=[HOSTILE])
    return result, cells


PAGES = {"full_marks": full_marks, "partly_wrong": partly_wrong, "hostile": hostile}
EXPECTED = {  # the score line, the tests that lost points, the cited lines
    "full_marks": ("Score: 6 / 10", set(), set()),
    "partly_wrong": ("Score: 4 / 20", {"hidden/test_outputs.py::test_softmax_large_logits",
                                      "hidden/test_activations.py::test_relu_at_zero", "public/test_public.py::test_xor",
                                      "hidden/test_training.py::test_digits"}, {"file-1-line-2", "file-1-line-12",
                                                                          "file-1-line-14"}),
    "hostile": ("Score: 1 / 3", {f"public/test_x.py::test_hostile[{results.clean_text(HOSTILE)}]",
                                 "hidden/test_y.py::test_orphan"}, {"cell-2-line-5", "cell-2-line-2"}),
}


# ---------------------------------------------------------------------------- the page as HTML

VOID = {"meta", "img", "br", "hr", "link", "input", "source"}
OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "main", "section", "footer", "h1", "h2",
            "h3", "p", "b", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "pre",
            "details", "summary", "figure", "img", "figcaption"}
OUR_ATTRIBUTES = {"charset", "http-equiv", "content", "name", "lang", "class", "id", "href", "src", "alt", "style",
                  "scope", "role", "aria-label", "aria-hidden", "aria-labelledby"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find(self, tag=None, cls=None) -> list["Node"]:
        return [n for n in self.walk() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)]


class Page(HTMLParser):
    """The page as a tree of nodes; fails on a tag closed out of order (student text that broke out)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = self.open = Node("#document", {}, None)
        self.feed(html)
        self.close()
        assert self.open is self.root, f"<{self.open.tag}> never closed"
        self.ids = {n.attrs["id"]: n for n in self.root.walk() if "id" in n.attrs}

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.open)
        self.open.children.append(node)
        if tag not in VOID:
            self.open = node

    def handle_startendtag(self, tag, attrs):
        self.open.children.append(Node(tag, attrs, self.open))

    def handle_endtag(self, tag):
        assert tag not in VOID and self.open.tag == tag, f"</{tag}> closes <{self.open.tag}>"
        self.open = self.open.parent

    def handle_data(self, data):
        self.open.children.append(data)


def render(kind: str) -> tuple[str, results.GradeResult, list[Cell]]:
    result, cells = PAGES[kind]()
    return to_feedback_html(result, cells), result, cells


@pytest.mark.parametrize("kind", PAGES)
def test_only_our_tags_and_attributes_and_nothing_that_fetches_or_runs(kind):
    html, _, _ = render(kind)
    page = Page(html)
    nodes = list(page.root.walk())
    assert {n.tag for n in nodes} <= OUR_TAGS
    assert {a for n in nodes for a in n.attrs} <= OUR_ATTRIBUTES
    assert [n.attrs["content"] for n in page.root.find("meta") if n.attrs.get("http-equiv")] == [CSP]
    for node in nodes:  # an address only where we put one: in-page anchors and data: images
        if "href" in node.attrs:
            assert node.tag == "a" and node.attrs["href"][1:] in page.ids  # in-page anchors only, none dangling
        if "src" in node.attrs:
            assert node.tag == "img"
            assert re.fullmatch(r"data:image/png;base64,[A-Za-z0-9+/]*={0,2}", node.attrs["src"])
        if "style" in node.attrs:
            assert re.fullmatch(r"width: [0-9.]+%", node.attrs["style"])
    (style,) = page.root.find("style")
    assert "url(" not in style.text and "@import" not in style.text and "</" not in style.text
    assert "<script" not in html and "<link" not in html and "<iframe" not in html


@pytest.mark.parametrize("kind", PAGES)
def test_score_failing_tests_first_and_cited_lines_linked(kind):
    html, result, cells = render(kind)
    page = Page(html)
    score, lost, cited = EXPECTED[kind]
    (header,) = page.root.find("p", "score")
    assert header.text == score
    rows = page.root.find("li", "test")
    assert len(rows) == len(result.tests)
    assert {r.find("span", "name")[0].text for r in rows if "lost" in r.classes} == lost
    assert all(("lost" in r.classes) == (r.classes & {"failed", "error"} != set()) for r in rows)
    for section in page.root.find("section", "question"):
        marks = ["lost" in r.classes for r in section.find("li", "test")]
        assert marks == sorted(marks, reverse=True)  # those that lost points first
    lines = page.root.find("span", "line")
    assert {line.attrs["id"] for line in lines if "cited" in line.classes} == cited
    links = {a.attrs["href"][1:] for a in page.root.find("a", "cite")}
    assert links == cited
    for cell, block in zip(cells, page.root.find("pre", "code")):  # every line, numbered, text unchanged
        numbered = block.find("span", "line")
        assert [n.find("span", "ln")[0].text for n in numbered] == [str(i) for i in range(1, len(numbered) + 1)]
        code = "".join(n.text[len(n.find("span", "ln")[0].text):] for n in numbered)
        assert code == results.clean_text(cell.source)


def test_full_marks_page_shows_pending_points_outputs_collapsed_figures_and_hidden_tests():
    html, result, _ = render("full_marks")
    page = Page(html)
    facts = page.root.find("ul", "facts")[0].text
    assert "6 / 6" in facts.replace("\xa0", " ") and "Pending manual grading: 4 points" in facts
    (details,) = page.root.find("details", "output")
    assert "open" not in details.attrs and details.find("pre")[0].text == "loss 0.25\nloss 0.125\n"
    (image,) = page.root.find("img")
    assert image.attrs == {"src": f"data:image/png;base64,{PNG}", "alt": "sigmoid, drawn"}
    hidden = [r for r in page.root.find("li", "test") if "hidden/" in r.find("span", "name")[0].text]
    assert len(hidden) == 2 and all("its code is not shown" in r.text for r in hidden)
    assert "0.83x the reference's time" in page.root.find("span", "measured")[0].text
    summary = {row.find("a")[0].text: row.classes for row in page.root.find("tr", "q")}
    assert summary == {"activations: Sigmoid and its derivative": {"q", "full"}, "speed: A vectorised forward pass":
                       {"q", "full"}, "why: Why the max trick?": {"q", "pending"}}
    assert not page.root.find("section", "notes")  # nothing went wrong while loading


def test_partly_wrong_page_has_the_cap_the_load_error_and_a_linked_traceback():
    html, result, _ = render("partly_wrong")
    page = Page(html)
    facts = page.root.find("ul", "facts")[0].text.replace("\xa0", " ")
    assert "4 / 17" in facts and "21 points; full marks at 20" in facts and "Pending manual grading: 4 points" in facts
    (notes,) = page.root.find("section", "notes")
    errors, warnings = notes.find("ul", "load-errors")[0], notes.find("ul", "warnings")[0]
    assert [a.text for a in errors.find("a", "cite")] == ['File "backprop.py", line 14']
    assert [a.text for a in warnings.find("a", "cite")] == ["backprop.py, line 2"]
    assert "bubblewrap is missing" in warnings.text
    xor = next(r for r in page.root.find("li", "test") if r.find("span", "name")[0].text.endswith("test_xor"))
    (link,) = xor.find("a", "cite")
    assert (link.text, link.attrs["href"]) == ('File "backprop.py", line 12', "#file-1-line-12")
    assert "NotImplementedError" in page.ids["file-1-line-12"].text
    assert xor.find("pre", "message")[0].text == result.tests[4].message  # the message whole, around the link
    statuses = {row.find("a")[0].text.split(":")[0]: row.classes - {"q"} for row in page.root.find("tr", "q")}
    assert statuses == {"softmax": {"partial"}, "activations": {"partial"}, "training": {"zero"}, "why": {"pending"}}
    widths = [row.find("span", "fill")[0].attrs["style"] for row in page.root.find("tr", "q")]
    assert widths == ["width: 60.0%", "width: 50.0%", "width: 0.0%", "width: 0.0%"]
    assert "Score: 4 / 20" in html  # the capped score, as the grade reads it


def test_hostile_text_is_text_and_never_markup_or_a_link():
    html, result, cells = render("hostile")
    page = Page(html)
    clean = results.clean_text(HOSTILE)
    assert "\x1b" not in html and "\u202e" not in html and "\\x1b[2J\\u202e" in html
    first = page.root.find("li", "test")[0]
    message = first.find("pre", "message")[0]
    assert message.text == result.tests[0].message and clean in message.text
    assert [a.text for a in message.find("a")] == ['File "<cell 2>", line 5']  # line 99 and "cell 5" stay text
    assert first.find("details", "output")[0].find("pre")[0].text == clean
    assert clean in first.find("span", "measured")[0].text
    assert [img.attrs["alt"] for img in page.root.find("img")] == [f"fig {clean}"]  # the two bad PNGs left out
    assert page.root.find("title")[0].text == f"backprop: {clean}.ipynb"
    assert page.root.find("h1")[0].text == f"{clean}.ipynb"
    assert [h.text for h in page.root.find("h3") if h.parent.attrs.get("class") == "cell"] == \
        ["cell 2", "cell 5", f"cell 7 {clean}"]
    assert page.ids["file-3"]  # a label that is not "cell N" gets an anchor of ours, never its own text
    assert page.root.find("section", "notes")[0].find("a", "cite")[0].attrs["href"] == "#cell-2-line-2"
    orphan = page.ids["q-other"]  # a test whose question the spec lacks is listed, not lost
    assert orphan.find("span", "name")[0].text == "hidden/test_y.py::test_orphan"
    text = page.root.text
    for markdown in ("[click me](javascript:alert(1))", "![x](http://evil.example/x.png)", "\n# heading\n"):
        assert markdown in text  # shown as typed
    assert len(page.root.find("h1")) == 1 and not page.root.find("script")
    assert not [b for b in page.root.find("b") if "escaped" in b.text]


def test_a_submission_that_could_not_be_graded_says_why_and_points_at_the_line():
    result, cells = partly_wrong()
    result.problem = ("the submission uses forbidden APIs, so it was not run:\n"
                      "backprop.py, line 2: uses torch, which this assignment forbids")
    page = Page(to_feedback_html(result, cells))
    (box,) = [n for n in page.root.walk() if "not-graded" in n.classes]
    assert [(a.text, a.attrs["href"]) for a in box.find("a", "cite")] == [("backprop.py, line 2", "#file-1-line-2")]
    assert "cited" in page.ids["file-1-line-2"].classes
    assert not page.root.find("section", "question") and not page.root.find("li", "test")  # no list of zeros


def test_check_speaks_of_public_tests_and_shows_what_was_printed_while_loading():
    result, cells = full_marks()
    result.public_only, result.load_output = True, "loading the data\n<b>done</b>\n"
    result.tests = [t for t in result.tests if t.visibility == "public"]
    page = Page(to_feedback_html(result, cells))
    assert page.root.find("p", "score")[0].text == "Public tests: 1 of 1 pass"
    assert "Only the public tests were run" in page.root.find("p", "notice")[0].text
    assert "Pending manual grading" not in page.root.text and "full marks at" not in page.root.text
    (printed,) = page.root.find("section", "notes")[0].find("details", "output")
    assert printed.find("pre")[0].text == "loading the data\n<b>done</b>\n" and "2 lines" in printed.text


def test_code_lines_are_numbered_as_python_counts_them():
    source = "a = 1\r\nb = (\r\n    2)\rc = '''\n\n'''\nraise ValueError(c)"  # CRLF, a lone CR, a multi-line string
    result = grade_result([make_test("public/t.py::t", "q", 1, 0, "failed",
                                message='File "m.py", line 4, in <module>\nFile "m.py", line 7, in <module>')],
                          [results.QuestionResult("q", "Q", 1, 0)])
    page = Page(to_feedback_html(result, [Cell("m.py", source)]))
    lines = page.root.find("span", "line")
    assert [line.attrs["id"] for line in lines] == [f"file-1-line-{n}" for n in range(1, 8)]
    assert lines[3].text == "4c = '''\n" and lines[6].text == "7raise ValueError(c)\n"
    assert {line.attrs["id"] for line in lines if "cited" in line.classes} == {"file-1-line-4", "file-1-line-7"}
    try:
        exec(compile(source, "m.py", "exec"), {})
    except ValueError as error:
        frame = error.__traceback__
        while frame.tb_next:
            frame = frame.tb_next
        assert frame.tb_lineno == 7  # Python counts the lone CR as a line end too


def test_an_empty_submission_and_a_result_from_json_render():
    result, _ = partly_wrong()
    again = results.GradeResult.from_dict(result.to_dict())
    page = Page(to_feedback_html(again, []))
    assert page.root.find("p", "score")[0].text == "Score: 4 / 20" and "No code to show." in page.root.text
    assert not page.root.find("a", "cite")  # nothing to cite without the code


def test_a_page_renders_fast_without_nbconvert(tmp_path):
    """The first page in a fresh process (what `grader grade` pays) and the next ones."""
    script = f"""
import sys, time, json
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_feedback_page import partly_wrong
from grader.reports.feedback import to_feedback_html
result, cells = partly_wrong()
cells = cells * 20  # 240 lines of code
start = time.perf_counter(); to_feedback_html(result, cells); first = time.perf_counter() - start
start = time.perf_counter(); to_feedback_html(result, cells); again = time.perf_counter() - start
print(json.dumps({{"first": first, "again": again, "nbconvert": "nbconvert" in sys.modules}}))
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    timings = json.loads(completed.stdout.splitlines()[-1])
    print(timings)
    assert not timings["nbconvert"] and completed.stderr == ""  # no lexer warning either
    assert timings["first"] < 2.0 and timings["again"] < 0.5  # about 0.35 s and 0.04 s when idle (nbconvert: 1.3 s)


# ---------------------------------------------------------------------------- the page in a browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FAIL, PASS, CITE = "rgb(179, 38, 30)", "rgb(30, 125, 52)", "rgb(255, 243, 176)"  # report.css's colours


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--headless", "--disable-background-networking"])
        except Exception as error:  # a Chromium that does not start here
            pytest.skip(f"Chromium does not start: {str(error).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.mark.parametrize("kind", PAGES)
def test_the_page_in_a_browser(browser, kind, tmp_path):
    html, result, _ = render(kind)
    score, lost, cited = EXPECTED[kind]
    path = tmp_path / f"{kind}.html"
    path.write_text(html, encoding="utf-8")
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=True)
    page = context.new_page()
    requests, console, dialogs = [], [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: console.append(message.text))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    text = page.evaluate("document.body.innerText")
    for ours in ("<h2", "<pre", "<li", "<span", "<details", "<section", "<td>", "&lt;", "&amp;", "&#"):
        assert ours not in text, ours  # our markup is markup, escaped once
    assert page.inner_text("p.score") == score
    assert page.evaluate("document.scripts.length") == 0 and dialogs == []  # nothing of the student's ran

    rows = page.query_selector_all("li.test")
    assert len(rows) == len(result.tests)
    for row in rows:
        name = row.query_selector("span.name").text_content()
        colour = row.evaluate("e => getComputedStyle(e).borderLeftColor")
        assert colour == (FAIL if name in lost else PASS), name
    for line in cited:
        assert page.eval_on_selector(f"#{line}", "e => getComputedStyle(e).backgroundColor") == CITE
    if cited:
        link = page.query_selector(f'a.cite[href="#{sorted(cited)[0]}"]')
        link.click()
        assert page.evaluate("location.hash") == f"#{sorted(cited)[0]}"
        assert page.evaluate("document.querySelector(':target').classList.contains('cited')")
    assert page.evaluate("[...document.querySelectorAll('details')].every(d => !d.open)")
    images = page.evaluate("[...document.images].map(i => [i.naturalWidth, i.src.slice(0, 22)])")
    assert all(image == [1, "data:image/png;base64,"] for image in images)

    for width in (360, 1100):  # a phone and a desktop: no horizontal scroll
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.body).maxWidth") == "none"
    assert page.pdf(path=str(tmp_path / f"{kind}.pdf"))[:4] == b"%PDF"
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 390, "height": 844})
    shot = tmp_path / f"{kind}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:4] == b"\x89PNG"
    if os.environ.get("FEEDBACK_SCREENSHOTS"):  # the pictures in docs/feedback/ come from here
        Path(os.environ["FEEDBACK_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["FEEDBACK_SCREENSHOTS"]) / shot.name)

    external = [url for url in requests if url != path.as_uri() and not url.startswith("data:")]
    assert external == [] and not [m for m in console if "Content Security Policy" in m]
    context.close()


def test_real_pages_full_marks_folded_and_a_broken_submission(browser, tmp_path):  # noqa: F811
    """The reference of backprop graded from the command line: its page is the summary, then each question's
    passed tests folded; a submission with a syntax error says so at the top."""
    import subprocess
    import sys

    from conftest import ROOT
    broken = tmp_path / "backprop.py"
    broken.write_text((ROOT / "solutions" / "backprop.py").read_text().replace("def softmax(a):", "def softmax(a)", 1))
    pages = {}
    for kind, source in (("full_marks_folded", ROOT / "solutions" / "backprop.py"), ("broken", broken)):
        pages[kind] = tmp_path / f"{kind}.html"
        done = subprocess.run([sys.executable, "-m", "grader", "grade", "backprop", str(source), "--feedback",
                               str(pages[kind]), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert pages[kind].is_file(), done.stderr
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.goto(pages["full_marks_folded"].as_uri())
    summary = page.locator("section.summary").bounding_box()
    assert summary["y"] < page.locator("section.question").first.bounding_box()["y"]
    tests = page.locator("li.test")
    assert tests.count() > 50 and all(not tests.nth(n).is_visible() for n in range(tests.count()))
    folds = page.locator("details.passed-tests")
    assert folds.count() == 9 and folds.first.locator("summary").inner_text().endswith("tests passed")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, height  # was over 8,000 px of passed-test cards
    folds.first.locator("summary").click()
    assert tests.first.is_visible()  # one click unfolds a question's tests, no script
    folds.first.locator("summary").click()
    _shoot(page, tmp_path / "full_marks_folded.png")

    page.goto(pages["broken"].as_uri())
    text = page.inner_text("body")
    assert "SyntaxError" in text and "backprop.py" in text
    _shoot(page, tmp_path / "broken.png")
    context.close()


def _shoot(page, shot: Path) -> None:
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:4] == b"\x89PNG"
    if os.environ.get("FEEDBACK_SCREENSHOTS"):  # the pictures in docs/feedback/ come from here
        Path(os.environ["FEEDBACK_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["FEEDBACK_SCREENSHOTS"]) / shot.name)
