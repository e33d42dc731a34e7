"""A grades folder as `grader grade` leaves it: `<student>.json` results, `<student>.error.txt` failures, gradebook.csv."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.results import GradeResult


@dataclass
class Grades:
    """The results read from a grades folder, and why the others have none."""

    folder: Path
    results: dict[str, GradeResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)   # student -> why there is no usable result


def read_grades(folder: Path) -> Grades:
    """Read every result of the folder; an unreadable one, or a grading failure without a result, is a failure."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such grades folder (give the folder `grader grade --out` wrote)")
    grades = Grades(folder)
    for path in sorted(folder.glob("*.json")):
        try:
            grades.results[path.stem] = GradeResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            grades.failures[path.stem] = f"its result {path.name} cannot be read ({type(error).__name__}: {error})"
    for path in sorted(folder.glob("*.error.txt")):
        student = path.name[: -len(".error.txt")]
        if student not in grades.results:
            lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            grades.failures.setdefault(student, "grading failed: " + (lines[-1] if lines else "no message"))
    return grades


def write_result(path: Path, result: GradeResult) -> bool:
    """Write the result as JSON, atomically, unless the file already holds exactly that; say whether it wrote."""
    data = json.dumps(result.to_dict(), indent=2)
    if path.exists() and path.read_text(encoding="utf-8") == data:
        return False
    partial = path.with_name(path.name + ".partial")
    partial.write_text(data, encoding="utf-8")
    os.replace(partial, path)
    return True
