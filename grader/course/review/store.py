"""The TAs' grades of manual questions: tables of the grades folder's store, one row per decision.

Every change is one small transaction on its own row (a rubric item given or taken back, a comment,
an answer marked graded), never a read-modify-write of a whole student's record, so two TAs grading
at once (two browser tabs, or two servers on one machine) never undo each other's work. The file is
in WAL mode (readers never wait for a writer) and written at once, so a crash or a closed tab loses
nothing. Points are not stored: a student's score is computed from the rubric as the spec has it
now, so an item whose points are edited re-scores every student who has it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from grader.spec import Question, RubricItem
from grader.store.sqlite import DATABASE, connect

_EARLIER_FILE = "review.sqlite"  # where earlier versions kept the decisions

_SCHEMA = """
CREATE TABLE IF NOT EXISTS marks (student TEXT NOT NULL, question TEXT NOT NULL, item TEXT NOT NULL,
    given INTEGER NOT NULL, by TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (student, question, item));
CREATE TABLE IF NOT EXISTS comments (student TEXT NOT NULL, question TEXT NOT NULL, text TEXT NOT NULL,
    by TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (student, question));
CREATE TABLE IF NOT EXISTS graded (student TEXT NOT NULL, question TEXT NOT NULL, by TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (student, question));
CREATE TABLE IF NOT EXISTS rubric (question TEXT NOT NULL, item TEXT NOT NULL, points REAL NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (question, item));
"""


@dataclass
class Grade:
    """What the TAs decided for one student's answer to one question."""

    given: set[str] = field(default_factory=set)   # ids of the rubric items given
    comment: str = ""
    graded: bool = False

    def awarded(self, question: Question) -> list[RubricItem]:
        """The items of the question's current rubric that were given (items since removed are ignored)."""
        return [item for item in question.rubric if item.id in self.given]

    def score(self, question: Question) -> float:
        """The points of the given items, as the rubric has them now, kept within 0 and the question's points."""
        return round(min(question.points, max(0.0, sum(item.points for item in self.awarded(question)))), 6)


class Store:
    """The review store of one grades folder."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / DATABASE
        # One connection, kept open and shared by the app's threads under a lock: SQLite serialises writers
        # anyway, and closing the last connection of a WAL file checkpoints it, which would cost every write.
        self._db = connect(self.path)  # each change is on disk when the page is told it is saved
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(_SCHEMA)
        self._adopt(Path(folder) / _EARLIER_FILE)

    def _adopt(self, earlier: Path) -> None:
        """Take over the decisions of a review file of earlier versions (review.sqlite), which is left as it was;
        a decision the store already has wins."""
        if not earlier.is_file():
            return
        with self._connect() as db:
            db.execute("ATTACH DATABASE ? AS earlier", (f"file:{earlier}?mode=ro",))
            try:
                db.execute("BEGIN IMMEDIATE")
                for table in ("marks", "comments", "graded", "rubric"):
                    db.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM earlier.{table}")
                db.execute("COMMIT")
            except sqlite3.Error:
                db.execute("ROLLBACK")
            finally:
                db.execute("DETACH DATABASE earlier")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        """Run the statements as one transaction; another process's writer is waited for (busy_timeout)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, values in statements:
                    db.execute(sql, values)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _graded(student: str, question: str, by: str, now: float) -> tuple[str, tuple]:
        return ("INSERT INTO graded VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", (student, question, by, now))

    def set_mark(self, student: str, question: str, item: str, given: bool, by: str = "") -> None:
        """Give (or take back) one rubric item; the answer counts as graded from then on."""
        now = time.time()
        self._write([("INSERT INTO marks VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET given = excluded.given, "
                      "by = excluded.by, at = excluded.at", (student, question, item, int(given), by, now)),
                     self._graded(student, question, by, now)])

    def set_comment(self, student: str, question: str, text: str, by: str = "") -> None:
        """Set the comment on one answer; the answer counts as graded from then on."""
        now = time.time()
        self._write([("INSERT INTO comments VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET text = excluded.text, "
                      "by = excluded.by, at = excluded.at", (student, question, text, by, now)),
                     self._graded(student, question, by, now)])

    def set_graded(self, student: str, question: str, by: str = "") -> None:
        """Mark an answer graded as it stands (no item given is a grade of 0)."""
        self._write([self._graded(student, question, by, time.time())])

    def grades(self, question: str) -> dict[str, Grade]:
        """Every student's grade for the question (students nobody has touched are absent)."""
        return self._select("question", question)

    def grades_of(self, student: str) -> dict[str, Grade]:
        """One student's grades, by question."""
        return self._select("student", student)

    def _select(self, column: str, value: str) -> dict[str, Grade]:
        """Grades where `column` ("student" or "question") is `value`, keyed by the other column."""
        key = {"student": "question", "question": "student"}[column]
        grades: dict[str, Grade] = {}
        with self._connect() as db:
            for (name,) in db.execute(f"SELECT {key} FROM graded WHERE {column} = ?", (value,)):
                grades[name] = Grade(graded=True)
            for name, item in db.execute(f"SELECT {key}, item FROM marks WHERE {column} = ? AND given", (value,)):
                grades.setdefault(name, Grade()).given.add(item)
            for name, text in db.execute(f"SELECT {key}, text FROM comments WHERE {column} = ?", (value,)):
                grades.setdefault(name, Grade()).comment = text
        return grades

    def rubric_changes(self, question: Question) -> list[str]:
        """Record the rubric as grading found it, once; say which items' points have changed since then."""
        self._write([("INSERT INTO rubric VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                      (question.id, item.id, item.points, item.text)) for item in question.rubric])
        with self._connect() as db:
            then = {item: points for item, points in
                    db.execute("SELECT item, points FROM rubric WHERE question = ?", (question.id,))}
            counts = dict(db.execute("SELECT item, COUNT(*) FROM marks WHERE question = ? AND given GROUP BY item",
                                     (question.id,)))
        return [f"{item.text}: worth {then[item.id]:g} points when grading started, {item.points:g} now; the "
                f"{counts.get(item.id, 0)} student{'s' if counts.get(item.id, 0) != 1 else ''} given it "
                f"{'are' if counts.get(item.id, 0) != 1 else 'is'} re-scored"
                for item in question.rubric if abs(then[item.id] - item.points) > 1e-9]
