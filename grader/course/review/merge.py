"""Publish the TAs' grades: render every view of the grades folder again (results, feedback pages, gradebook,
and the class-wide views asked for) as its one writer, now that the review's decisions have changed.

The views derive each manual question's points from the review's decisions and the spec's current rubric
(grader.course.grades), so publishing twice gives the same files, and a regrade running at the same time
either finishes first or waits: the store's lock makes them take turns, and neither overwrites the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.course.grades import load_assignment
from grader.course.views import render
from grader.spec import Assignment
from grader.store import GradesFolder


@dataclass
class Merged:
    """What publishing did."""

    students: int = 0
    graded: int = 0                 # answers graded by a TA, over all students and manual questions
    pending: int = 0                # answers still to grade
    written: int = 0                # files written again


def merge(assignment: Assignment, folder: Path, wait: bool = True) -> Merged:
    """Render the folder's views from its store and the review's current decisions; count the answers."""
    with GradesFolder.writing(folder, "review --export", wait=wait) as store:
        load_assignment(store, str(assignment.root))  # the folder must hold this assignment's grades
        done = render(store, assignment)
    merged = Merged(students=len(done.grades.results), written=len(done.written))
    for result in done.grades.results.values():
        for question in result.questions:
            if question.manual:
                merged.graded += question.graded
                merged.pending += not question.graded
    return merged
