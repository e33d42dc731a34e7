"""Student text is data in every report: cleaned once in the result, escaped by each renderer.

Every renderer gets hostile text in messages, outputs, timings, load errors, warnings and the
submission's name: HTML, Markdown after a blank line, ANSI CSI and OSC sequences, NUL, DEL, C1
controls, lone surrogates, bidi overrides, rich markup, and a megabyte of it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import unicodedata
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser

import pytest
from rich.console import Console

from grader import results  # not `from grader.results import TestResult`: pytest would try to collect it
from grader.notebook import Cell
from grader.reports import terminal
from grader.reports.feedback import to_feedback_html
from grader.reports.gradebook import Row, write_gradebook
from grader.reports.gradescope import to_gradescope
from grader.reports.junit import to_junit

# Each piece on a line of its own, and what clean_text makes of it.
PIECES = {
    "<script>alert(1)</script>": "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>": "<img src=x onerror=alert(1)>",
    "</pre></td><b>escaped the cell</b>": "</pre></td><b>escaped the cell</b>",
    "": "",  # a blank line ends a raw HTML block in Markdown
    "[link](http://evil.example)": "[link](http://evil.example)",
    "# heading": "# heading",
    "![img](http://evil.example/x.png)": "![img](http://evil.example/x.png)",
    "\x1b[2J\x1b[H": "\\x1b[2J\\x1b[H",
    "\r\x1b[2K✓ all tests passed": "\\x0d\\x1b[2K✓ all tests passed",
    "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\": "\\x1b]8;;http://evil.example\\x1b\\click\\x1b]8;;\\x1b\\",
    "\x1b]52;c;cm0gLXJmIH4K\x07": "\\x1b]52;c;cm0gLXJmIH4K\\x07",
    "nul\x00 del\x7f csi\x9b31m": "nul\\x00 del\\x7f csi\\x9b31m",
    "lone \ud800 surrogate": "lone \ufffd surrogate",
    "access = \u202e\u2066 // admin\u2069 \u2066": "access = \\u202e\\u2066 // admin\\u2069 \\u2066",
    "[bold red]forged[/bold red] [link=http://evil.example]x[/link]":
        "[bold red]forged[/bold red] [link=http://evil.example]x[/link]",
}
HOSTILE = "\n".join(PIECES)
CLEAN = "\n".join(PIECES.values())
NAME = "[link=http://evil.example]a[/link]\x1b[2J<b>=1+1.py"
CLEAN_NAME = "[link=http://evil.example]a[/link]\\x1b[2J<b>=1+1.py"
RAW = ("\x00", "\x07", "\x1b", "\x7f", "\x9b", "\r", "\ud800", "\u202e", "\u2066", "\u2069")


def hostile_result(text: str = HOSTILE, name: str = NAME) -> results.GradeResult:
    """A result whose every student-controlled string is `text` (and whose submission is `name`)."""
    tests = [
        results.TestResult(name="public/test_a.py::test_passes", question="q", points=1, earned=1, status="passed",
                           visibility="public", output=text, timing=text),
        results.TestResult(name="public/test_a.py::test_fails", question="q", points=2, earned=0, status="failed",
                           visibility="public", message=text, output=text),
        results.TestResult(name="hidden/test_b.py::test_errors", question="q", points=2, earned=0, status="error",
                           visibility="hidden", message=text),
    ]
    questions = [results.QuestionResult(id="q", title="Question", possible=5, earned=1)]
    return results.GradeResult(assignment="backprop", assignment_version="1.0.0", toolkit_version="0.1.0",
                               submission=name, submission_sha256="ab" * 32, isolation="bubblewrap", tests=tests,
                               questions=questions, warnings=[text], load_errors=[text], execution_time=1.0)


def has_no_raw_controls(text: str) -> bool:
    """Whether none of the raw control, surrogate or bidi characters of the hostile text is left in `text`."""
    return not any(ch in text for ch in RAW)


# ---------------------------------------------------------------------------- the cleaning function

@pytest.mark.parametrize("raw, clean", PIECES.items())
def test_clean_text_exact_replacements(raw, clean):
    assert results.clean_text(raw) == clean


def test_clean_text_keeps_newline_tab_and_ordinary_text():
    text = "a\tb\nc é 中文 🙂 \u200e\u200f \\x1b"
    assert results.clean_text(text) == text


def test_clean_text_over_every_code_point_is_complete_and_idempotent():
    every = "".join(map(chr, range(0x110000)))
    clean = results.clean_text(every)
    assert results.clean_text(clean) == clean
    left = {ch for ch in clean if unicodedata.category(ch) in ("Cc", "Cs")} | {ch for ch in clean if ch in RAW}
    assert left == {"\t", "\n"}
    assert results.clean_text("\x00\x1f\x7f\x80\x9f\u202a\u202e\u2066\u2069\udfff") == \
        "\\x00\\x1f\\x7f\\x80\\x9f\\u202a\\u202e\\u2066\\u2069\ufffd"


def test_result_is_cleaned_when_built_and_when_read_back():
    result = hostile_result()
    assert result.submission == CLEAN_NAME and result.warnings == [CLEAN] and result.load_errors == [CLEAN]
    assert all(t.message in ("", CLEAN) and t.output in ("", CLEAN) and t.timing in ("", CLEAN) for t in result.tests)
    assert results.GradeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    data = json.loads(json.dumps(result.to_dict()))
    data["tests"][1]["message"] = json.loads('"\\u001b[2J \\ud800"')  # what a forged or old results file could hold
    assert results.GradeResult.from_dict(data).tests[1].message == "\\x1b[2J \ufffd"


# ---------------------------------------------------------------------------- terminal

def render(result: results.GradeResult, **console_options) -> str:
    """The terminal report, outputs shown, as a console with `console_options` writes it."""
    buffer = io.StringIO()
    terminal.render(result, Console(file=buffer, width=400, **console_options), show_output=True)
    return buffer.getvalue()


def test_terminal_shows_student_text_as_plain_text():
    text = render(hostile_result(), force_terminal=False, color_system=None)
    assert "\x1b" not in text and has_no_raw_controls(text)
    for clean in PIECES.values():
        assert clean in text  # markup shown as typed, controls as escapes
    assert CLEAN_NAME in text  # the table's title


def test_terminal_styles_are_the_only_escape_sequences():
    text = render(hostile_result(), force_terminal=True, color_system="truecolor")
    assert "\x1b[" in text  # rich's own colours
    assert has_no_raw_controls(re.sub(r"\x1b\[[0-9;]*m", "", text))  # and nothing else: no OSC, no cursor moves
    assert "[bold red]forged[/bold red] [link=http://evil.example]x[/link]" in text


# ---------------------------------------------------------------------------- feedback HTML

class Page(HTMLParser):
    """Every tag and attribute of a page, and the text inside each <pre>, <h3> and <title>."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.texts, self._open = set(), set(), {"pre": [], "h3": [], "title": []}, []
        self.hrefs = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}
        self.hrefs += [value for name, value in attrs if name == "href"]
        if tag in self.texts:
            self._open.append(tag)
            self.texts[tag].append("")

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self.texts[self._open[-1]][-1] += data


OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "main", "section", "footer", "h1", "h2", "h3",
            "p", "b", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "pre", "details",
            "summary", "figure", "img", "figcaption"}
OUR_ATTRIBUTES = {"charset", "http-equiv", "content", "name", "lang", "class", "id", "href", "style", "scope", "role",
                  "aria-label", "aria-hidden", "aria-labelledby"}


def test_feedback_page_holds_only_our_tags_and_the_student_text_verbatim():
    page = to_feedback_html(hostile_result(), [Cell(label=f"{NAME} cell 1", source=f"x = 1\n\n{HOSTILE}\n")])
    parsed = Page(page)
    assert parsed.tags <= OUR_TAGS
    assert parsed.attributes <= OUR_ATTRIBUTES
    assert all(href.startswith("#") for href in parsed.hrefs)  # in-page anchors only
    assert has_no_raw_controls(page)
    page.encode("utf-8")  # no lone surrogate left, not even in the code
    for dangerous in ("<script", "<img", "</pre></td><b>", "javascript:"):
        assert dangerous not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;/pre&gt;&lt;/td&gt;&lt;b&gt;" in page
    # two outputs, two messages, the load error and the warning, each whole in a <pre> of its own
    assert parsed.texts["pre"].count(CLEAN) == 6
    assert f"Measured: {CLEAN}</span>" in unescape(page)  # the timing, as text
    assert f"{CLEAN_NAME} cell 1" in parsed.texts["h3"] and parsed.texts["title"] == [f"backprop: {CLEAN_NAME}"]
    code = re.sub(r"(?m)^[0-9]+", "", parsed.texts["pre"][-1])  # the line numbers
    as_python_reads_it = results.clean_text(HOSTILE.replace("\r", "\n"))  # a lone CR ends a line for Python
    assert code.strip() == f"x = 1\n\n{as_python_reads_it}"  # highlighted, escaped and cleaned, never run


