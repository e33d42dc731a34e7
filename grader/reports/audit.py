"""The terminal view of an audit: a table per check, the kill rate per question, the survivors and the verdict.

Text goes in as rich.text.Text (never markup): descriptions, sources and test messages may hold brackets."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.audit import AuditReport, Row
from grader.mutation import SEMANTIC
from grader.variant_audit import VariantAudit

_EXPECTED = {"full": "full marks", "starter": "≤ 5%"}


def render_audit(report: AuditReport, console: Console, papers: VariantAudit | None = None,
                 spread: dict | None = None) -> None:
    """Print every check of the report (and of an exam's papers, with a class's spread of difficulty) and the
    verdict."""
    slug = report.assignment.slug
    seeds = ", ".join(map(str, report.plan.seeds))
    fixed = [r for r in report.rows if r.variant.expect != "alternative"]
    alternatives = [r for r in report.rows if r.variant.expect == "alternative"]
    console.print(_rows_table(f"{slug}: reference, starter and hand-written mutants (seeds {seeds})", fixed))
    if alternatives:
        console.print(_rows_table(f"{slug}: alternative correct solutions", alternatives))
    else:
        console.print(Text(f"{slug}: no alternative solutions in {report.assignment.alternatives_folder}", style="yellow"))
    if report.fates:
        _print_mutants(report, console)
    if report.cap_hidden:
        _print_cap(report, console)
    if report.requirements is not None:
        _print_requirements(report, console)
    if report.speed is not None:
        _print_speed(report, console)
    if papers is not None:
        _print_papers(papers, console)
    if spread:
        _print_spread(spread, console)
    timing = report.to_dict()["timing"]
    console.print(Text(f"{timing['gradings']} gradings in {timing['wall_seconds']:g} s with {report.jobs} jobs "
                       f"({timing['seconds_per_grading']} s of one core each)", style="dim"))
    problems = report.problems() + (papers.problems() if papers is not None else [])
    if problems:
        console.print(Text(f"✗ the audit of {slug} fails: {len(problems)} problem(s)", style="bold red"))
        for problem in problems:
            console.print(Text(f"  {problem}"))
    else:
        console.print(Text(f"✓ the audit of {slug} passes", style="bold green"))


def _rows_table(title: str, rows: list[Row]) -> Table:
    table = Table(title=Text(title))
    for column in ("variant", "seed", "score", "lost questions", "expected", "verdict"):
        table.add_column(column)
    for row in rows:
        variant, result = row.variant, row.result
        score = f"{result.score:g} / {result.autograded_possible:g}" if result else "-"
        lost = ", ".join(sorted(result.lost_questions())) if result else "-"
        expected = _EXPECTED.get(variant.expect, ", ".join(sorted(variant.loses)) or "full marks")
        name = Text.assemble(variant.name, (f"\n{variant.description}" if variant.description else "", "dim"))
        verdict = Text(f"✗ {row.problem}", style="red") if row.problem else Text("✓", style="green")
        table.add_row(name, str(row.seed), score, Text(lost), Text(expected), verdict)
    return table


def _print_mutants(report: AuditReport, console: Console) -> None:
    rate = report.kill_rate
    graded = "all" if report.plan.mutants is None else f"a fixed sample of {len(report.fates)}"
    table = Table(title=Text(f"{report.assignment.slug}: automatic mutants ({graded} of {report.generated}), "
                             "kill rate per question"))
    for column in ("question", "killed", "not killed", "rate"):
        table.add_column(column, justify="left" if column == "question" else "right")
    for question, (killed, alive) in report.per_question().items():
        table.add_row(question, str(killed), str(alive), f"{killed / (killed + alive):.0%}" if killed + alive else "-")
    killed = sum(f.status == "killed" for f in report.counted)
    table.add_row(Text("all", style="bold"), str(killed), str(len(report.counted) - killed),
                  Text("-" if rate is None else f"{rate:.1%}",
                       style="green" if rate is not None and rate >= report.assignment.audit.kill_rate else "red"))
    console.print(table)
    console.print(_operators_table(report))
    survivors = [f for f in report.fates if f.status in ("survived", "seed-lucky", "error")]
    if survivors:
        listing = Table(title=Text("automatic mutants not killed under every seed"))
        for column in ("id", "function", "change", "fate"):
            listing.add_column(column)
        for fate in survivors:
            detail = fate.status
            if fate.status == "seed-lucky":
                detail += ": survives seed " + ", ".join(str(s) for s, v in fate.lost.items() if not v)
            listing.add_row(fate.mutant.id, Text(fate.mutant.function), Text(fate.mutant.description), detail)
        console.print(listing)
    equivalent = sum(f.status == "equivalent" for f in report.fates)
    if equivalent:
        console.print(Text(f"{equivalent} mutant(s) listed as equivalent, left out of the rate", style="dim"))


def _operators_table(report: AuditReport) -> Table:
    """The kill rate per operator, the operator-level ones first, then the semantic ones and each family's total."""
    table = Table(title=Text(f"{report.assignment.slug}: automatic mutants, kill rate per operator"))
    for column in ("operator", "kind", "killed", "not killed", "rate"):
        table.add_column(column, justify="left" if column in ("operator", "kind") else "right")
    family = {False: [0, 0], True: [0, 0]}
    for operator, (killed, alive) in report.per_operator().items():
        semantic = operator in SEMANTIC
        family[semantic][0] += killed
        family[semantic][1] += alive
        table.add_row(operator, "semantic" if semantic else "operator", str(killed), str(alive),
                      f"{killed / (killed + alive):.0%}")
    for semantic, (killed, alive) in family.items():
        if killed + alive:
            table.add_row(Text("all", style="bold"), "semantic" if semantic else "operator", str(killed), str(alive),
                          f"{killed / (killed + alive):.1%}")
    return table


