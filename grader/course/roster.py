"""The roster: who the students are, and which submission is whose.

A roster CSV has a row per student: an id, a name, an email and, where the submission's name is not one of
those, the submission's name or LMS submission id (several separated by ';'). A submission named as Canvas's
"download submissions" names files (`doejane_LATE_12345_67890_perceptron.py`: Canvas user id 12345) or as
Gradescope's export names folders (`submission_123456`) is matched by those ids too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.tables import CourseError, pick, read_table

_CANVAS_FILE = re.compile(r"[^_]+_(?:late_)?([0-9]+)_[0-9]+(?:_.*)?")
_GRADESCOPE_FOLDER = re.compile(r"submission_([0-9]+)")


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str = ""
    section: str = ""
    canvas_id: str = ""
    login: str = ""
    keys: tuple[str, ...] = ()   # submission names and LMS submission ids

    def identifiers(self) -> set[str]:
        """Every name this student's submission or manifest row may carry, lower-cased."""
        return {unicodedata.normalize("NFC", value).lower()
                for value in (self.id, self.email, self.login, self.canvas_id, *self.keys) if value}


def submission_keys(name: str) -> set[str]:
    """The identifiers a submission's own name carries: itself, and a Canvas user id or Gradescope submission id."""
    name = unicodedata.normalize("NFC", name).lower()
    keys = {name}
    for pattern in (_CANVAS_FILE, _GRADESCOPE_FOLDER):
        match = pattern.fullmatch(name)
        if match:
            keys.add(match[1])
    return keys


@dataclass
class Match:
    """Submissions matched to students, and what is left over on either side."""

    students: dict[str, Student] = field(default_factory=dict)      # submission name -> student
    unmatched: list[str] = field(default_factory=list)              # submissions of no student on the roster
    missing: list[Student] = field(default_factory=list)            # students with no submission
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # student id -> their several submissions


class Roster:
    def __init__(self, students: list[Student]):
        self.students = students
        self._index: dict[str, Student] = {}
        for student in students:
            for key in student.identifiers():
                self._index.setdefault(key, student)

    def find(self, submission: str) -> Student | None:
        """The student a submission belongs to, or None."""
        return next((self._index[key] for key in sorted(submission_keys(submission)) if key in self._index), None)

    def match(self, submissions) -> Match:
        """Match every submission name to a student; list the unmatched, the missing and the duplicated."""
        match = Match()
        for name in sorted(submissions):
            student = self.find(name)
            if student is None:
                match.unmatched.append(name)
            else:
                match.students[name] = student
        owners: dict[str, list[str]] = {}
        for name, student in match.students.items():
            owners.setdefault(student.id, []).append(name)
        match.duplicates = {sid: names for sid, names in owners.items() if len(names) > 1}
        match.missing = [s for s in self.students if s.id not in owners]
        return match


def read_roster(path: Path, content: bytes | None = None) -> Roster:
    """Read a roster CSV (columns id, name, email; optional submission, section, canvas id, login), from the
    file or from its `content` as a grades folder keeps it."""
    rows = read_table(path, "roster", content)
    id_column = pick(rows, ("id", "student id", "sid", "sis user id", "id number", "student number"), path, "roster")
    name_column = pick(rows, ("name", "student", "full name", "student name"), path, "roster", required=False)
    columns = {attribute: pick(rows, names, path, "roster", required=False) for attribute, names in (
        ("email", ("email", "email address", "e-mail")), ("section", ("section",)),
        ("canvas_id", ("canvas id", "canvas user id")), ("login", ("login", "sis login id", "username")))}
    keys_column = pick(rows, ("submission", "submissions", "submission id", "file"), path, "roster", required=False)
    students, seen = [], set()
    for number, row in enumerate(rows, start=2):
        sid = row.get(id_column, "")
        if not sid:
            raise CourseError(f"{path}, line {number}: no student id")
        if sid in seen:
            raise CourseError(f"{path}, line {number}: the student id {sid!r} is listed twice")
        seen.add(sid)
        keys = tuple(k.strip() for k in row.get(keys_column, "").split(";") if k.strip()) if keys_column else ()
        students.append(Student(id=sid, name=row.get(name_column, "") if name_column else "", keys=keys,
                                **{attribute: row.get(column, "") if column else "" for attribute, column in
                                   columns.items()}))
    return Roster(students)
