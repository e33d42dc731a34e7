"""Grade one student of a batch: the unit of work of every backend.

A grading process never writes into the grades folder: its outcome (with the result, once grading finished)
goes back to the batch, which records it in the store. A grading that was interrupted says so and has no
result, so the next run grades that student again.
"""

from __future__ import annotations

import dataclasses
import json
import signal
from dataclasses import dataclass
from pathlib import Path


class Interrupted(KeyboardInterrupt):
    """The grading was stopped from outside (the batch was interrupted); it has no result."""


@dataclass
class Outcome:
    """How one student's grading ended: "graded" (with the result), "failed" (the grader's fault: graded again
    by the next run) or "interrupted"."""

    status: str
    message: str = ""
    result: dict | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "message": self.message, "result": self.result}

    @classmethod
    def from_dict(cls, data: dict) -> "Outcome":
        result = data.get("result")
        return cls(str(data.get("status", "failed")), str(data.get("message", "")),
                   result if isinstance(result, dict) else None)


_stop: dict = {"signal": None}


def stop_on(*signals: signal.Signals) -> None:
    """From now on these signals interrupt the grading in this process: its sandboxes are closed, nothing is kept."""
    def handler(signum, frame):
        for other in signals:
            signal.signal(other, signal.SIG_IGN)
        _stop["signal"] = signal.Signals(signum).name
        raise Interrupted()
    for signum in signals:
        signal.signal(signum, handler)


def grade_into(config: dict, student: str, path: str, reference_cache=None, reference_sandbox=None,
               zygote=None) -> Outcome:
    """Grade the submission at `path` as the batch's `config` says (assignment, public_only, seed, and the file
    of an exam's papers); say how it ended, with the result as graded (the batch applies the late policy and the
    TAs' points when it renders). `reference_cache`, `reference_sandbox` and `zygote`: a batch job's, lent to
    this grading (see grader.runner.grade)."""
    from grader import spec
    from grader.course.tables import CourseError
    from grader.runner import GradingError, grade

    try:
        assignment = dataclasses.replace(spec.load(config["assignment"]), seed=config["seed"])
        result = grade(assignment, Path(path), public_only=config["public_only"], reference_cache=reference_cache,
                       variant=_paper(config, student), reference_sandbox=reference_sandbox, zygote=zygote)
    except KeyboardInterrupt:  # Interrupted, or pytest's report of it (the grading never finished)
        return interrupted()
    except (spec.SpecError, GradingError, CourseError) as error:
        return Outcome("failed", str(error))
    except OSError as error:
        return Outcome("failed", f"cannot read {error.filename or path}: {error.strerror or error}")
    if _stop["signal"]:
        return interrupted()
    return Outcome("graded", result=result.to_dict())


def interrupted() -> Outcome:
    """The outcome of a grading stopped before it finished (by the signal `stop_on` caught, else Ctrl-C)."""
    return Outcome("interrupted", f"interrupted ({_stop['signal'] or 'SIGINT'}) before it finished; the next run grades it")


def _paper(config: dict, student: str):
    """An exam with variants: the paper the batch drew for the student's owner (a CourseError where none owns it)."""
    if not config.get("papers"):
        return None
    from grader.course.tables import CourseError
    from grader.variants import Variant
    paper = json.loads(Path(config["papers"]).read_text())[student]
    if "error" in paper:
        raise CourseError(paper["error"])
    return Variant.from_dict(paper)
