"""grader report: the class report of a generated class, parsed as HTML (the browser test is in test_course_browser.py)."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

from classes import make_class

from grader import cli
from grader.course.class_report import _group
from grader.store import GradesFolder


class _Page(HTMLParser):
    """Tags, image sources and the text of the page."""

    def __init__(self, html: str):
        super().__init__()
        self.tags, self.images, self.text = [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_the_class_report_of_a_class(tmp_path, capsys):
    folder = tmp_path / "grades"
    made = make_class(folder, 40)
    hostile = "<img src=x onerror=alert(9)>"
    refused = made[hostile]
    refused.problem = "the submission uses forbidden APIs, so it was not run:\ncell 3, line 1: uses torch"
    refused.standing = "refused: uses a forbidden package (cell 3, line 1: uses torch)"
    with GradesFolder.writing(folder, "grade") as store:
        store.record(hostile, hostile, "class/x.ipynb", refused, {})
        store.mark("student007", "stale", "the hidden tests changed: to be graded again")
    edited = folder / "student001.json"
    edited.write_text("{not json")  # a view edited by hand is rendered again, never read
    (folder / "intruder.json").write_text(edited.read_text())  # a result the store did not write is not trusted

    assert cli.main(["report", str(folder)]) == 0
    assert "38 graded, 2 not graded, mean score" in capsys.readouterr().out
    assert json.loads(edited.read_text())["submission"] == "student001.ipynb"
    html = (folder / "_class-report.html").read_text()
    page = _Page(html)
    text = "".join(page.text)
    assert "script" not in page.tags and "link" not in page.tags
    assert "default-src 'none'" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert len(page.images) == 2
    for src in page.images:
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"))[:4] == b"\x89PNG"
    assert "38 of 40 students graded" in " ".join(text.split()) and "1 whose code did not run" in text
    for student, why in [("late", "grading failed: Traceback ...\nRuntimeError: the grader ran out of memory"),
                         ("student007", "stale: the hidden tests changed: to be graded again"),
                         (hostile, "refused: uses a forbidden package (cell 3, line 1: uses torch)")]:
        assert re.search(re.escape(student) + r"\s*" + re.escape(why), text), student
    assert "37 with manual grading pending" in text
    assert "<img src=x onerror" not in html and page.tags.count("img") == 2  # the name is text
    hardest = made["student000"].tests[1].name.split("::")[0]
    assert "hidden/test_" in hardest and "Tests most often failed" in text
    assert re.search(r"\d+×\s*\S+: expected \d, got [0-9.]+ at index 1", text)  # one example per group
    assert "Grading took" in text and "s of grader time in all" in text


def test_messages_that_differ_only_in_numbers_group_together():
    assert _group("expected 3, got 0.125 at index (0, 2)\nmore") == _group("expected 7, got -1e-05 at index (1, 0)")
    assert _group("expected 3, got 0.125") != _group("shape (2, 3) instead of (3, 2)")
    assert _group("") == "(no message)"
