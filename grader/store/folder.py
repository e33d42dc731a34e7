"""One grades folder's store: each student's current state and result with what determined it, the course
inputs the views apply (manifest, extensions, roster), the views rendered from it, and the runs that wrote it.

The store is `grades.sqlite` in the folder. Every command that writes (grade, regrade, resume, review
--export, feedback, report, export) opens it as the writer: it holds an exclusive lock on the file for as
long as it runs, so writers take turns, and each change is one transaction. Readers (status, the review
app) read a consistent snapshot at any time. Grading processes never write here: they hand their results
to the writer, which records them under its run's id; a process of an ended run has nothing to write with.

A result is kept here as graded (no late verdict, no TA's points): what a view shows is derived when it is
rendered. A student is in one state:
- graded: the result is the grade of the current submission under the current inputs;
- stale: an input changed since grading (the reason says which); graded again by the next `grader grade`;
- failed: the latest grading failed for the grader's reasons; interrupted: it was stopped before it finished;
- clash: the class folder holds entries that cannot be told apart; missing: no submission there now.
Only a graded student has a result: no other state shows a score, however the student was graded before.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from grader.results import GradeResult, clean_text
from grader.store.sqlite import DATABASE, connect

STATES = ("graded", "stale", "failed", "interrupted", "clash", "missing")
INPUTS = ("manifest", "extensions", "roster")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS students (name TEXT PRIMARY KEY, original TEXT NOT NULL, source TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL, result TEXT, provenance TEXT, run TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS inputs (kind TEXT PRIMARY KEY, path TEXT NOT NULL, content BLOB NOT NULL,
    digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, command TEXT NOT NULL, pid INTEGER NOT NULL,
    started REAL NOT NULL, ended REAL, outcome TEXT);
CREATE TABLE IF NOT EXISTS views (path TEXT PRIMARY KEY, digest TEXT NOT NULL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS renders (path TEXT PRIMARY KEY, kind TEXT NOT NULL, options TEXT NOT NULL);
"""


class StoreError(Exception):
    """The grades folder cannot be used (none there, another writer, a full disk); the message says where."""


@dataclass
class Entry:
    """One student of the folder as the store has them now."""

    name: str                 # the safe name: the stem of the student's views
    original: str             # the entry's name in the class folder, as manifests and rosters know it
    source: str               # where the submission was read from
    state: str
    reason: str
    result: GradeResult | None
    provenance: dict | None
    run: str
    at: float


@dataclass
class Input:
    """A course file the views apply, as the store keeps it (its content, not only its path)."""

    kind: str
    path: str
    content: bytes
    digest: str


