"""Late policy and extensions: each submission's time (from a manifest) against its deadline (from the spec,
moved by an extension), as a LatePenalty on its result.

The verdict is recomputed from the current manifest and extension list each time results are reported or
exported, so an extension granted after grading changes the penalty without grading again. A submission
whose time the manifest lacks is reported as such ("no time"), never assumed on time. The same policy,
with `opens` and a cutoff, is an exam's window.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from grader.course.roster import Roster, read_roster, submission_keys
from grader.course.tables import CourseError, pick, read_table
from grader.results import GradeResult, LatePenalty
from grader.spec import LatePolicy, parse_duration, parse_time

# The columns that name a student or a submission in a TA's file, Gradescope's grade export (SID, Email,
# Submission ID, Submission Time) and Canvas's submissions API (user_id, submitted_at).
KEY_COLUMNS = ("student", "submission", "sid", "student id", "id", "submission id", "email", "user id",
               "sis user id", "login")
_TIME_COLUMNS = ("submitted", "submission time", "submitted at", "time", "created at", "timestamp")


def _keys(row: dict[str, str], columns: list[str]) -> set[str]:
    return {row[c].lower() for c in columns if row.get(c)}


def _key_columns(rows, path: Path, what: str) -> list[str]:
    columns = [c for c in (pick(rows, (name,), path, what, required=False) for name in KEY_COLUMNS) if c]
    if rows and not columns:
        raise CourseError(f"{path}: the {what} has none of the columns {', '.join(KEY_COLUMNS)}")
    return columns


class Manifest:
    """Each submission's time, found by any identifier of the submission or its student."""

    def __init__(self, times: dict[str, dt.datetime | None]):
        self.times = times

    @classmethod
    def read(cls, path: Path, zone: dt.tzinfo) -> "Manifest":
        """Read a manifest CSV; a time without a zone is read in `zone` (the deadline's); an empty time is None."""
        rows = read_table(path, "manifest")
        columns = _key_columns(rows, path, "manifest")
        time_column = pick(rows, _TIME_COLUMNS, path, "manifest")
        times: dict[str, dt.datetime | None] = {}
        for number, row in enumerate(rows, start=2):
            try:
                time = parse_time(row[time_column], zone) if row.get(time_column) else None
            except ValueError as error:
                raise CourseError(f"{path}, line {number}: {error}") from None
            for key in _keys(row, columns):  # several rows of one student: the latest time counts
                earlier = times.get(key)
                times[key] = time if earlier is None or (time is not None and time > earlier) else earlier
        return cls(times)

    def time(self, keys: set[str]) -> dt.datetime | None:
        """The time of the first of `keys` the manifest lists with a time."""
        return next((self.times[k] for k in sorted(keys) if self.times.get(k)), None)


class Extensions:
    """Per-student extensions: extra time, or a new deadline."""

    def __init__(self, grants: dict[str, dt.timedelta | dt.datetime]):
        self.grants = grants

    @classmethod
    def read(cls, path: Path, zone: dt.tzinfo) -> "Extensions":
        """Read an extension CSV: a student column and `extra` ('2 days') or `deadline` (a time) per row."""
        rows = read_table(path, "extension list")
        columns = _key_columns(rows, path, "extension list")
        extra = pick(rows, ("extra", "extra time", "extension"), path, "extension list", required=False)
        deadline = pick(rows, ("deadline", "new deadline", "due"), path, "extension list", required=extra is None)
        grants: dict[str, dt.timedelta | dt.datetime] = {}
        for number, row in enumerate(rows, start=2):
            try:
                if extra and row.get(extra):
                    grant = parse_duration(row[extra])
                elif deadline and row.get(deadline):
                    grant = parse_time(row[deadline], zone)
                else:
                    raise ValueError("neither extra time nor a new deadline")
            except ValueError as error:
                raise CourseError(f"{path}, line {number}: {error}") from None
            grants.update(dict.fromkeys(_keys(row, columns), grant))
        return cls(grants)

    def grant(self, keys: set[str]) -> dt.timedelta | dt.datetime | None:
        return next((self.grants[k] for k in sorted(keys) if k in self.grants), None)


