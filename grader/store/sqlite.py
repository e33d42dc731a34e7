"""The grades folder's SQLite file: opened in WAL mode (readers never wait for the writer) with a patient
busy timeout, so that every command and the review app share it safely."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

DATABASE = "grades.sqlite"


def connect(path: Path, patience: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, each commit on disk when it returns."""
    db = sqlite3.connect(path, timeout=patience, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout = {int(patience * 1000)}")
    _write_ahead_log(db, patience)
    db.execute("PRAGMA synchronous = FULL")
    return db


def _write_ahead_log(db: sqlite3.Connection, patience: float) -> None:
    """Put the database in WAL mode. While another process opens the same new file, SQLite refuses the
    switch at once ("database is locked") rather than waiting on busy_timeout: try again, for a while."""
    deadline = time.monotonic() + patience
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