class GradesFolder:
    """The store of one grades folder; use `GradesFolder.reading(folder)` or `GradesFolder.writing(folder)`."""

    def __init__(self, folder: Path, db: sqlite3.Connection, lock: int | None):
        self.folder = folder
        self._db = db
        self._lock = lock
        self.run: str | None = None

    # -- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def reading(cls, folder: Path) -> "GradesFolder":
        """Open an existing store to read it."""
        path = Path(folder) / DATABASE
        if not Path(folder).is_dir():
            raise StoreError(f"{folder}: no such grades folder (give the folder `grader grade --out` wrote)")
        if not path.is_file():
            raise StoreError(f"{folder}: not a grades folder (it has no {DATABASE}; `grader grade <assignment> "
                             f"<class folder> --out {folder}` makes one)")
        return cls(Path(folder), _open(path), None)

    @classmethod
    def writing(cls, folder: Path, command: str, create: bool = False, wait: bool = False,
                waiting: Callable[[str], None] | None = None) -> "GradesFolder":
        """Open the store as its one writer for `command` (creating folder and store with `create`); another
        writer makes this refuse, or with `wait`, wait for it."""
        folder = Path(folder)
        path = folder / DATABASE
        if not create and not path.is_file():
            cls.reading(folder)  # raises with the reason
        try:
            if create:
                folder.mkdir(parents=True, exist_ok=True)
            lock = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as error:
            raise StoreError(f"cannot write the output folder {error.filename or folder}: {error.strerror}") from None
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(path)
                message = f"another command ({holder}) is writing {folder}"
                if not wait:
                    raise StoreError(f"{message}; wait for it to finish, or pass --wait") from None
                if waiting:
                    waiting(f"{message}; waiting for it to finish")
                fcntl.flock(lock, fcntl.LOCK_EX)
            store = cls(folder, _open(path), lock)
        except BaseException:
            os.close(lock)  # no SQLite connection of this process is open on the file yet: no lock is lost
            raise
        store.run = store._begin(command)
        return store

    def close(self, outcome: str = "done") -> None:
        """End the run (with `outcome`), close the database, then release the lock (in that order: closing
        another descriptor of the file first would drop SQLite's own locks of this process)."""
        try:
            if self.run is not None:
                self._write([("UPDATE runs SET ended = ?, outcome = ? WHERE id = ?", (time.time(), outcome, self.run))])
        except (sqlite3.Error, StoreError):
            pass  # the run's record only
        finally:
            self._db.close()
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def __enter__(self) -> "GradesFolder":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close("done" if kind is None else "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed")

    # -- runs ------------------------------------------------------------------------------------------------

    def _begin(self, command: str) -> str:
        run = uuid.uuid4().hex[:12]
        self._write([("INSERT INTO runs VALUES (?, ?, ?, ?, NULL, NULL)", (run, command, os.getpid(), time.time()))])
        return run

    def _fence(self) -> str:
        """The run every write is signed with; only the writer that holds the lock has one."""
        if self.run is None or self._lock is None:
            raise StoreError(f"{self.folder}: opened for reading, not writing")
        return self.run

    # -- students --------------------------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        """Every student the store knows, by name."""
        rows = self._db.execute("SELECT name, original, source, state, reason, result, provenance, run, at "
                                "FROM students ORDER BY name").fetchall()
        return {row[0]: _entry(row) for row in rows}

    def entry(self, name: str) -> Entry | None:
        row = self._db.execute("SELECT name, original, source, state, reason, result, provenance, run, at "
                               "FROM students WHERE name = ?", (name,)).fetchone()
        return _entry(row) if row else None

    def record(self, name: str, original: str, source: str, result: GradeResult, provenance: dict) -> None:
        """Store a finished grading as the student's current result."""
        self._put(name, original, source, "graded", "", json.dumps(result.to_dict()), json.dumps(provenance))

    def mark(self, name: str, state: str, reason: str, original: str | None = None, source: str | None = None) -> None:
        """Put a student in a state without a result (a failed or interrupted grading, a clash, ...)."""
        if state not in STATES or state == "graded":
            raise ValueError(f"not a state without a result: {state}")
        known = self.entry(name)
        self._put(name, original if original is not None else known.original if known else name,
                  source if source is not None else known.source if known else "", state, reason, None, None)

    def _put(self, name, original, source, state, reason, result, provenance) -> None:
        run = self._fence()
        source = os.fsencode(source)  # a path's bytes, whatever they are: SQLite's text must be valid UTF-8
        original, reason = clean_text(original), clean_text(reason)
        self._write([("INSERT INTO students VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                      "original = excluded.original, source = excluded.source, state = excluded.state, "
                      "reason = excluded.reason, result = excluded.result, provenance = excluded.provenance, "
                      "run = excluded.run, at = excluded.at",
                      (name, original, source, state, reason, result, provenance, run, time.time()))])

    # -- course inputs and settings --------------------------------------------------------------------------

    def inputs(self) -> dict[str, Input]:
        """The course files the views apply, by kind."""
        return {row[0]: Input(*row) for row in self._db.execute("SELECT kind, path, content, digest FROM inputs")}

    def set_input(self, kind: str, path: Path) -> bool:
        """Keep the file's current content as the course's `kind`; say whether it changed."""
        if kind not in INPUTS:
            raise ValueError(kind)
        try:
            content = Path(path).read_bytes()
        except OSError as error:
            raise StoreError(f"{path}: cannot read the {kind} ({error.strerror})") from None
        digest = hashlib.sha256(content).hexdigest()
        known = self.inputs().get(kind)
        if known is not None and known.digest == digest and known.path == str(path):
            return False
        self._fence()
        self._write([("INSERT INTO inputs VALUES (?, ?, ?, ?) ON CONFLICT (kind) DO UPDATE SET path = excluded.path, "
                      "content = excluded.content, digest = excluded.digest", (kind, str(path), content, digest))])
        return known is None or known.digest != digest

    def setting(self, key: str, default: str = "") -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self._fence()
        self._write([("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      (key, value))])

    # -- views -----------------------------------------------------------------------------------------------

    def view_digests(self) -> dict[str, tuple[str, str]]:
        """The views rendered so far (paths relative to the folder, or absolute outside it): the digest of each
        file as written, and the digest of what it was rendered from."""
        return {path: (digest, source) for path, digest, source in self._db.execute("SELECT path, digest, source FROM views")}

    def set_views(self, written: dict[str, tuple[str, str] | None]) -> None:
        """Record views written (path -> (digest, source)) and removed (path -> None), in one transaction."""
        self._fence()
        self._write([("DELETE FROM views WHERE path = ?", (path,)) if digests is None else
                     ("INSERT INTO views VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, "
                      "source = excluded.source", (path, *digests)) for path, digests in written.items()])

    def renders(self) -> dict[str, tuple[str, dict]]:
        """The class-wide views asked for once (a report, an export) and rendered again with every change."""
        return {path: (kind, json.loads(options)) for path, kind, options in
                self._db.execute("SELECT path, kind, options FROM renders")}

    def add_render(self, path: str, kind: str, options: dict) -> None:
        self._fence()
        self._write([("INSERT INTO renders VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, "
                      "options = excluded.options", (path, kind, json.dumps(options, sort_keys=True)))])

    # -- transactions ----------------------------------------------------------------------------------------

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        """Run the statements as one transaction; a full disk or a read-only folder is a StoreError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, values in statements:
                    self._db.execute(sql, values)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            raise StoreError(f"cannot write {self.folder / DATABASE}: {_plain(error)}") from None

    def snapshot(self) -> Iterator[None]:
        """A read transaction: what is read inside it is one state of the store."""
        return _Snapshot(self._db)


class _Snapshot:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, *exc) -> None:
        self.db.execute("COMMIT")


def _open(path: Path) -> sqlite3.Connection:
    try:
        db = connect(path)
        db.executescript(_SCHEMA)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot open {path}: {_plain(error)}") from None
    return db


def _plain(error: sqlite3.Error) -> str:
    text = str(error)
    return "No space left on device (the disk is full)" if "full" in text else text


def _holder(path: Path) -> str:
    """Which command holds the store, as its latest unfinished run says (for the message of the one refused)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        row = db.execute("SELECT command, pid FROM runs WHERE ended IS NULL ORDER BY started DESC LIMIT 1").fetchone()
        db.close()
    except sqlite3.Error:
        row = None
    return f"grader {row[0]}, pid {row[1]}" if row else "another grader"


def _entry(row) -> Entry:
    name, original, source, state, reason, result, provenance, run, at = row
    return Entry(name, original, os.fsdecode(source), state, reason, GradeResult.from_dict(json.loads(result)) if result else None,
                 json.loads(provenance) if provenance else None, run, at)