def _print_cap(report: AuditReport, console: Console) -> None:
    table = Table(title=Text(f"{report.assignment.slug}: mutants whose lost points the score cap hides"))
    for column in ("variant", "seed", "points lost", "capped score"):
        table.add_column(column)
    for hidden in report.cap_hidden:
        table.add_row(hidden.variant, str(hidden.seed), f"{hidden.lost_points:g}",
                      Text(f"{hidden.capped_score:g} (as the reference)", style="red"))
    console.print(table)


def _print_papers(papers: VariantAudit, console: Console) -> None:
    totals = papers.totals()
    table = Table(title=Text(f"{papers.assignment.slug}: the reference graded as {len(papers.variants)} students' "
                             "papers"))
    for column in ("student", "variant", "total", "reference", "verdict"):
        table.add_column(column)
    for variant in papers.variants:
        result = papers.results.get(variant.id)
        score = f"{result.autograded_score:g} / {result.autograded_possible:g}" if result else "-"
        lost = result.lost_questions() if result else {"not graded"}
        table.add_row(variant.student, variant.id, f"{totals[variant.id]:g}", score,
                      Text("✓", style="green") if not lost else Text("✗ " + ", ".join(sorted(lost)), style="red"))
    console.print(table)


def _print_spread(spread: dict, console: Console) -> None:
    table = Table(title=Text("the class's mean share of each question's points, per version of it (hardest first)"))
    for column in ("question", "versions", "hardest", "easiest", "spread"):
        table.add_column(column)
    for qid, versions in spread.items():
        low, high = versions[0], versions[-1]
        table.add_row(qid, str(len(versions)), f"{low[2]:.0%} ({low[1]} students)", f"{high[2]:.0%} ({high[1]} students)",
                      f"{high[2] - low[2]:.0%}")


def _print_requirements(report: AuditReport, console: Console) -> None:
    coverage = report.requirements
    if coverage.share is None:
        console.print(Text(f"{report.assignment.slug}: the handout tags no requirement ([R1.1])", style="yellow"))
        return
    tested = len(coverage.requirements) - len(coverage.untested)
    console.print(Text(f"requirements of the handout checked by a test: {tested} of {len(coverage.requirements)} "
                       f"({coverage.share:.0%})", style="green" if not coverage.untested else "red"))
    for requirement in coverage.untested:
        console.print(Text(f"  untested {requirement.id} (line {requirement.line}): {requirement.text}"))


def _print_speed(report: AuditReport, console: Console) -> None:
    speed = report.speed
    if not speed.checks:
        console.print(Text(f"{report.assignment.slug}: no speed check", style="dim"))
        return
    beside = f", {speed.load} CPU-bound processes beside" if speed.load else ""
    table = Table(title=Text(f"{report.assignment.slug}: speed margins ({speed.repeats} timings each{beside}; "
                             f"ratios to the reference's time)"))
    for column in ("check", "solution", "kind", "ratios (min - max)", "budget"):
        table.add_column(column)
    for check in speed.checks:
        for kind, ratios in (("correct", check.correct), ("slow", check.slow)):
            for name, values in ratios.items():
                table.add_row(check.test, name, kind, f"{min(values):.2f}x - {max(values):.2f}x",
                              f"{check.budget:g}x ({check.device})")
    console.print(table)
