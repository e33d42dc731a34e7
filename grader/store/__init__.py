"""The grades folder: its store (one SQLite file, the one source of truth of every grade shown), the class
folder it is graded from, and the provenance that decides when a stored result is stale.

This is the lowest layer of course operations: batch/, course/ and reports/ use it, never the reverse."""

from grader.store.classfolder import (ClassFolder, is_class_folder, read_class_folder, safe_name, shown,
                                      submission_name)
from grader.store.folder import STATES, Entry, GradesFolder, Input, StoreError
from grader.store.provenance import assignment_inputs, provenance, stale_because, submission_sha256

__all__ = ["STATES", "ClassFolder", "Entry", "GradesFolder", "Input", "StoreError", "assignment_inputs",
           "is_class_folder", "provenance", "read_class_folder", "safe_name", "shown", "stale_because",
           "submission_name", "submission_sha256"]
