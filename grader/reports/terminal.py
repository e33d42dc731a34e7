"""The terminal view of one result: a row per question with what was lost, then the totals.

Every piece of text goes in as rich.text.Text, never as a str, so rich never reads a student's
"[link=...]" or "[bold]" as markup; control characters were already made visible when the
result was built (grader.results.clean_text), so no escape sequence reaches the terminal.
Text of many lines goes in one Text per line, which rich renders in linear time.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.results import GradeResult, points_text

_STYLE = {"passed": "green", "failed": "red", "error": "red", "skipped": "yellow"}
_MARK = {"passed": "✓", "failed": "✗", "error": "✗", "skipped": "-"}
REASON_LINES = 6  # of a failed test's message, in the default view


def render(result: GradeResult, console: Console | None = None, show_output: bool = False,
           verbose: bool = False) -> None:
    """Print the result: one row per question with the failed tests under it (every test with `verbose`)."""
    console = console or Console()
    if result.problem:
        console.print(Panel(Group(*_lines(result.problem, style="bold red")),
                            title=Text(f"{result.assignment} · {graded_name(result)}: not graded"), expand=True))
        console.print(_score(result))
        return
    table = Table(title=Text(f"{result.assignment} v{result.assignment_version} · {graded_name(result)}"),
                  expand=True, show_edge=False)
    table.add_column("question", overflow="fold", max_width=24)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("what was lost" if not verbose else "tests", ratio=1, overflow="fold")
    for question in result.questions:
        tests = _failing_first([t for t in result.shown_tests() if t.question == question.id])
        shown = tests if verbose else [t for t in tests if t.status != "passed"]
        lines = [Text(question.title, style="dim")] if verbose else []
        for group in _same_failures(shown, show_output):
            lines += _test_lines(group, verbose, show_output)
        if question.manual:
            lines.append(Text(f"graded by a TA: {question.comment}" if question.graded else "graded by a TA",
                              style="yellow"))
        if result.held_back(question.id):
            lines.append(Text(f"{result.held_back(question.id)} hidden tests: results released later", style="dim"))
        table.add_row(Text(question.id, style="bold"), _points(question), Group(*lines))
    known = {q.id for q in result.questions}
    for test in (t for t in result.shown_tests() if t.question not in known):  # a test whose question the spec lacks
        table.add_row(Text(test.question or "?", style="bold"), Text(_of(test.earned, test.points)),
                      Group(*_test_lines([test], verbose, show_output)))
    console.print(table)
    if result.load_output and show_output:
        console.print(Panel(Group(*_lines(result.load_output)), title="printed while loading", expand=True))
    console.print(_score(result))


def graded_name(result: GradeResult) -> str:
    """The submission's name, and the file graded in it where that is another name: "jane/backprop.py"."""
    return f"{result.submission}/{result.file}" if result.file and result.file != result.submission else result.submission


def _of(earned: float, possible: float, between: str = " / ") -> str:
    """"11.83 / 12": points as reports print them."""
    return f"{points_text(earned)}{between}{points_text(possible)}"


def _points(question) -> Text:
    if question.pending:
        return Text(f"pending / {points_text(question.possible)}", style="bold yellow")
    style = "bold green" if question.status == "full" else "bold red"
    return Text(_of(question.earned, question.possible), style=style)


def _failing_first(tests: list) -> list:
    return sorted(tests, key=lambda t: t.status == "passed")


def short_name(name: str) -> str:
    """A test's name without its folder, file and "test_" prefix: "softmax_is_stable[3]"."""
    function = name.rsplit("::", 1)[-1]
    return function.removeprefix("test_")


def _same_failures(tests: list, show_output: bool) -> list[list]:
    """The tests in runs that failed alike (same status and message): one entry says it once for all of them.
    With `show_output` each test stays alone, since what each printed differs."""
    groups: list[list] = []
    for test in tests:
        last = groups[-1][-1] if groups else None
        if (not show_output and last is not None and test.message and test.status != "passed"
                and (last.status, last.message) == (test.status, test.message)):
            groups[-1].append(test)
        else:
            groups.append([test])
    return groups


