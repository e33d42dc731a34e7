"""A feedback report per student: the score, each question's tests, and the student's code, as one HTML page.

The page is a Jinja2 template (templates/feedback.html) rendered with autoescaping on, so every piece
of text (a test message, captured output, a cell's label, a line of code) goes in escaped; nothing is
marked safe but our own stylesheet, and nothing goes through a Markdown renderer. Code is split into
lines and tokens here, with pygments' Python lexer; the template escapes each token. The lines a
message cites (a traceback's `File "backprop.py", line 12`, `<cell 3>", line 4`, a scan's
`cell 3, line 4`, a load error's `cell 3: SyntaxError at line 4`) are highlighted, and the message
links to them (#cell-3-line-4). Figures are embedded PNGs whose base64 is checked. A
Content-Security-Policy forbids scripts and fetching anything, and the page uses neither: it is one
self-contained file that reads well on a phone and prints.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from grader.notebook import Cell
from grader.reports.html import environment, stylesheet
from grader.results import GradeResult, QuestionResult, TestResult, clean_text

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@dataclass
class _Line:
    number: int
    id: str
    tokens: list[tuple[str, str]]   # (pygments' short CSS class, text), escaped by the template
    cited: bool = False


@dataclass
class _CodeCell:
    label: str
    id: str
    lines: list[_Line]


@dataclass
class _TestView:
    test: TestResult
    id: str
    lost: bool
    message: list[tuple[str, str]]  # (text, "#anchor" or "") pieces: citations become in-page links
    figures: list[dict]
    output_lines: int


@dataclass
class _QuestionView:
    question: QuestionResult | None   # None: tests whose question the spec does not name
    id: str
    title: str
    tests: list[_TestView] = field(default_factory=list)
    held_back: int = 0                # hidden tests whose results the TA has not released yet

    @property
    def percent(self) -> float:
        q = self.question
        return 0.0 if q is None or q.pending or q.possible <= 0 else max(0.0, min(100.0, 100 * q.earned / q.possible))

    @property
    def lost_tests(self) -> int:
        return sum(t.lost for t in self.tests)


def to_feedback_html(result: GradeResult, cells: list[Cell]) -> str:
    """Render the result and the submission's code cells as a standalone HTML page."""
    code = [code_cell(number, cell) for number, cell in enumerate(cells, start=1)]
    cite = _Citations(code)
    questions = _questions(result, cite)
    load_errors = [cite.link(message) for message in result.shown_load_errors()]
    warnings = [cite.link(message) for message in result.warnings]
    problem = cite.link(result.problem)  # why nothing could be graded (a forbidden use cites its lines)
    for cell in code:
        for line in cell.lines:
            line.cited = line.id in cite.cited
    return environment().get_template("feedback.html").render(
        result=result, questions=questions, load_errors=load_errors, warnings=warnings, problem=problem, code=code,
        cited=len(cite.cited), load_output_lines=_count_lines(result.load_output), stylesheet=stylesheet(),
        paper=paper_rows(result, released=not result.hidden_held_back))


def warm() -> None:
    """Compile the page's template and stylesheet and the code lexer's tables before the first page is needed."""
    environment().get_template("feedback.html")
    stylesheet()
    _tokenize("")


def paper_rows(result: GradeResult, released: bool) -> list[tuple[str, str, str, str]]:
    """An exam with variants: (question, its parameters on the student's paper, the expected answer, the answer
    read) per question with parameters or a key; the expected answers and answers only where `released`."""
    variant = result.variant or {}
    rows = []
    for question in result.questions:
        params = variant.get("params", {}).get(question.id, {})
        expected = variant.get("expected", {}).get(question.id) if released else None
        if params or expected is not None:
            rows.append((question.id, ", ".join(f"{name} = {_shown(value)}" for name, value in params.items()),
                         "" if expected is None else _shown(expected),
                         _shown(variant.get("answers", {}).get(question.id)) if released else ""))
    return rows


def _shown(value, limit: int = 300) -> str:
    text = clean_text(value if isinstance(value, str) else json.dumps(value))
    return text if len(text) <= limit else text[:limit] + " ..."


# ---------------------------------------------------------------------------- the student's code

