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
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from grader.course.roster import Roster, read_roster, submission_keys
from grader.course.tables import CourseError, pick, read_table
from grader.results import GradeResult, LatePenalty
from grader.spec import LatePolicy, has_zone, parse_duration, parse_time

# The columns that name a student or a submission in a TA's file, Gradescope's grade export (SID, Email,
# Submission ID, Submission Time) and Canvas's submissions API (user_id, submitted_at).
KEY_COLUMNS = ("student", "submission", "sid", "student id", "id", "submission id", "email", "user id",
               "sis user id", "login")
_TIME_COLUMNS = ("submitted", "submission time", "submitted at", "time", "created at", "timestamp")


def _keys(row: dict[str, str], columns: list[str]) -> set[str]:
    return {unicodedata.normalize("NFC", row[c]).lower() for c in columns if row.get(c)}


def _key_columns(rows, path: Path, what: str) -> list[str]:
    columns = [c for c in (pick(rows, (name,), path, what, required=False) for name in KEY_COLUMNS) if c]
    if rows and not columns:
        raise CourseError(f"{path}: the {what} has none of the columns {', '.join(KEY_COLUMNS)}")
    return columns


class Manifest:
    """Each submission's time, found by any identifier of the submission or its student."""

    def __init__(self, times: dict[str, dt.datetime | None], assumed: set[str] = frozenset(), zone=None):
        self.times = times
        self.assumed = assumed   # keys whose time was written without a zone, read in `zone`
        self.zone = zone

    @classmethod
    def read(cls, path: Path, zone: dt.tzinfo, content: bytes | None = None) -> "Manifest":
        """Read a manifest CSV (or its `content`); a time without a zone is read in `zone` (the course's), a date
        without a time is an error naming its line; an empty time is None."""
        rows = read_table(path, "manifest", content)
        columns = _key_columns(rows, path, "manifest")
        time_column = pick(rows, _TIME_COLUMNS, path, "manifest")
        times: dict[str, dt.datetime | None] = {}
        assumed: set[str] = set()
        for number, row in enumerate(rows, start=2):
            text = row.get(time_column)
            try:
                time = parse_time(text, zone) if text else None
            except ValueError as error:
                raise CourseError(f"{path}, line {number}: {error}") from None
            for key in _keys(row, columns):  # several rows of one student: the latest time counts
                earlier = times.get(key)
                if earlier is None or (time is not None and time > earlier):
                    times[key] = time
                    assumed.discard(key)
                    if time is not None and not has_zone(text):
                        assumed.add(key)
        return cls(times, assumed, zone)

    def time(self, keys) -> dt.datetime | None:
        """The time of the first of `keys` (in order; a set is sorted) the manifest lists with a time."""
        return self.lookup(keys)[0]

    def lookup(self, keys) -> tuple[dt.datetime | None, str]:
        """The time, as `time` finds it, and a note naming the zone it was read in when the manifest gave none."""
        for key in sorted(keys) if isinstance(keys, (set, frozenset)) else keys:
            if self.times.get(key):
                note = f" (no zone given: read in {_zone_name(self.zone)})" if key in self.assumed else ""
                return self.times[key], note
        return None, ""


class Extensions:
    """Per-student extensions: extra time, or a new deadline."""

    def __init__(self, grants: dict[str, dt.timedelta | dt.datetime]):
        self.grants = grants

    @classmethod
    def read(cls, path: Path, zone: dt.tzinfo, content: bytes | None = None) -> "Extensions":
        """Read an extension CSV (or its `content`): a student column and `extra` ('2 days') or `deadline` (a time)
        per row."""
        rows = read_table(path, "extension list", content)
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

    def grant(self, keys) -> dt.timedelta | dt.datetime | None:
        """The grant of the first of `keys` (in order; a set is sorted) the list has."""
        ordered = sorted(keys) if isinstance(keys, (set, frozenset)) else keys
        return next((self.grants[k] for k in ordered if k in self.grants), None)


