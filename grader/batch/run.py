"""Grade a class into its grades folder: open the store as its writer, decide who is graded again and why,
grade those with a backend (the local pool or Slurm), record each result as it comes, and render the views.

Whatever stops the run (the end, Ctrl-C, SIGTERM, a full disk), the views are rendered from the store before
the command returns, so the gradebook, the pages and the results beside them always agree.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.batch.reclaim import RunFolder
from grader.batch.task import Outcome
from grader.course.grades import Grades
from grader.course.views import render
from grader.results import GradeResult
from grader.spec import Assignment
from grader.sandbox.space import remove_tree
from grader.store import ClassFolder, GradesFolder, assignment_inputs, provenance, stale_because, submission_sha256

RUNS = ".runs"  # in the grades folder: each run's own folder (the exam papers its gradings read, Slurm's pickles)
PAPERS = "papers.json"


@dataclass
class Plan:
    """Who a run grades and why, and who it keeps."""

    todo: dict[str, list[str]] = field(default_factory=dict)   # student -> why they are graded (again)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """'graded again: the hidden tests changed (10), new (2); kept: 38'."""
        reasons = Counter(reason for why in self.todo.values() for reason in why)
        parts = [f"{reason} ({count})" for reason, count in sorted(reasons.items(), key=lambda item: -item[1])]
        graded = f"graded: {', '.join(parts)}" if parts else "graded: none"
        return f"{graded}; kept: {len(self.kept)}"


@dataclass
class Batch:
    """What a batch left in the grades folder: every student as the views show them, and the plan it followed."""

    grades: Grades | None = None
    plan: Plan = field(default_factory=Plan)
    skipped: list[str] = field(default_factory=list)

    @property
    def results(self) -> dict[str, GradeResult]:
        return self.grades.results if self.grades else {}

    @property
    def failures(self) -> dict[str, str]:
        return self.grades.failures if self.grades else {}

    @property
    def kept(self) -> int:
        return len(self.plan.kept)

    @property
    def exit_status(self) -> int:
        """0 when every student was graded (whatever the scores), 1 when some could not be."""
        return 1 if self.failures else 0


def grade_class(assignment: Assignment, roster: ClassFolder, out: Path, backend, public_only: bool = False,
                regrade: bool = False, wait: bool = False,
                progress: Callable[[int, int, str | None], None] | None = None,
                waiting: Callable[[str], None] | None = None, late: dict[str, str] | None = None,
                hold_feedback: bool = False, planned: Callable[[Plan], None] | None = None,
                started: Callable[[str], None] = lambda student: None) -> Batch:
    """Grade every student of the class folder whose stored result is not current into the grades folder `out`.

    A stored result is kept only when everything that determined it (grader.store.provenance) is unchanged,
    unless `regrade`. `late` names the course files (manifest, extensions, roster) the views apply from now
    on; `hold_feedback` holds the feedback pages back until `grader feedback` releases them. `planned(plan)`
    is told who is graded and why before grading starts, `started(student)` as each grading starts,
    `progress(done, total, student)` as each finishes.
    Raises StoreError (one line, naming the path) when the folder cannot be written; an interruption
    (KeyboardInterrupt) stops the backend, and the views still agree with the store.
    """
    batch = Batch(skipped=list(roster.skipped))
    with GradesFolder.writing(out, "grade", create=True, wait=wait, waiting=waiting) as store, RunFolder() as run:
        store.set_setting("assignment", assignment.slug)
        store.set_setting("assignment_root", str(assignment.root.resolve()))
        for kind, path in (late or {}).items():
            store.set_input(kind, Path(path))
        if hold_feedback:
            store.set_setting("hold_feedback", "1")
        inputs = assignment_inputs(assignment, public_only)
        scratch = _scratch(out, store.run)
        papers = _papers(assignment, store, roster, scratch)
        batch.plan, records = _plan(store, assignment, roster, inputs, public_only, regrade, papers)
        if planned:
            planned(batch.plan)
        finished = [len(batch.plan.kept)]
        total = len(roster.entries)
        if progress:
            progress(finished[0], total, None)

        warming = threading.Thread(target=_warm_pages, daemon=True)  # while the backend starts: a core is idle

        def done(student: str, outcome: Outcome) -> None:
            if warming.is_alive():
                warming.join()
            finished[0] += 1
            if outcome.status == "graded" and outcome.result is not None:
                store.record(student, roster.originals.get(student, student), str(roster.entries[student]),
                             GradeResult.from_dict(outcome.result), records[student])
            else:
                state = "interrupted" if outcome.status == "interrupted" else "failed"
                store.mark(student, state, outcome.message)
            render(store, assignment, only={student})  # each student's files as soon as they are graded
            if progress:
                progress(finished[0], total, student)

        config = {"assignment": str(assignment.root), "public_only": public_only, "seed": assignment.seed,
                  "scratch": str(scratch), "papers": str(scratch / PAPERS) if papers else None}
        todo = [(student, roster.entries[student]) for student in batch.plan.todo]
        try:
            if todo:
                warming.start()
                backend.run(config, todo, run.path, done, started)
        finally:
            if warming.is_alive():
                warming.join()
            remove_tree(scratch)
            _interrupted(store, batch.plan, roster)
            batch.grades = render(store, assignment).grades
    return batch


def _warm_pages() -> None:
    """Ready what the first feedback page needs (its failure, if any, is the render's to report)."""
    from grader.reports.feedback import warm

    with contextlib.suppress(Exception):
        warm()


def _scratch(out: Path, run: str) -> Path:
    """The run's own folder in the grades folder (0700, on the file system Slurm's nodes share); the folders of
    earlier runs are removed (one writer at a time: they have ended)."""
    runs = out / RUNS
    runs.mkdir(mode=0o700, exist_ok=True)
    runs.chmod(0o700)
    for earlier in runs.iterdir():
        remove_tree(earlier)
    scratch = runs / run
    scratch.mkdir(mode=0o700)
    return scratch


def _papers(assignment: Assignment, store: GradesFolder, roster: ClassFolder, scratch: Path) -> dict[str, dict]:
    """An exam with variants: the paper of each student's owner on the roster the store keeps (or why there is
    none), written where the gradings read it; {} otherwise."""
    kept = store.inputs().get("roster")
    if not assignment.has_variants or kept is None:
        return {}
    from grader.course.roster import read_roster
    from grader.variants import generate
    owners = read_roster(Path(kept.path), kept.content)
    papers = {}
    for student in roster.entries:
        original = roster.originals.get(student, student)
        owner = owners.find(original)
        papers[student] = generate(assignment, owner.id).to_dict() if owner else {
            "error": f"{kept.path}: no student on the roster owns the submission {original!r}, so its paper of "
                     f"{assignment.slug} is unknown (add its name to the student's row, column submission)"}
    (scratch / PAPERS).write_text(json.dumps(papers))
    return papers


def _plan(store: GradesFolder, assignment: Assignment, roster: ClassFolder, inputs: dict[str, str],
          public_only: bool, regrade: bool, papers: dict[str, dict]) -> tuple[Plan, dict[str, dict]]:
    """Decide who is graded and why; put every student that cannot be graded, or whose result is stale, in
    that state now (so that an interrupted run shows no score that is not current)."""
    plan, records = Plan(), {}
    entries = store.entries()
    for student, path in roster.entries.items():
        original = roster.originals.get(student, student)
        paper = papers.get(student, {})
        records[student] = provenance(inputs, submission_sha256(path, assignment), assignment.seed, public_only,
                                      paper.get("id") or paper.get("error", ""))
        entry = entries.get(student)
        if entry is None:
            why = ["new"]
        elif entry.state != "graded":
            why = [f"was {entry.state}"]
        else:
            why = ["--regrade"] if regrade else stale_because(entry.provenance, records[student])
        if not why:
            plan.kept.append(student)
            continue
        plan.todo[student] = why
        if entry is not None and why != ["--regrade"]:  # a result --regrade grades again is current until then
            store.mark(student, "stale", "; ".join(why) + ": to be graded again", original=original, source=str(path))
    for student, why in roster.clashes.items():
        store.mark(student, "clash", why, original=roster.originals.get(student, student))
    for student, entry in entries.items():
        if student not in roster.entries and student not in roster.clashes and entry.state != "missing":
            store.mark(student, "missing", "no submission in the class folder now")
    return plan, records


def _interrupted(store: GradesFolder, plan: Plan, roster: ClassFolder) -> None:
    """Students the run meant to grade and did not: new ones are marked interrupted (stale ones stay stale)."""
    for student in plan.todo:
        if store.entry(student) is None:
            store.mark(student, "interrupted", "the run stopped before grading it; the next run grades it",
                       original=roster.originals.get(student, student), source=str(roster.entries[student]))
