"""A feedback report per student: the results, then the student's code, as one HTML page (nbconvert).

Everything that came from the submission (code, messages, output) is escaped or shown as
code; the notebook's own outputs and markdown are not included, so nothing a student
wrote can run as HTML or script in the reader's browser.
"""

from __future__ import annotations

import html

import nbformat

from grader.notebook import Cell
from grader.results import GradeResult


def to_feedback_html(result: GradeResult, cells: list[Cell]) -> str:
    """Render the result and the submission's code cells as a standalone HTML page."""
    from nbconvert import HTMLExporter  # slow to import; only reports need it
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell(_summary(result)))
    for cell in cells:
        notebook.cells.append(nbformat.v4.new_markdown_cell(f"<h4>{html.escape(cell.label)}</h4>"))
        notebook.cells.append(nbformat.v4.new_code_cell(cell.source))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    exporter = HTMLExporter(template_name="basic", sanitize_html=True)  # no scripts, nothing fetched
    body, resources = exporter.from_notebook_node(notebook)
    title = html.escape(f"{result.assignment}: {result.submission}")
    styles = "".join(f"<style>{css}</style>" for css in resources.get("inlining", {}).get("css", []))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{styles}<style>{_CSS}</style>"
            f"</head><body>{body}</body></html>")


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #ccc;padding:4px;text-align:left;vertical-align:top}pre{white-space:pre-wrap;margin:0}"
        ".highlight{background:#f6f6f6;padding:6px}")


def _summary(result: GradeResult) -> str:
    e = html.escape
    rows = []
    for question in result.questions:
        points = "pending (graded by a TA)" if question.manual else f"{question.earned:g} / {question.possible:g}"
        rows.append(f"<tr><th>{e(question.id)}: {e(question.title)}</th><th>{points}</th><th></th></tr>")
        for test in (t for t in result.tests if t.question == question.id):
            detail = "\n".join(filter(None, [test.message, test.timing and f"timing: {test.timing}",
                                             test.output and f"output:\n{test.output}"]))
            rows.append(f"<tr><td>{e(test.name)}</td><td>{test.earned:g} / {test.points:g}</td>"
                        f"<td><pre>{e(detail)}</pre></td></tr>")
    notes = [*(f"while loading: {m}" for m in result.load_errors), *result.warnings]
    return "\n".join([
        f"<h2>{e(result.assignment)}: feedback for {e(result.submission)}</h2>",
        f"<p><b>Score: {result.capped_score:g} / {result.max_score:g}</b> (autograded {result.score:g} / "
        f"{result.autograded_possible:g}, pending manual grading {result.pending:g}). Isolation: {e(result.isolation)}.</p>",
        "<table>", *rows, "</table>",
        *(f"<pre>{e(note)}</pre>" for note in notes),
    ])
