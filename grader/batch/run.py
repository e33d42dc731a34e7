"""Grade a class: lock the output folder, keep what is still current, grade the rest with a backend
(the local pool or Slurm), write the gradebook, and say who was not graded and why."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from grader.atomic import replacing, write_atomic
from grader.batch.reclaim import RunFolder
from grader.batch.roster import Roster
from grader.batch.task import Outcome
from grader.course.late import rules_from_files
from grader.reports.gradebook import write_gradebook
from grader.results import GradeResult
from grader.runner import GradingError, tests_digest
from grader.spec import Assignment

LOCK_NAME = ".grader.lock"


@dataclass
class Batch:
    """What a batch produced: a result per graded student, and why each of the others was not graded."""

    results: dict[str, GradeResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    kept: int = 0  # results of an earlier run that were still current

    @property
    def exit_status(self) -> int:
        """0 when every student was graded with full marks, 1 when some lost points, 2 when some were not graded."""
        if self.failures:
            return 2
        return 0 if all(_full_marks(r) for r in self.results.values()) else 1


def _full_marks(result: GradeResult) -> bool:
    return not result.problem and all(t.status == "passed" for t in result.tests)


def grade_class(assignment: Assignment, roster: Roster, out: Path, backend, public_only: bool = False,
                regrade: bool = False, wait: bool = False, progress: Callable[[int, int], None] | None = None,
                waiting: Callable[[str], None] | None = None, late: dict[str, str] | None = None,
                hold_feedback: bool = False) -> Batch:
    """Grade every student of the roster into out/<student>.json and write out/gradebook.csv.

    A stored result is kept only when it belongs to the same submission (sha256), assignment version,
    tests (digest) and mode (public-only or full), unless `regrade`. `progress(done, total)` is called as
    students finish. Raises GradingError (one line, naming the path) when the output folder cannot be
    written; a KeyboardInterrupt stops the backend, and every result written before it stays. With `late`
    (the files of the late policy), each result gets the policy's current verdict, those kept from an
    earlier run too, before the gradebook is written. With `hold_feedback`, no feedback page is written.
    """
    digest = tests_digest(assignment, public_only)
    batch = Batch(failures=dict(roster.clashes))
    with output_lock(out, wait, waiting), RunFolder() as run:
        todo = [(s, p) for s, p in roster.entries.items()
                if regrade or not _current(out / f"{s}.json", assignment, p, public_only, digest)]
        batch.kept = len(roster.entries) - len(todo)
        finished = [batch.kept]
        if progress:
            progress(finished[0], len(roster.entries))

        def done(student: str, outcome: Outcome) -> None:
            finished[0] += 1
            if outcome.status == "output":  # every other student would fail alike: stop the backend
                raise GradingError(outcome.message + "; nothing half-written was kept: fix it, then run the same "
                                                     "command again to grade the rest")
            if outcome.status != "graded":
                batch.failures[student] = outcome.message
                _try_write(out / f"{student}.error.txt", outcome.message)
            else:
                _remove(out / f"{student}.error.txt")
            if progress:
                progress(finished[0], len(roster.entries))

        config = {"assignment": str(assignment.root), "public_only": public_only, "out": str(out.resolve()),
                  "late": late, "hold_feedback": hold_feedback, "seed": assignment.seed}
        if todo:
            backend.run(config, todo, run.path, done)
        for student in roster.entries:
            if student in batch.failures:
                continue
            try:
                batch.results[student] = GradeResult.from_dict(json.loads((out / f"{student}.json").read_text()))
            except (OSError, ValueError, KeyError, TypeError) as error:
                batch.failures[student] = f"no readable result ({error})"
        rules = rules_from_files(assignment, late)
        for student, result in batch.results.items() if rules else ():
            rules.apply(student, result)
        try:
            with replacing(out / "gradebook.csv") as temporary:
                write_gradebook(batch.results, temporary)
        except OSError as error:
            raise GradingError(f"cannot write {error.filename}: {error.strerror}") from None
    return batch


@contextlib.contextmanager
def output_lock(out: Path, wait: bool, waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the output folder's lock: a second batch on the same folder refuses (or, with `wait`, waits)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = os.open(out / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as error:
        raise GradingError(f"cannot write the output folder {error.filename or out}: {error.strerror}") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "?"
            message = f"another batch (pid {holder}) is grading into {out}"
            if not wait:
                raise GradingError(f"{message}; wait for it to finish, or pass --wait") from None
            if waiting:
                waiting(f"{message}; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            os.ftruncate(handle, 0)
            os.pwrite(handle, str(os.getpid()).encode(), 0)
        except OSError:
            pass  # the pid is only for the message of a second batch
        yield
    finally:
        os.close(handle)


def _current(target: Path, assignment: Assignment, path: Path, public_only: bool, digest: str) -> bool:
    """Whether a stored result is still the grade of this submission under these tests, seed and mode."""
    try:
        result = GradeResult.from_dict(json.loads(target.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (result.assignment_version == assignment.version and result.tests_digest == digest
            and result.seed == assignment.seed
            and result.public_only == public_only and result.submission_sha256 == submission_sha256(path, assignment))


def submission_sha256(path: Path, assignment: Assignment) -> str:
    """The submission's digest exactly as grading records it (a folder or zip hashes what it holds)."""
    from grader.submission import prepare

    with tempfile.TemporaryDirectory(prefix="grader-digest-") as scratch:
        return prepare(path, assignment.submission, Path(scratch)).sha256


def _try_write(path: Path, text: str) -> None:
    try:
        write_atomic(path, text.encode())
    except OSError:
        pass  # the summary says it too


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
