"""`grader status <grades>`: each student of a grades folder, its state, its score and why; and which results
the next `grader grade` would grade again, with the reasons (an input changed since they were graded)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.course.grades import load_assignment, read_grades
from grader.store import GradesFolder, assignment_inputs, provenance, stale_because, submission_sha256


def status(folder: Path, console: Console, check_submissions: bool = False) -> int:
    """Print the folder's students and what is stale; `check_submissions` also digests each submission again."""
    store = GradesFolder.reading(folder)
    try:
        assignment = load_assignment(store)
        grades = read_grades(folder, store, assignment)
        entries = store.entries()
        inputs = {mode: assignment_inputs(assignment, mode) for mode in (False, True)}
        stale: dict[str, list[str]] = {}
        for name, entry in entries.items():
            if entry.state != "graded" or entry.result is None or not entry.provenance:
                continue
            current = provenance(inputs[entry.result.public_only], _submission(entry, assignment, check_submissions),
                                 entry.result.seed if entry.result.seed is not None else assignment.seed,
                                 entry.result.public_only)
            why = stale_because(entry.provenance, current)
            if why:
                stale[name] = why
    finally:
        store.close()
    table = Table(title=f"{folder}: {assignment.slug}, {len(grades.results)} of {len(grades.students)} graded")
    for column in ("student", "score", "status", "why"):
        table.add_column(column)
    for name, shown in sorted(grades.students.items()):
        result = shown.result
        score = f"{result.final_score:g} / {result.max_score:g}" if result else ""
        why = "; ".join(stale.get(name, [])) and "stale: " + "; ".join(stale[name]) + " (the next grade run grades it again)"
        table.add_row(Text(name), score, Text(shown.status), Text(why or shown.reason))
    console.print(table)
    states = Counter(shown.status for shown in grades.students.values())
    console.print(Text("states: " + ", ".join(f"{state} ({count})" for state, count in states.most_common())))
    reasons = Counter(reason for why in stale.values() for reason in why)
    if reasons:
        console.print(Text("stale, graded again by the next `grader grade`: "
                           + ", ".join(f"{reason} ({count})" for reason, count in reasons.most_common())))
    if grades.unknown:
        console.print(Text(f"results in the folder its store did not write (ignored): {', '.join(grades.unknown)}",
                           style="yellow"))
    return 0


def _submission(entry, assignment, check: bool) -> str:
    """The submission's digest now (when asked to read it again and it is still there), else as recorded."""
    if check and entry.source and Path(entry.source).exists():
        return submission_sha256(Path(entry.source), assignment)
    return entry.provenance.get("submission", "")