def assess(policy: LatePolicy, max_score: float, submitted: dt.datetime | None,
           grant: dt.timedelta | dt.datetime | None = None) -> LatePenalty:
    """The policy's verdict on a submission made at `submitted` (None: unknown) with an extension `grant`."""
    due = grant if isinstance(grant, dt.datetime) else policy.deadline + (grant or dt.timedelta(0))
    extended = f" (extended from {_when(policy.deadline)})" if due != policy.deadline else ""
    if submitted is None:
        return LatePenalty("no time", f"no submission time in the manifest: lateness not assessed (due {_when(due)})")
    at = f"submitted {_when(submitted)}"
    if policy.opens and submitted < policy.opens:  # an extension moves the close, not the opening
        return LatePenalty("early", f"{at}, before the window opened at {_when(policy.opens)}")
    late_by = submitted - due
    if late_by <= dt.timedelta(0):
        return LatePenalty("on time", f"{at}, due {_when(due)}{extended}")
    if late_by <= policy.grace:
        return LatePenalty("on time", f"{at}, {_span(late_by)} after the deadline {_when(due)}{extended}, "
                                      f"within the {_span(policy.grace)} of grace")
    if policy.cutoff is not None and late_by > policy.cutoff:
        verdict = "refused" if policy.refuse else "after cutoff"
        outcome = "refused" if policy.refuse else "scored 0"
        return LatePenalty(verdict, f"{at}, {_span(late_by)} late: after the cutoff {_when(due + policy.cutoff)}, "
                                    f"{outcome}", zero=True)
    periods = math.ceil(late_by / policy.per)
    each = policy.amount if policy.in_points else policy.amount * max_score
    unit = "day" if policy.per == dt.timedelta(days=1) else "hour"
    rule = f"{policy.amount:g} points" if policy.in_points else f"{100 * policy.amount:g}%"
    floor = policy.floor * max_score
    return LatePenalty("late", f"{at}, {_span(late_by)} after the deadline {_when(due)}{extended}: "
                               f"{periods} started {unit}{'s' * (periods > 1)} × {rule} = {periods * each:g} points"
                               + (f", never below {floor:g}" if floor else ""), deduction=periods * each, floor=floor)


@dataclass
class LateRules:
    """A policy with the course's current manifest, extensions and roster: applies verdicts to results."""

    policy: LatePolicy
    manifest: Manifest
    extensions: Extensions | None = None
    roster: Roster | None = None

    @classmethod
    def read(cls, policy: LatePolicy | None, manifest: Path, extensions: Path | None = None,
             roster: Roster | None = None, where: str = "the assignment") -> "LateRules":
        if policy is None:
            raise CourseError(f"a manifest was given, but {where} has no late policy (`late:` in assignment.yaml)")
        zone = policy.deadline.tzinfo
        return cls(policy, Manifest.read(manifest, zone), extensions and Extensions.read(extensions, zone), roster)

    def apply(self, name: str, result: GradeResult) -> None:
        """Set `result.late` for the submission named `name` (its file or folder stem)."""
        keys = submission_keys(name)
        student = self.roster.find(name) if self.roster else None
        if student is not None:
            keys |= student.identifiers()
        submitted = self.manifest.time(keys)
        grant = self.extensions.grant(keys) if self.extensions else None
        result.late = assess(self.policy, result.max_score, submitted, grant)


def _when(time: dt.datetime) -> str:
    return time.isoformat(timespec="minutes")


def _span(delta: dt.timedelta) -> str:
    """'1 day 3 h 5 min', to the minute (rounded up: a second late is a minute late)."""
    minutes = math.ceil(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    parts = [f"{days} day{'s' * (days > 1)}" if days else "", f"{rest // 60} h" if rest // 60 else "",
             f"{rest % 60} min" if rest % 60 else ""]
    return " ".join(p for p in parts if p) or "0 min"


def rules_from_files(assignment, files: dict[str, str] | None) -> LateRules | None:
    """The assignment's late policy with the `manifest` (and `extensions`, `roster`) CSVs that `files` names;
    None without a manifest. Plain paths, so a batch's grading jobs can read the same rules again."""
    if not files or not files.get("manifest"):
        return None
    roster = read_roster(Path(files["roster"])) if files.get("roster") else None
    return LateRules.read(assignment.late, Path(files["manifest"]), files.get("extensions") and Path(files["extensions"]),
                          roster, where=assignment.spec_path.name)
