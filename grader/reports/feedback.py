"""A feedback report per student: the results, then the student's code, as one HTML page.

The page is built here, every piece of text put in with html.escape; nothing goes through a
Markdown renderer, so no text (a test message, a cell's label) can turn into markup. The code
cells are highlighted by nbconvert's highlighter, which escapes them too. The notebook's own
outputs and markdown are not included, and a Content-Security-Policy forbids scripts and
fetching anything, so the page is self-contained and nothing in it can run.
"""

from __future__ import annotations

import re
from html import escape

from grader.notebook import Cell
from grader.results import GradeResult, clean_text

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # figures are embedded PNGs
_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #ccc;padding:4px;text-align:left;vertical-align:top}pre{white-space:pre-wrap;margin:0}"
        ".highlight{background:#f6f6f6;padding:6px}figure{margin:6px 0}img{max-width:100%}")


def to_feedback_html(result: GradeResult, cells: list[Cell]) -> str:
    """Render the result and the submission's code cells as a standalone HTML page."""
    from pygments.formatters import HtmlFormatter  # nbconvert's highlighter; slow to import, only reports need it
    title = escape(f"{result.assignment}: {result.submission}")
    styles = HtmlFormatter().get_style_defs(".highlight") + _CSS
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">"
            f"<title>{title}</title><style>{styles}</style></head>\n<body>\n"
            f"{_summary(result)}\n{_code(cells)}\n</body></html>\n")


def _summary(result: GradeResult) -> str:
    """The score, a table of questions and tests with the reasons for lost points, and the notes from loading."""
    rows = []
    for question in result.questions:
        points = "pending (graded by a TA)" if question.manual else f"{question.earned:g} / {question.possible:g}"
        rows.append(f"<tr><th>{escape(question.id)}: {escape(question.title)}</th><th>{points}</th><th></th></tr>")
        for test in (t for t in result.tests if t.question == question.id):
            detail = "\n".join(filter(None, [test.message, test.timing and f"timing: {test.timing}",
                                             test.output and f"output:\n{test.output}"]))
            rows.append(f"<tr><td>{escape(test.name)}</td><td>{test.earned:g} / {test.points:g}</td>"
                        f"<td><pre>{escape(detail)}</pre>{''.join(map(_figure, test.figures))}</td></tr>")
    notes = [*(f"while loading: {m}" for m in result.load_errors), *result.warnings]
    return "\n".join([
        f"<h2>{escape(result.assignment)}: feedback for {escape(result.submission)}</h2>",
        f"<p><b>Score: {result.capped_score:g} / {result.max_score:g}</b> (autograded {result.score:g} / "
        f"{result.autograded_possible:g}, pending manual grading {result.pending:g}). "
        f"Isolation: {escape(result.isolation)}.</p>",
        "<table>", *rows, "</table>",
        *(f"<pre>{escape(note)}</pre>" for note in notes),
    ])


def _figure(figure: dict) -> str:
    """A figure a test rendered, embedded as a PNG (base64 checked, so nothing but an image can come of it)."""
    png = figure.get("png", "")
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", png):
        return ""
    title = escape(str(figure.get("title", "")))
    return f"<figure><img src=\"data:image/png;base64,{png}\" alt=\"{title}\"><figcaption>{title}</figcaption></figure>"


def _code(cells: list[Cell]) -> str:
    """Each code cell under its label, highlighted as Python; control and bidi characters shown as escapes."""
    from nbconvert.filters.highlight import Highlight2HTML
    highlight = Highlight2HTML(pygments_lexer="ipython3")
    return "\n".join(f"<h4>{escape(clean_text(cell.label))}</h4>\n{highlight(clean_text(cell.source))}"
                     for cell in cells)