def _test_lines(tests: list, verbose: bool, show_output: bool) -> list:
    """A test (or tests that failed alike) and its message: each line wraps under its own indent, and the lines of
    a traceback (a frame, its code, its carets) are cut at the edge rather than wrapped inside a token."""
    test = tests[0]
    style = _STYLE.get(test.status, "")
    names = ", ".join(short_name(t.name) for t in tests) + (f" ({len(tests)} tests, the same failure)"
                                                             if len(tests) > 1 else "")
    head = Text.assemble((names, style), f"  {_of(sum(t.earned for t in tests), sum(t.points for t in tests), '/')}"
                         if verbose else "")
    message = test.message.split("\n")
    if not verbose and len(message) > REASON_LINES:
        message = message[:REASON_LINES] + [f"[... {len(message) - REASON_LINES} more lines: -v shows all]"]
    details, in_traceback = [], False
    for line in message:
        if line:
            in_traceback = in_traceback and line.startswith("  ")
            details.append(_detail(line, cut=in_traceback))
            in_traceback = in_traceback or line.endswith(" raised:") or line.startswith("Traceback (most recent")
    extra = [f"timing: {test.timing}"] if test.timing and test.timing not in test.message else []
    extra += [f"figure: {f['title']} (in the feedback page)" for f in test.figures]
    if show_output and test.output:
        extra += ["output:", *test.output.split("\n")]
    return [_hanging(Text(f"{_MARK.get(test.status, '?')} ", style=style), head),
            *details, *(_detail(line) for line in extra if line)]


def _hanging(mark: Text, text: Text) -> Table:
    """`mark`, then `text`, whose wrapped lines stay under its first character."""
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(mark, text)
    return grid


def _detail(line: str, cut: bool = False) -> Padding:
    """A line of a message, four columns in plus its own leading spaces, which its wrapped lines keep; `cut`: one
    row, cut at the edge."""
    text = Text(line.lstrip(" "), no_wrap=cut, overflow="ellipsis" if cut else "fold")
    return Padding(text, (0, 0, 0, 4 + len(line) - len(line.lstrip(" "))))


def _score(result: GradeResult) -> Panel:
    """The totals as the student's grade reads them, then provenance, load errors and warnings."""
    if result.public_only:
        passed = sum(t.status == "passed" for t in result.tests)
        headline = Text.assemble(("public tests ", "bold"), (f"{passed} of {len(result.tests)} pass", "bold cyan"),
                                 f"   points {_of(result.autograded_score, result.autograded_possible)}")
    else:
        headline = Text.assemble(("score ", "bold"), (_of(result.final_score, result.max_score), "bold cyan"),
                                 f"   autograded {_of(result.autograded_score, result.autograded_possible)}",
                                 f"   pending (manual) {points_text(result.pending)}" if result.pending else "")
    lines = [headline]
    if not result.public_only and result.score_cap is not None and result.score_cap < result.total_possible:
        lines.append(Text(f"{points_text(result.total_possible)} points, full marks at {points_text(result.score_cap)}"))
    if result.late is not None and not result.public_only:
        lines.append(Text(f"late policy: {result.late.status}, {points_text(result.late_penalty)} points off: {result.late.reason}",
                          style="yellow" if result.late_penalty or result.late.status != "on time" else ""))
    if result.variant and not result.public_only:
        owner = result.variant["student"]
        lines.append(Text(f"paper: {result.variant['id']}" + (f" (student {owner})" if owner else ""), style="dim"))
    seconds = result.shown_execution_time()
    lines.append(Text(f"isolation: {result.isolation}   " + ("" if seconds is None else f"time: {seconds:.1f} s   ") +
                      f"sha256: {result.submission_sha256[:12]}", style="dim"))
    for message in result.shown_load_errors():
        lines += _lines(f"while loading: {message}", style="yellow")
    for message in result.warnings:
        lines += _lines(f"warning: {message}", style="yellow")
    return Panel(Group(*lines), expand=True)


def _lines(text: str, style: str = "") -> list[Text]:
    """One Text per line of text: rich renders a single Text of many lines in quadratic time."""
    return [Text(line, style=style) for line in text.split("\n")]