def code_cell(number: int, cell: Cell) -> _CodeCell:
    """A cell's code as numbered lines of tokens, line numbers as Python counts them."""
    label = clean_text(cell.label)
    match = re.fullmatch(r"cell ([0-9]+)", label)
    anchor = f"cell-{int(match.group(1))}" if match else f"file-{number}"
    source = clean_text(cell.source.replace("\r\n", "\n").replace("\r", "\n"))  # CR ends a line for Python too
    lines = [_Line(n, f"{anchor}-line-{n}", tokens) for n, tokens in enumerate(_tokenize(source), start=1)]
    return _CodeCell(label=label, id=anchor, lines=lines)


def _tokenize(source: str) -> list[list[tuple[str, str]]]:
    """The source's lines, each a list of (CSS class, text) tokens from pygments' Python lexer."""
    from pygments.lexers.python import PythonLexer

    lines: list[list[tuple[str, str]]] = [[]]
    for kind, value in PythonLexer(stripnl=False, ensurenl=True).get_tokens(source):
        css = _css_class(kind)
        for index, part in enumerate(value.split("\n")):
            if index:
                lines.append([])
            if part:
                lines[-1].append((css, part))
    if len(lines) > 1 and not lines[-1]:
        lines.pop()  # what follows the last newline
    return lines


@functools.cache
def _css_class(kind) -> str:
    from pygments.token import STANDARD_TYPES

    while kind not in STANDARD_TYPES:
        kind = kind.parent
    return STANDARD_TYPES[kind]


class _Citations:
    """Finds the code lines a message cites and turns each citation into a link to that line."""

    def __init__(self, code: list[_CodeCell]):
        self.cells = {cell.label: cell for cell in reversed(code)}  # the first cell of a label wins
        self.files = {_filename(label): cell for label, cell in self.cells.items()}
        self.cited: set[str] = set()
        alternatives = lambda names: "|".join(map(re.escape, sorted(names, key=len, reverse=True)))  # noqa: E731
        labels, files = alternatives(self.cells), alternatives(self.files)
        self.pattern = labels and re.compile(
            rf'File "(?P<file>{files})", line (?P<fn>[0-9]+)'              # a frame of a traceback
            rf'|(?<![\w<])(?P<scan>{labels}), line (?P<sn>[0-9]+)'         # the scan for forbidden modules
            rf'|(?<![\w<])(?P<load>{labels}): \w+ at line (?P<ln>[0-9]+)')  # a syntax error while loading

    def link(self, text: str) -> list[tuple[str, str]]:
        """The text as (piece, href) pairs; a piece that cites an existing line links to it."""
        pieces, start = [], 0
        for match in self.pattern.finditer(text) if self.pattern else ():
            cell = self.files[match["file"]] if match["file"] else self.cells[match["scan"] or match["load"]]
            number = int(match["fn"] or match["sn"] or match["ln"])
            if not 1 <= number <= len(cell.lines):
                continue
            line = cell.lines[number - 1].id
            self.cited.add(line)
            pieces += [(text[start:match.start()], ""), (match[0], f"#{line}")]
            start = match.end()
        pieces.append((text[start:], ""))
        return [piece for piece in pieces if piece[0]]


def _filename(label: str) -> str:
    """The file name a cell's code runs under in the worker, as its tracebacks show it (sandbox/worker.py)."""
    return label if label.endswith(".py") else f"<{label}>"


# ---------------------------------------------------------------------------- the results

def _questions(result: GradeResult, cite: _Citations) -> list[_QuestionView]:
    """Questions in the spec's order, each with its tests, those that lost points first."""
    views = {q.id: _QuestionView(q, f"q-{n}", q.title, held_back=result.held_back(q.id))
             for n, q in enumerate(result.questions, start=1)}
    orphans = _QuestionView(None, "q-other", "Other tests")
    for number, test in enumerate(result.shown_tests(), start=1):
        lost = test.status in ("failed", "error") or test.earned < test.points - 1e-9  # a skip may cost nothing
        figures = [{"title": clean_text(str(f.get("title", ""))), "png": f["png"]} for f in test.figures
                   if isinstance(f, dict) and isinstance(f.get("png"), str) and _BASE64.fullmatch(f["png"])]
        view = _TestView(test=test, id=f"t-{number}", lost=lost, message=cite.link(test.message), figures=figures,
                         output_lines=_count_lines(test.output))
        views.get(test.question, orphans).tests.append(view)
    ordered = [*views.values(), *([orphans] if orphans.tests else [])]
    for question in ordered:
        question.tests.sort(key=lambda t: not t.lost)  # stable: in the spec's order within each group
    return ordered


def _count_lines(text: str) -> int:
    return text.count("\n") + (not text.endswith("\n"))
