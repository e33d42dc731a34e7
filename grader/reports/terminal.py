"""A rich table of one result: questions, tests, points, reasons for lost points, totals.

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


def render(result: GradeResult, console: Console | None = None, show_output: bool = False) -> None:
    """Print the result to the terminal."""
    console = console or Console()
    table = Table(title=Text(f"{result.assignment} v{result.assignment_version} · {result.submission}"),
                  show_lines=False, expand=True)
    table.add_column("question / test", ratio=3, overflow="fold")
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("reason", ratio=5, overflow="fold")
    for question in result.questions:
        label = f"{question.earned:g} / {question.possible:g}" if not question.manual else f"pending / {question.possible:g}"
        style = "bold yellow" if question.manual else "bold green" if question.status == "full" else "bold red"
        note = "graded by a TA (manual)" if question.manual else ""
        table.add_row(Text(f"{question.id}: {question.title}", style="bold"), Text(label, style=style), Text(note))
        for test in (t for t in result.tests if t.question == question.id):
            figures = [f"figure: {f['title']} (in the feedback page)" for f in test.figures]
            reason = "\n".join(filter(None, [test.message, test.timing and f"timing: {test.timing}", *figures]))
            if show_output and test.output:
                reason += f"\n[output]\n{test.output}"
            table.add_row(Text(f"  {test.name}", style=_STYLE.get(test.status, "")),
                          Text(f"{test.earned:g} / {test.points:g}"), Group(*_lines(reason)))
    orphans = [t for t in result.tests if t.question not in {q.id for q in result.questions}]
    for test in orphans:
        table.add_row(Text(test.name, style=_STYLE.get(test.status, "")), Text(f"{test.earned:g} / {test.points:g}"),
                      Group(*_lines(test.message)))
    console.print(table)
    lines = [Text.assemble(("score ", "bold"), (f"{result.capped_score:g} / {result.max_score:g}", "bold cyan"),
                           f"   autograded {result.score:g} / {result.autograded_possible:g}",
                           f"   pending (manual) {result.pending:g}" if result.pending else "",
                           f"   capped at {result.score_cap:g}" if result.score_cap is not None else "")]
    lines.append(Text(f"isolation: {result.isolation}   time: {result.execution_time:.1f} s   "
                      f"sha256: {result.submission_sha256[:12]}", style="dim"))
    for message in result.load_errors:
        lines += _lines(f"while loading: {message}", style="yellow")
    for message in result.warnings:
        lines += _lines(f"warning: {message}", style="bold yellow")
    console.print(Panel(Group(*lines), expand=True))


def _lines(text: str, style: str = "") -> list[Text]:
    """One Text per line of text: rich renders a single Text of many lines in quadratic time."""
    return [Text(line, style=style) for line in text.split("\n")]
