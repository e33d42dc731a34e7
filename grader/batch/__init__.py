"""Grading a whole class into its grades folder: the plan (who is graded again and why), and the backends
(a local grading job, or Slurm) that grade one submission per unit of work."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from grader.batch.command import add_arguments, run_command
from grader.batch.run import Batch, grade_class
from grader.spec import Assignment
from grader.store import ClassFolder, is_class_folder

__all__ = ["Batch", "add_arguments", "grade_batch", "grade_class", "is_class_folder", "run_command"]


def grade_batch(assignment: Assignment, submissions: dict[str, Path], out: Path, jobs: int = 2,
                public_only: bool = False, regrade: bool = False, quiet: bool = True,
                seed: int | None = None) -> Batch:
    """Grade named submissions (name -> path) on this machine into `out`, without a progress bar; `seed`, where
    given, replaces the spec's seed for the tests' random inputs."""
    from grader.batch.local import LocalPool

    if seed is not None:
        assignment = dataclasses.replace(assignment, seed=seed)
    return grade_class(assignment, ClassFolder(entries=dict(submissions)), out, LocalPool(jobs),
                       public_only=public_only, regrade=regrade)
