"""Grading a whole class into its grades folder: the plan (who is graded again and why), and the backends
(a local grading job, or Slurm) that grade one submission per unit of work.

Nothing is imported here: grading one submission loads none of the class-running modules.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.batch.run import Batch
    from grader.spec import Assignment

__all__ = ["grade_batch"]


def grade_batch(assignment: Assignment, submissions: dict[str, Path], out: Path, jobs: int = 2,
                public_only: bool = False, regrade: bool = False, quiet: bool = True,
                seed: int | None = None) -> Batch:
    """Grade named submissions (name -> path) on this machine into `out`, without a progress bar; `seed`, where
    given, replaces the spec's seed for the tests' random inputs."""
    from grader.batch.local import LocalPool
    from grader.batch.run import grade_class
    from grader.store import ClassFolder

    if seed is not None:
        assignment = dataclasses.replace(assignment, seed=seed)
    return grade_class(assignment, ClassFolder(entries=dict(submissions)), out, LocalPool(jobs),
                       public_only=public_only, regrade=regrade)
