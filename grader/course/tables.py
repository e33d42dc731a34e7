"""The CSV files a course hands the grader (rosters, submission-time manifests, extension lists), read leniently.

Headers are matched without regard to case, spaces and underscores, against the names each LMS uses, so a
Gradescope or Canvas export is read as it comes. A file that cannot be used is one CourseError that names it.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path


class CourseError(Exception):
    """A course file (roster, manifest, extensions, grades folder) is missing or unusable; the message says where."""


def read_table(path: Path, what: str, content: bytes | None = None) -> list[dict[str, str]]:
    """The rows of the CSV at `path` (or of its `content`, as a grades folder keeps it), each keyed by its
    normalised header; `what` names the file in errors."""
    try:
        text = (Path(path).read_bytes() if content is None else content).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CourseError(f"{path}: cannot read the {what} ({error})") from None
    if not rows:
        raise CourseError(f"{path}: the {what} is empty (it needs a header row)")
    header = [normalise(name) for name in rows[0]]
    return [dict(zip(header, (cell.strip() for cell in row))) for row in rows[1:] if any(cell.strip() for cell in row)]


def normalise(name: str) -> str:
    """'Submission Time', 'submission_time' and ' SUBMISSION-TIME ' are one column: 'submissiontime'."""
    return re.sub(r"[\s_\-()]+", "", name).lower()


def pick(rows: list[dict[str, str]], names: tuple[str, ...], path: Path, what: str,
         required: bool = True) -> str | None:
    """The first of `names` (normalised) that is a column of `rows`; a CourseError if none is and one is required."""
    columns = rows[0].keys() if rows else ()
    found = next((name for name in map(normalise, names) if name in columns), None)
    if found is None and required and rows:
        raise CourseError(f"{path}: the {what} has none of the columns {', '.join(names)}")
    return found
