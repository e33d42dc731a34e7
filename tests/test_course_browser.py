"""The review app and the class report in headless Chromium (Playwright), as a TA uses them.

Three students are graded with the keyboard only, the page is reloaded and the marks are still there,
the store and the merged gradebook hold them; a hostile answer stays text; the class report renders
with its plots and fetches nothing. Screenshots go to a temporary folder (and to $COURSE_SCREENSHOTS
when set: the pictures in docs/course/ come from here). Skipped where Chromium is missing.
"""

from __future__ import annotations

import csv
import os
import shutil
import threading
from pathlib import Path

import pytest

from classes import HOSTILE, make_class
from grader import cli, spec
from grader.course.review.merge import merge
from grader.results import clean_text
from test_feedback_page import browser  # noqa: F401  (the fixture: Chromium, or a skip saying why)

pytest.importorskip("flask", reason="Flask is not installed (pip install 'dl-grader[review]')")


@pytest.fixture
def app(tmp_path):
    from grader.course.review.app import Review, create_app, serve
    folder = tmp_path / "grades"
    make_class(folder, 6)
    review = Review(spec.load("perceptron"), folder)
    server = serve(create_app(review, "t0ken"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/t0ken", review, folder
    server.shutdown()
    server.server_close()


def _watch(page) -> dict:
    seen = {"requests": [], "console": [], "dialogs": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: seen["console"].append(message.text))
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    return seen


def _screenshot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:4] == b"\x89PNG"
    if os.environ.get("COURSE_SCREENSHOTS"):
        Path(os.environ["COURSE_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["COURSE_SCREENSHOTS"]) / path.name)


def test_grading_three_students_with_the_keyboard(browser, app, tmp_path):  # noqa: F811
    from playwright.sync_api import expect
    expect.set_options(timeout=30_000)  # saving goes through the app: slow on a loaded machine, never wrong
    base, review, folder = app
    proof = review.questions["proof"]
    students = review.students["proof"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    seen = _watch(page)
    page.goto(base + "/")
    page.wait_for_url(f"{base}/q/proof/0")
    assert page.inner_text("#progress") == "0 of 5 graded"
    assert not any(name in page.inner_text("body") for name in students)  # anonymous

    page.keyboard.press("1")
    page.keyboard.press("3")
    expect(page.locator("#score")).to_have_text("5")  # polled from outside the page: its CSP forbids eval
    page.keyboard.press("j")
    page.wait_for_url(f"{base}/q/proof/1")
    page.keyboard.press("2")
    page.keyboard.press("4")
    page.keyboard.press("4")  # given, then taken back
    page.keyboard.press("c")
    page.keyboard.type("See (11): <b>why</b> w.p <= 0?")
    page.keyboard.press("Escape")
    expect(page.locator("#state")).to_have_text("graded, saved")
    expect(page.locator("#score")).to_have_text("3")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/q/proof/2")
    page.keyboard.press("Enter")  # graded as it stands: no item, 0 points; moves on
    page.wait_for_url(f"{base}/q/proof/3")
    assert page.inner_text("#progress") == "3 of 5 graded"

    page.keyboard.press("k")
    page.wait_for_url(f"{base}/q/proof/2")
    page.keyboard.press("k")
    page.wait_for_url(f"{base}/q/proof/1")
    page.reload()
    pressed = page.eval_on_selector_all("button.item", "bs => bs.map(b => b.getAttribute('aria-pressed'))")
    assert pressed == ["false", "true", "false", "false"] and page.input_value("#comment").startswith("See (11)")
    _screenshot(page, tmp_path / "review.png")
    page.keyboard.press("n")
    page.wait_for_url(f"{base}/q/proof/1?names=1")
    assert students[1] in page.inner_text("#student")

    hostile = students.index("<img src=x onerror=alert(9)>")
    page.goto(f"{base}/q/proof/{hostile}")
    assert page.inner_text("#answer") == clean_text(HOSTILE).replace("**bold**", "bold")  # Markdown, nothing else
    tags = page.evaluate("[...document.querySelectorAll('#answer *')].map(e => e.tagName)")
    assert sorted(set(tags)) == ["P", "STRONG"] and seen["dialogs"] == []
    assert page.text_content("details.output pre") == clean_text(HOSTILE)  # "As typed"
    assert page.evaluate("document.scripts.length") == 1  # review.js, nothing of the student's
    assert all(url.startswith(base) for url in seen["requests"]), seen["requests"]
    assert not [m for m in seen["console"] if "Content Security Policy" in m]
    context.close()

    grades = review.store.grades("proof")
    assert {s: (g.score(proof), g.graded) for s, g in grades.items()} == {
        students[0]: (5.0, True), students[1]: (3.0, True), students[2]: (0.0, True)}
    assert grades[students[1]].comment == "See (11): <b>why</b> w.p <= 0?"
    merge(spec.load("perceptron"), folder)
    rows = {row["student"]: row for row in csv.DictReader((folder / "gradebook.csv").open())}
    assert [rows[s]["proof"] for s in students[:4]] == ["5", "3", "0", ""]
    assert rows[students[3]]["status"] == "manual grading pending" and rows[students[0]]["status"] == "graded"


def test_the_class_report_in_a_browser(browser, tmp_path):  # noqa: F811
    folder = tmp_path / "grades"
    make_class(folder, 60)
    assert cli.main(["report", str(folder), "-o", str(tmp_path / "class-report.html")]) == 0
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    seen = _watch(page)
    page.goto((tmp_path / "class-report.html").as_uri())
    text = page.evaluate("document.body.innerText")
    for ours in ("<h2", "<td", "<li", "<pre", "<section", "&lt;", "&amp;", "&#"):
        assert ours not in text, ours
    images = page.evaluate("[...document.images].map(i => [i.naturalWidth > 300, i.src.slice(0, 22)])")
    assert images == [[True, "data:image/png;base64,"]] * 2
    assert page.evaluate("document.scripts.length") == 0 and seen["dialogs"] == []
    assert [url for url in seen["requests"] if not url.startswith(("file:", "data:"))] == []
    assert "59 of 60 students graded" in text and "late" in page.inner_text("#not-graded")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.set_viewport_size({"width": 1000, "height": 900})
    _screenshot(page, tmp_path / "class-report.png")
    context.close()


def test_a_written_answer_reads_as_markdown_and_math_and_stays_inert(browser, tmp_path):  # noqa: F811
    from grader.course.review.app import Review, create_app, serve
    from test_review import _set_answers
    folder = tmp_path / "grades"
    make_class(folder, 4)
    _set_answers(folder, {"student000": (
        "**Claim.** After $T$ mistakes, $w_T \\cdot w^* \\ge T\\delta$ and $\\|w_T\\|^2 \\le T R^2$, so\n\n"
        "$$T\\delta \\le w_T \\cdot w^* \\le \\|w_T\\| \\le \\sqrt{T}\\, R \\quad\\Rightarrow\\quad "
        "T \\le \\frac{R^2}{\\delta^2}.$$\n\n"
        "- each mistake adds at least $\\delta$ to the projection on $w^*$\n"
        "- and at most $R^2$ to $\\|w\\|^2$\n\n<script>alert(1)</script> `$not math$`")})
    review = Review(spec.load("perceptron"), folder)
    server = serve(create_app(review, "t0ken"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        seen = _watch(page)
        number = review.students["proof"].index("student000")
        base = f"http://127.0.0.1:{server.server_port}/t0ken"
        page.goto(f"{base}/q/proof/{number}")
        answer = page.locator("#answer")
        assert answer.locator("strong").inner_text() == "Claim." and answer.locator("li").count() == 2
        assert answer.locator("math").count() == 8 and answer.locator("math[display=block]").count() == 1
        box = answer.locator("math[display=block]").bounding_box()
        assert box["height"] > 30  # drawn as math (a fraction), not a line of LaTeX
        assert "\\frac" not in answer.inner_text() and "<script>alert(1)</script>" in answer.inner_text()
        assert answer.locator("code").inner_text() == "$not math$"
        _screenshot(page, tmp_path / "review-math.png")
        assert seen["dialogs"] == [] and all(url.startswith(base) for url in seen["requests"])
        context.close()
    finally:
        server.shutdown()
        server.server_close()
