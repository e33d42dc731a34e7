"""Grade one student of a batch into the output folder: the unit of work of every backend.

The result is written (feedback page first, then `<student>.json`, each to a unique temporary name
renamed into place) only once grading finished; a grading that was interrupted writes nothing, so the
next run grades that student again.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.atomic import write_atomic
from grader.sandbox.space import remove_tree


class Interrupted(KeyboardInterrupt):
    """The grading was stopped from outside (the batch was interrupted); nothing may be written."""


@dataclass
class Outcome:
    """How one student's grading ended: "graded", "failed" (the grader's fault: retried on resume) or
    "output" (the output folder cannot be written: the batch stops)."""

    status: str
    message: str = ""

    def to_dict(self) -> dict:
        return {"status": self.status, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict) -> "Outcome":
        return cls(str(data.get("status", "failed")), str(data.get("message", "")))


_stop: dict = {"signal": None}


def stop_on(*signals: signal.Signals) -> None:
    """From now on these signals interrupt the grading in this process: its sandboxes are closed, nothing is written."""
    def handler(signum, frame):
        for other in signals:
            signal.signal(other, signal.SIG_IGN)
        _stop["signal"] = signal.Signals(signum).name
        raise Interrupted()
    for signum in signals:
        signal.signal(signum, handler)


def grade_into(config: dict, student: str, path: str, reference_cache=None) -> Outcome:
    """Grade the submission at `path` as the batch's `config` says (assignment, public_only, out, late,
    hold_feedback) and write out/<student>.json and .html (unless the feedback is held back); say how it ended."""
    from grader import spec
    from grader.course.late import rules_from_files
    from grader.course.tables import CourseError
    from grader.runner import GradingError, grade
    from grader.variants import for_submission

    out = config["out"]
    target = Path(out) / f"{student}.json"
    scratch = Path(tempfile.mkdtemp(prefix="grader-feedback-"))
    page = scratch / "feedback.html"  # moved beside the result only once the grading is complete

    def deliver(result) -> None:
        if _stop["signal"]:
            raise Interrupted()
        if not config.get("hold_feedback"):
            write_atomic(target.with_suffix(".html"), page.read_bytes())
        write_atomic(target, json.dumps(result.to_dict(), indent=2).encode())

    try:
        assignment = dataclasses.replace(spec.load(config["assignment"]), seed=config["seed"])
        rules = rules_from_files(assignment, config.get("late"))
        roster = (config.get("late") or {}).get("roster")  # an exam with variants: the student's own paper
        grade(assignment, Path(path), public_only=config["public_only"],
              feedback=None if config.get("hold_feedback") else page, deliver=deliver,
              adjust=rules and (lambda result: rules.apply(student, result)), reference_cache=reference_cache,
              variant=for_submission(assignment, Path(roster), student) if roster else None)
    except KeyboardInterrupt:  # Interrupted, or pytest's report of it (the grading never finished)
        return Outcome("failed", f"interrupted ({_stop['signal'] or 'SIGINT'}) before it finished; the next run grades it")
    except (spec.SpecError, GradingError, CourseError) as error:
        return Outcome("failed", str(error))
    except OSError as error:
        where = error.filename or path
        if where and Path(where).resolve().is_relative_to(Path(out).resolve()):
            return Outcome("output", f"cannot write {where}: {error.strerror or error}")
        return Outcome("failed", f"cannot read {where}: {error.strerror or error}")
    finally:
        remove_tree(scratch)
    return Outcome("graded")
