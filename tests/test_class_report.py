"""grader report: the class report of a generated class, parsed as HTML (the browser test is in test_course_browser.py)."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

from classes import make_class
from grader import cli
from grader.course.class_report import _group


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
    broken = folder / "student007.json"
    broken.write_text("{not json")
    hostile = folder / "<img src=x onerror=alert(9)>.json"
    problem = json.loads(hostile.read_text())
    problem["problem"] = "the submission uses forbidden APIs, so it was not run:\ncell 3, line 1: uses torch"
    hostile.write_text(json.dumps(problem))

    assert cli.main(["report", str(folder)]) == 0
    assert "37 graded, 3 not graded, mean score" in capsys.readouterr().out
    html = (folder / "class-report.html").read_text()
    page = _Page(html)
    text = "".join(page.text)
    assert "script" not in page.tags and "link" not in page.tags
    assert "default-src 'none'" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert len(page.images) == 2
    for src in page.images:
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"))[:4] == b"\x89PNG"
    assert "37 of 40 students graded" in " ".join(text.split())
    for student, why in [("late", "grading failed: RuntimeError: the grader ran out of memory"),
                         ("student007", "its result student007.json cannot be read"),
                         ("<img src=x onerror=alert(9)>", "not graded: the submission uses forbidden APIs, so it "
                                                          "was not run:\ncell 3, line 1: uses torch")]:
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
