"""Grade a whole class folder in parallel, one subprocess per submission, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader.reports.gradebook import write_gradebook
from grader.results import GradeResult
from grader.spec import Assignment

SUBMISSION_SUFFIXES = (".py", ".ipynb", ".zip")


def is_class_folder(path: Path, assignment: Assignment) -> bool:
    """A folder is a class (many submissions) unless it holds one of the expected submission files itself."""
    return path.is_dir() and not any((path / name).is_file() for name in assignment.submission)


def submissions_in(folder: Path) -> dict[str, Path]:
    """Each entry of the folder (a file or a sub-folder) is one student's submission, named by its stem."""
    entries = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_symlink():
            continue
        if path.is_dir() or path.suffix in SUBMISSION_SUFFIXES:
            entries.setdefault(path.stem if path.is_file() else path.name, path)
    return entries


@dataclass
class Batch:
    """What a batch produced: a result per graded student, and why grading failed for the others."""

    results: dict[str, GradeResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def grade_batch(assignment: Assignment, submissions: dict[str, Path], out: Path, jobs: int = 2,
                public_only: bool = False, regrade: bool = False, quiet: bool = False, seed: int | None = None) -> Batch:
    """Grade every submission into out/<student>.json (skipping those already graded) and write out/gradebook.csv.

    `seed`, where given, replaces the spec's seed for the tests' random inputs.

    A submission whose grading failed (the grader's fault, never the student's) is retried by the next run.
    """
    out.mkdir(parents=True, exist_ok=True)
    todo = {s: p for s, p in submissions.items() if regrade or not (out / f"{s}.json").exists()}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=quiet, transient=False) as progress:
        task = progress.add_task(f"grading {assignment.slug}", total=len(submissions),
                                 completed=len(submissions) - len(todo))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(_grade_one, assignment, path, out / f"{student}.json", public_only, seed): student
                       for student, path in todo.items()}
            batch = Batch()
            for future in as_completed(futures):
                failure = future.result()
                if failure:
                    batch.failures[futures[future]] = failure
                progress.advance(task)
    for student in submissions:
        try:
            batch.results[student] = GradeResult.from_dict(json.loads((out / f"{student}.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError) as error:
            batch.failures.setdefault(student, f"no readable result ({error})")
    write_gradebook(batch.results, out / "gradebook.csv")
    return batch


def _grade_one(assignment: Assignment, path: Path, target: Path, public_only: bool, seed: int | None) -> str | None:
    """Grade one submission in a fresh grader process; return the grader's error output if it failed."""
    command = [sys.executable, "-m", "grader", "grade", str(assignment.root), str(path), "--json", str(target),
               "--feedback", str(target.with_suffix(".html")), "--quiet"]
    if public_only:
        command.append("--public-only")
    if seed is not None:
        command += ["--seed", str(seed)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if target.exists():
        return None
    failure = (completed.stdout[-5000:] + completed.stderr[-5000:]).strip() or f"exit status {completed.returncode}"
    target.with_suffix(".error.txt").write_text(failure)
    return failure
