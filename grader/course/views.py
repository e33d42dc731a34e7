"""The files of a grades folder, rendered from its store and never edited in place.

Each student has `<name>.json` (the result as shown: the TAs' points, the late verdict, the release state)
and `<name>.html` (the feedback page, unless pages are held back) while graded, or `<name>.error.txt` (the
state and why) while not; the class has `gradebook.csv`, and the class-wide views asked for once (the
class report, exports) are rendered again whenever what they show changes. A file is written only when
what it shows changed, or when it is not what was written last (edited or removed by hand); the files of
students the store no longer shows as graded are removed. Class-wide files have names no student's can
have (a student's files are `<safe name>.json|.html|.error.txt`, and a safe name never starts with `_`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.atomic import write_atomic
from grader.course.grades import Grades, Shown, read_grades
from grader.store import GradesFolder, StoreError
from grader.store.provenance import grader_digest

REPORT = "_class-report.html"


@dataclass
class Rendered:
    """What a rendering changed."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    grades: Grades | None = None


def render(store: GradesFolder, assignment=None, only: set[str] | None = None) -> Rendered:
    """Bring every view of the folder in line with its store (and `assignment`, by default the one it records);
    say what changed. With `only`, just those students' own views (as a batch does when each finishes)."""
    grades = read_grades(store.folder, store, assignment, only)
    known = store.view_digests()
    views = _student_views(grades)
    if only is None:
        views.update(_class_views(store, grades))
    else:
        known = {path: digests for path, digests in known.items() if _student_of(path) in only}
    done, record = Rendered(grades=grades), {}
    try:
        for path, (source, make) in views.items():
            target = _target(store.folder, path)
            recorded = known.get(path)
            if recorded and recorded[1] == source and _digest_of(target) == recorded[0]:
                continue
            content = make()
            _write(target, content)
            record[path] = (hashlib.sha256(content).hexdigest(), source)
            done.written.append(path)
        for path in known.keys() - views.keys():
            _remove(_target(store.folder, path))
            record[path] = None
            done.removed.append(path)
        for legacy in _unrecorded_student_files(store.folder, grades, views):
            _remove(store.folder / legacy)  # a page or failure note of a student the store shows otherwise
            done.removed.append(legacy)
    finally:
        store.set_views(record)
    return done


def _student_views(grades: Grades) -> dict:
    """Each student's views: path -> (what it is rendered from, how to render it)."""
    views = {}
    pages = not grades.held or grades.released
    for name, shown in grades.students.items():
        if shown.result is None:
            text = f"{shown.status}: {shown.reason}\n".encode()
            views[f"{name}.error.txt"] = (hashlib.sha256(text).hexdigest(), lambda text=text: text)
            continue
        data = json.dumps({**shown.result.to_dict(), "status": shown.status, "reason": shown.reason},
                          indent=2).encode()
        source = hashlib.sha256(data + grader_digest().encode()).hexdigest()  # a new grader renders pages anew
        views[f"{name}.json"] = (source, lambda data=data: data)
        if pages:
            views[f"{name}.html"] = (source, lambda shown=shown: _page(shown))
    return views


def _page(shown: Shown) -> bytes:
    from grader.notebook import Cell
    from grader.reports.feedback import to_feedback_html

    return to_feedback_html(shown.result, [Cell(**cell) for cell in shown.result.code]).encode()


def _class_views(store: GradesFolder, grades: Grades) -> dict:
    """The gradebook, and every class-wide view asked for once (a report, an export)."""
    from grader.reports.gradebook import write_gradebook

    state = hashlib.sha256(json.dumps([grader_digest(), *sorted(
        (name, s.status, s.reason, s.result and s.result.to_dict()) for name, s in grades.students.items())],
        default=str).encode()).hexdigest()
    views = {"gradebook.csv": (state, lambda: _csv(lambda out: write_gradebook(list(grades.students.values()), out)))}
    inputs = {kind: value.digest for kind, value in store.inputs().items()}
    for path, (kind, options) in store.renders().items():
        source = hashlib.sha256(json.dumps([state, inputs, kind, options], sort_keys=True).encode()).hexdigest()
        views[path] = (source, lambda kind=kind, options=options: class_view(kind, options, store, grades))
    return views


def class_view(kind: str, options: dict, store: GradesFolder, grades: Grades) -> bytes:
    """A class-wide view: the class report, or an export in an LMS's format."""
    if kind == "report":
        from grader.course.class_report import class_report
        return class_report(grades).encode()
    if kind == "export":
        from grader.course.export import match, write_export
        from grader.course.roster import read_roster
        roster = store.inputs().get("roster")
        roster = read_roster(Path(roster.path), roster.content) if roster else None
        matched = match(grades.students, roster)
        column = options["column"] or grades.assignment.title
        return _csv(lambda out: write_export(grades.students, matched, options["format"], out, column))
    raise StoreError(f"unknown view {kind!r} in {store.folder}")


def _csv(write) -> bytes:
    """What a CSV renderer writes, as the bytes of a UTF-8 file."""
    out = io.StringIO(newline="")
    write(out)
    return out.getvalue().encode("utf-8")


def _unrecorded_student_files(folder: Path, grades: Grades, views: dict) -> list[str]:
    """Student files in the folder that no view of the store is (left by hand, or by a store-less grader)."""
    names = set(grades.students)
    found = []
    for suffix in (".html", ".error.txt"):
        for path in folder.glob(f"*{suffix}"):
            if path.name[: -len(suffix)] in names and path.name not in views:
                found.append(path.name)
    return found


def _student_of(path: str) -> str:
    """The student a view of theirs belongs to ('' for a class-wide view)."""
    for suffix in (".json", ".html", ".error.txt"):
        if path.endswith(suffix) and "/" not in path:
            return path[: -len(suffix)]
    return ""


def _target(folder: Path, path: str) -> Path:
    return Path(path) if os.path.isabs(path) else folder / path


def _digest_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _write(path: Path, content: bytes) -> None:
    try:
        write_atomic(path, content)
    except OSError as error:
        raise StoreError(f"cannot write {error.filename or path}: {error.strerror or error}") from None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as error:
        raise StoreError(f"cannot remove {path}: {error.strerror}") from None