def assess(policy: LatePolicy, max_score: float, submitted: dt.datetime | None,
           grant: dt.timedelta | dt.datetime | None = None, note: str = "") -> LatePenalty:
    """The policy's verdict on a submission made at `submitted` (None: unknown) with an extension `grant`.

    Every time is converted to UTC before any arithmetic (a deadline on either side of a daylight-saving
    change is as many real hours away however the times are written) and shown in the course's zone; `note`
    says which zone a time written without one was read in."""
    zone = policy.course_zone
    deadline = _utc(policy.deadline)
    due = _utc(grant) if isinstance(grant, dt.datetime) else deadline + (grant or dt.timedelta(0))

    def when(time: dt.datetime) -> str:
        return time.astimezone(zone).isoformat(timespec="minutes")

    extended = f" (extended from {when(deadline)})" if due != deadline else ""
    if submitted is None:
        return LatePenalty("no time", f"no submission time in the manifest: lateness not assessed (due {when(due)})")
    submitted = _utc(submitted)
    at = f"submitted {when(submitted)}{note}"
    if policy.opens and submitted < _utc(policy.opens):  # an extension moves the close, not the opening
        return LatePenalty("early", f"{at}, before the window opened at {when(policy.opens)}")
    late_by = submitted - due
    if late_by <= dt.timedelta(0):
        return LatePenalty("on time", f"{at}, due {when(due)}{extended}")
    if late_by <= policy.grace:
        return LatePenalty("on time", f"{at}, {_span(late_by)} after the deadline {when(due)}{extended}, "
                                      f"within the {_span(policy.grace)} of grace")
    if policy.cutoff is not None and late_by > policy.cutoff:
        verdict = "refused" if policy.refuse else "after cutoff"
        outcome = "refused" if policy.refuse else "scored 0"
        return LatePenalty(verdict, f"{at}, {_span(late_by)} late: after the cutoff {when(due + policy.cutoff)}, "
                                    f"{outcome}", zero=True)
    periods = math.ceil(late_by / policy.per)
    each = policy.amount if policy.in_points else policy.amount * max_score
    unit = "day" if policy.per == dt.timedelta(days=1) else "hour"
    rule = f"{policy.amount:g} points" if policy.in_points else f"{100 * policy.amount:g}%"
    floor = policy.floor * max_score
    return LatePenalty("late", f"{at}, {_span(late_by)} after the deadline {when(due)}{extended}: "
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
             roster: Roster | None = None, where: str = "the assignment",
             contents: dict[str, bytes] | None = None) -> "LateRules":
        """The rules from the manifest and extension files (or their `contents` by kind, as a grades folder keeps them)."""
        if policy is None:
            raise CourseError(f"a manifest was given, but {where} has no late policy (`late:` in assignment.yaml)")
        contents = contents or {}
        zone = policy.course_zone
        return cls(policy, Manifest.read(manifest, zone, contents.get("manifest")),
                   extensions and Extensions.read(extensions, zone, contents.get("extensions")), roster)

    def keys(self, name: str, original: str | None = None) -> list[str]:
        """The identifiers a manifest row may name this submission by, best first: the entry's own name as
        submitted (and the LMS ids it carries), the roster's ids of its student, the safe file name last."""
        own = original if original is not None else name
        student = self.roster.find(own) if self.roster else None
        if student is None and self.roster and original is not None:
            student = self.roster.find(name)
        ordered = [*sorted(submission_keys(own)), *sorted(student.identifiers() if student else ()),
                   *sorted(submission_keys(name))]
        return list(dict.fromkeys(ordered))

    def apply(self, name: str, result: GradeResult, original: str | None = None) -> None:
        """Set `result.late` for the submission named `name` (its safe name; `original`: its name as submitted)."""
        keys = self.keys(name, original)
        submitted, note = self.manifest.lookup(keys)
        grant = self.extensions.grant(keys) if self.extensions else None
        result.late = assess(self.policy, result.max_score, submitted, grant, note)


def _utc(time: dt.datetime) -> dt.datetime:
    return time.astimezone(dt.timezone.utc)


def _zone_name(zone) -> str:
    return getattr(zone, "key", None) or str(zone)


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


def rules_from_inputs(assignment, inputs: dict) -> LateRules | None:
    """The late rules from the course files a grades folder keeps (grader.store.Input by kind); None without a
    manifest."""
    if "manifest" not in inputs:
        return None
    roster = read_roster(Path(inputs["roster"].path), inputs["roster"].content) if "roster" in inputs else None
    extensions = inputs.get("extensions")
    return LateRules.read(assignment.late, Path(inputs["manifest"].path), extensions and Path(extensions.path), roster,
                          where=assignment.spec_path.name, contents={k: v.content for k, v in inputs.items()})
