"""The terminal view of one result: a row per question with what was lost, then the totals.

Every piece of text goes in as rich.text.Text, never as a str, so rich never reads a student's
"[link=...]" or "[bold]" as markup; control characters were already made visible when the
result was built (grader.results.clean_text), so no escape sequence reaches the terminal.
Text of many lines goes in one Text per line, which rich renders in linear time.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.results import GradeResult

_STYLE = {"passed": "green", "failed": "red", "error": "red", "skipped": "yellow"}
_MARK = {"passed": "✓", "failed": "✗", "error": "✗", "skipped": "-"}
REASON_LINES = 6  # of a failed test's message, in the default view


def render(result: GradeResult, console: Console | None = None, show_output: bool = False,
           verbose: bool = False) -> None:
    """Print the result: one row per question with the failed tests under it (every test with `verbose`)."""
    console = console or Console()
    if result.problem:
        console.print(Panel(Group(*_lines(result.problem, style="bold red")),
                            title=Text(f"{result.assignment} · {result.submission}: not graded"), expand=True))
        console.print(_score(result))
        return
    table = Table(title=Text(f"{result.assignment} v{result.assignment_version} · {result.submission}"),
                  expand=True, show_edge=False)
    table.add_column("question", overflow="fold", max_width=24)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("what was lost" if not verbose else "tests", ratio=1, overflow="fold")
    for question in result.questions:
        tests = _failing_first([t for t in result.shown_tests() if t.question == question.id])
        shown = tests if verbose else [t for t in tests if t.status != "passed"]
        lines = [Text(question.title, style="dim")] if verbose else []
        previous = None
        for test in shown:
            lines += _test_lines(test, verbose, show_output, same_as_above=test.message == previous)
            previous = test.message
        if question.manual:
            lines.append(Text(f"graded by a TA: {question.comment}" if question.graded else "graded by a TA",
                              style="yellow"))
        if result.held_back(question.id):
            lines.append(Text(f"{result.held_back(question.id)} hidden tests: results released later", style="dim"))
        table.add_row(Text(question.id, style="bold"), _points(question), Group(*lines))
    known = {q.id for q in result.questions}
    for test in (t for t in result.shown_tests() if t.question not in known):  # a test whose question the spec lacks
        table.add_row(Text(test.question or "?", style="bold"), Text(f"{test.earned:g} / {test.points:g}"),
                      Group(*_test_lines(test, verbose, show_output)))
    console.print(table)
    if result.load_output and show_output:
        console.print(Panel(Group(*_lines(result.load_output)), title="printed while loading", expand=True))
    console.print(_score(result))


def _points(question) -> Text:
    if question.pending:
        return Text(f"pending / {question.possible:g}", style="bold yellow")
    style = "bold green" if question.status == "full" else "bold red"
    return Text(f"{question.earned:g} / {question.possible:g}", style=style)


def _failing_first(tests: list) -> list:
    return sorted(tests, key=lambda t: t.status == "passed")


def short_name(name: str) -> str:
    """A test's name without its folder, file and "test_" prefix: "softmax_is_stable[3]"."""
    function = name.rsplit("::", 1)[-1]
    return function.removeprefix("test_")


def _test_lines(test, verbose: bool, show_output: bool, same_as_above: bool = False) -> list[Text]:
    head = Text.assemble((f"{_MARK.get(test.status, '?')} {short_name(test.name)}", _STYLE.get(test.status, "")),
                         f"  {test.earned:g}/{test.points:g}" if verbose else "")
    message = ["(the same as above)"] if same_as_above and test.message else test.message.split("\n")
    if not verbose and len(message) > REASON_LINES:
        message = message[:REASON_LINES] + [f"[... {len(message) - REASON_LINES} more lines: -v shows all]"]
    details = [line for line in message if line]
    if test.timing and test.timing not in test.message:
        details.append(f"timing: {test.timing}")
    details += [f"figure: {f['title']} (in the feedback page)" for f in test.figures]
    if show_output and test.output:
        details += ["output:", *test.output.split("\n")]
    return [head, *(Text(f"    {line}") for line in details)]


def _score(result: GradeResult) -> Panel:
    """The totals as the student's grade reads them, then provenance, load errors and warnings."""
    if result.public_only:
        passed = sum(t.status == "passed" for t in result.tests)
        headline = Text.assemble(("public tests ", "bold"), (f"{passed} of {len(result.tests)} pass", "bold cyan"),
                                 f"   points {result.autograded_score:g} / {result.autograded_possible:g}")
    else:
        headline = Text.assemble(("score ", "bold"), (f"{result.final_score:g} / {result.max_score:g}", "bold cyan"),
                                 f"   autograded {result.autograded_score:g} / {result.autograded_possible:g}",
                                 f"   pending (manual) {result.pending:g}" if result.pending else "")
    lines = [headline]
    if not result.public_only and result.score_cap is not None and result.score_cap < result.total_possible:
        lines.append(Text(f"{result.total_possible:g} points, full marks at {result.score_cap:g}"))
    if result.late is not None and not result.public_only:
        lines.append(Text(f"late policy: {result.late.status}, {result.late_penalty:g} points off: {result.late.reason}",
                          style="yellow" if result.late_penalty or result.late.status != "on time" else ""))
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