def test_feedback_page_fetches_nothing_and_runs_nothing():
    page = to_feedback_html(hostile_result("hello"), [Cell(label="cell 1", source="print('hi')")])
    for fetching in ("<script", "<link", "<iframe", "src=", "url(", "@import"):
        assert fetching not in page
    assert all(href.startswith("#") for href in Page(page).hrefs)  # links within the page only
    assert "default-src 'none'" in page  # and should anything slip through, the browser refuses it


# ---------------------------------------------------------------------------- JUnit

def test_junit_holds_the_student_text_exactly():
    xml = to_junit(hostile_result())
    assert b"<script" not in xml and b"\x1b" not in xml
    root = ET.fromstring(xml)
    assert root.get("name") == f"backprop:{CLEAN_NAME}"
    failure = root.find(".//testcase/failure")
    assert failure.text == CLEAN and failure.get("message") == "<script>alert(1)</script>"
    assert root.find(".//testcase/error").text == CLEAN
    assert [out.text for out in root.iter("system-out")] == [CLEAN, CLEAN]


def test_junit_replaces_what_xml_cannot_hold_anywhere():
    result = hostile_result(name="sub\ufffe\uffff.py")
    result.tests[1].output = "late \x1b write"  # set after the result was built: only the XML pass sees it
    root = ET.fromstring(to_junit(result))
    assert root.get("name") == "backprop:sub\ufffd\ufffd.py"
    assert root.find(".//testcase[@name='public/test_a.py::test_fails']/system-out").text == "late \ufffd write"


# ---------------------------------------------------------------------------- Gradescope

def test_gradescope_declares_plain_text_and_holds_the_student_text_exactly():
    document = to_gradescope(hostile_result())
    assert (document["output_format"], document["test_output_format"], document["test_name_format"]) == \
        ("text", "text", "text")
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # no lone surrogate left
    assert has_no_raw_controls(json.dumps(document, ensure_ascii=False))
    outputs = [test["output"] for test in document["tests"]]
    assert outputs == [f"Timing: {CLEAN}\nOutput:\n{CLEAN}", f"{CLEAN}\nOutput:\n{CLEAN}", CLEAN]
    assert document["output"] == (f"Score 1 of 5: the tests earned 1 of 5 points.\nWhile loading: {CLEAN}\n"
                                  f"Isolation: bubblewrap.\n{CLEAN}")


# ---------------------------------------------------------------------------- gradebook CSV

def test_gradebook_neutralises_formulas_and_controls_in_student_names(tmp_path):
    names = ['=HYPERLINK("http://evil.example","x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "a\x1bb", "plain",
             "o'brien"]
    path = tmp_path / "gradebook.csv"
    _gradebook([Row(name, "graded", "", hostile_result()) for name in names], path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    students = {row[0] for row in rows[1:]}
    assert students == {"'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx",
                        "\\x0dx", "a\\x1bb", "plain", "o'brien"}
    assert all(row[1:3] == ["1", "5"] for row in rows[1:])  # our numbers stay numbers


def test_gradebook_writes_negative_numbers_as_numbers(tmp_path):
    result = hostile_result()
    result.tests[0].earned = -1  # a penalty
    result.questions[0].earned = -1
    path = tmp_path / "gradebook.csv"
    _gradebook([Row("jane", "graded", "", result)], path)
    with open(path, newline="", encoding="utf-8") as handle:
        row = list(csv.reader(handle))[1]
    assert row[:4] == ["jane", "-1", "5", "-1"]


# ---------------------------------------------------------------------------- a megabyte

def test_a_megabyte_of_hostile_text_renders_everywhere_in_reasonable_time(tmp_path):
    text = (HOSTILE + "\n") * (2**20 // len(HOSTILE))
    started = time.monotonic()
    data = hostile_result().to_dict()
    data["tests"][1]["output"] = text
    result = results.GradeResult.from_dict(data)
    assert has_no_raw_controls(result.tests[1].output) and len(result.tests[1].output) > 2**20
    rendered = render(result, force_terminal=False, color_system=None)
    assert "\x1b" not in rendered and rendered.count("# heading") > text.count("# heading")  # all of it, shown
    page = to_feedback_html(result, [Cell(label="cell 1", source=HOSTILE)])
    assert "<script" not in page and "<img" not in page
    ET.fromstring(to_junit(result))
    json.dumps(to_gradescope(result))
    _gradebook([Row("jane", "graded", "", result)], tmp_path / "gradebook.csv")
    assert time.monotonic() - started < 20  # a many-line Text in a table cell took rich over 30 s (quadratic)


def _gradebook(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as out:
        write_gradebook(rows, out)
