"""A class's grades as every view shows them, derived from the grades folder's store and nothing else.

A graded student's shown result is the stored one with what the course has decided since: the TAs' points
for manual questions (each answer a TA marked graded), the late verdict under the course's current manifest,
extensions and roster, and whether hidden tests are still held back. A student in any other state has no
result, only its state and the reason, so no view can show a score that is not current.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path

from grader import spec
from grader.course.late import LateRules, rules_from_inputs
from grader.results import GradeResult
from grader.store import Entry, GradesFolder, StoreError, assignment_inputs, stale_because

# What each state of the store is called in every view, and what a TA does about it.
_NOT_GRADED = {"stale": "stale", "failed": "grading failed", "interrupted": "interrupted", "clash": "not graded",
               "missing": "not submitted"}


@dataclass
class Shown:
    """One student as every view shows them."""

    name: str
    original: str
    status: str                    # graded, manual grading pending, did not load, refused, not submitted, stale, ...
    reason: str                    # why, in a TA's words ("" when graded)
    result: GradeResult | None     # the result as shown; None unless the student is graded now
    at: float = 0.0                # when the store last changed this student (seconds since the epoch)


@dataclass
class Grades:
    """The students of a grades folder as the views show them."""

    folder: Path
    assignment: spec.Assignment
    students: dict[str, Shown] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)   # results in the folder the store never wrote: not trusted
    held: bool = False                                 # feedback pages held back until released
    released: bool = False                             # hidden tests released

    @property
    def results(self) -> dict[str, GradeResult]:
        """The shown results of the students graded now."""
        return {name: s.result for name, s in self.students.items() if s.result is not None}

    @property
    def failures(self) -> dict[str, str]:
        """Why each of the other students has no result."""
        return {name: f"{s.status}: {s.reason}" for name, s in self.students.items() if s.result is None}


def load_assignment(store: GradesFolder, given: str | None = None) -> spec.Assignment:
    """The assignment a grades folder was graded for (or the one `given`, which must be the same)."""
    recorded = store.setting("assignment_root")
    assignment = spec.load(given or recorded or store.setting("assignment") or "?")
    if store.setting("assignment") and assignment.slug != store.setting("assignment"):
        raise StoreError(f"{store.folder} holds grades of {store.setting('assignment')}, not {assignment.slug} (give "
                         f"{store.setting('assignment')} as the assignment)")
    return assignment


def read_grades(folder: Path, store: GradesFolder | None = None, assignment: spec.Assignment | None = None,
                only: set[str] | None = None) -> Grades:
    """The grades of the folder's store as the views show them (one consistent snapshot of the store); `only`:
    those students alone."""
    own = store is None
    store = store or GradesFolder.reading(folder)
    try:
        assignment = assignment or load_assignment(store)
        with store.snapshot():
            entries = store.entries() if only is None else {
                name: entry for name in only if (entry := store.entry(name)) is not None}
            inputs = store.inputs()
            held, released = store.setting("hold_feedback") == "1", store.setting("released") == "1"
            views = store.view_digests()
        rules = rules_from_inputs(assignment, inputs)
        reviews = _reviews(store.folder, assignment)
        grades = Grades(store.folder, assignment, held=held, released=released)
        current = functools.cache(lambda public_only: assignment_inputs(assignment, public_only))
        for name, entry in entries.items():
            why = _stale(entry, current)
            grades.students[name] = (Shown(name, entry.original, "stale", why, None, entry.at) if why else
                                     _shown(entry, assignment, rules, reviews, released))
        known = set(views) | {f"{name}.json" for name in entries}
        grades.unknown = sorted(p.name for p in store.folder.glob("*.json") if p.name not in known)
        return grades
    finally:
        if own:
            store.close()


def _stale(entry: Entry, current) -> str:
    """Why a graded result is no longer the grade under the assignment and grader now ('' while it is): what a
    view can tell without reading the submission again (`grader grade` and `grader status --check-submissions`
    read it too)."""
    if entry.state != "graded" or entry.result is None or not entry.provenance:
        return ""
    now = current(entry.result.public_only)
    why = stale_because({key: entry.provenance.get(key) for key in now}, now)
    return "; ".join(why) + " since it was graded: the next `grader grade` grades it again" if why else ""


def _shown(entry: Entry, assignment: spec.Assignment, rules: LateRules | None, reviews: dict, released: bool) -> Shown:
    if entry.state != "graded" or entry.result is None:
        return Shown(entry.name, entry.original, _NOT_GRADED.get(entry.state, entry.state), entry.reason, None, entry.at)
    result = copy.deepcopy(entry.result)
    result.hidden_held_back = assignment.hidden_results == "after_release" and not released
    for question in assignment.questions:
        mine = next((q for q in result.questions if q.id == question.id and q.manual), None)
        if mine is None:
            continue
        grade = reviews.get(question.id, {}).get(entry.name)
        mine.rubric = [item.label for item in question.rubric]
        if grade and grade.graded:
            mine.graded, mine.earned, mine.comment = True, grade.score(question), grade.comment
            mine.awarded = [item.label for item in grade.awarded(question)]
        else:
            mine.graded, mine.earned, mine.comment, mine.awarded = False, 0.0, "", []
    if rules is not None:
        rules.apply(entry.name, result, entry.original)
    status, reason = standing(result)
    return Shown(entry.name, entry.original, status, reason, result, entry.at)


def standing(result: GradeResult) -> tuple[str, str]:
    """A graded result's status and reason: whether the code ran, what the late policy did, what is pending."""
    if result.standing != "graded":
        status, _, reason = result.standing.partition(": ")
        return status, reason
    if result.late is not None and result.late.status == "refused":
        return "refused (after the cutoff)", result.late.reason
    if result.pending:
        return "manual grading pending", f"{result.pending:g} points of written answers to grade"
    return "graded", ""


def _reviews(folder: Path, assignment: spec.Assignment) -> dict:
    """The TAs' grades of each manual question, by student."""
    manual = [q for q in assignment.questions if q.manual]
    if not manual:
        return {}
    from grader.course.review.store import Store

    store = Store(folder)
    try:
        return {q.id: store.grades(q.id) for q in manual}
    finally:
        store.close()
