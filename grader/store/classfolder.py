"""Who a class folder holds: one submission per student, and every entry that cannot be graded, said aloud.

A folder given to `grader grade` is one submission when it holds a file with one of the spec's
submission names, and a class otherwise (or always, with `--class`). In a class each entry is one
student: a .py, .ipynb or .zip file (named by its stem) or a sub-folder (named by itself, graded as
that student's submission even when it holds no submission file). Entries whose names differ only by
suffix, case or Unicode normalisation cannot be told apart and are reported, not graded; anything else
(hidden files, links, other file types) is listed as skipped. A name that is not plain ASCII letters,
digits, '.', '_' and '-' is graded under a safe name with a digest of the original appended.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from grader.results import clean_text
from grader.store.folder import StoreError
from grader.store.sqlite import DATABASE
from grader.spec import Assignment

SUBMISSION_SUFFIXES = (".py", ".ipynb", ".zip")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass
class ClassFolder:
    """The students of a class folder: those to grade, those that clash, and the entries skipped."""

    entries: dict[str, Path] = field(default_factory=dict)   # safe student name -> submission
    clashes: dict[str, str] = field(default_factory=dict)    # safe student name -> why it is not graded
    skipped: list[str] = field(default_factory=list)         # "name: why", for entries that are no submission
    originals: dict[str, str] = field(default_factory=dict)  # safe student name -> the entry's name as submitted


def is_class_folder(path: Path, assignment: Assignment, force: bool = False) -> bool:
    """A folder is a class unless it holds one of the expected submission files itself (`force`: a class anyway)."""
    return path.is_dir() and (force or not any((path / name).is_file() for name in assignment.submission))


def read_class_folder(folder: Path, exclude: Path | None = None) -> ClassFolder:
    """Each entry of the folder is one student's submission; see the module's docstring for the rules. The
    output folder `exclude` (and any grades folder) is never a student, wherever it is placed."""
    roster, groups = ClassFolder(), {}
    try:
        paths = sorted(folder.iterdir())
    except OSError as error:
        raise StoreError(f"cannot read the class folder {folder}: {error.strerror}") from None
    for path in paths:
        reason = _skip_reason(path, exclude)
        if reason:
            roster.skipped.append(f"{shown(path.name)}: {reason}")
            continue
        stem = submission_name(path)
        groups.setdefault(unicodedata.normalize("NFKC", stem).casefold(), []).append(path)
    for paths in groups.values():
        first = paths[0]
        stem = submission_name(first)
        name = safe_name(stem, taken=roster.entries.keys() | roster.clashes.keys())
        roster.originals[name] = unicodedata.normalize("NFC", shown(stem))
        if len(paths) == 1:
            roster.entries[name] = first
        else:
            roster.clashes[name] = (", ".join(shown(p.name) for p in paths) + " cannot be told apart (the same name "
                                    "but for suffix, case or Unicode normalisation): keep one, then grade again")
    return roster


def submission_name(path: Path) -> str:
    """The name an entry of a class folder is submitted under: a folder's name, a file's stem."""
    return path.name if path.is_dir() else path.stem


def _skip_reason(path: Path, exclude: Path | None) -> str | None:
    if path.name.startswith("."):
        return "hidden"
    if path.is_symlink():
        return "a link (links are not followed)"
    if path.is_dir() and ((path / DATABASE).exists() or exclude is not None and path.resolve() == exclude.resolve()):
        return "a grades folder (the grader's output), not a submission"
    if not path.is_dir() and path.suffix not in SUBMISSION_SUFFIXES:
        return "not a .py, .ipynb or .zip file, nor a folder"
    return None


def shown(name: str) -> str:
    """A file name as reports show it: control and bidi characters escaped, undecodable bytes as U+FFFD."""
    return clean_text(name)


def safe_name(stem: str, taken=frozenset()) -> str:
    """The student's name as results and gradebook use it: the stem itself when plain, else an ASCII
    rendering of it with a digest of its bytes appended, so that two odd names never share one."""
    if _PLAIN.fullmatch(stem) and stem not in taken:
        return stem
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text).strip("._-")[:60] or "student"
    digest = hashlib.sha256(os.fsencode(stem)).hexdigest()
    for length in range(8, 65, 8):
        name = f"{base}-{digest[:length]}"
        if name not in taken:
            return name
    raise ValueError(f"no free name for {stem!r}")
