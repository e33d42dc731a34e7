"""Late policy and extensions: the spec's rule, the manifest's times, the penalty in every report."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console

from grader import spec
from grader.course.late import Extensions, Manifest, assess
from grader.course.tables import CourseError
from grader.reports import terminal
from grader.reports.gradebook import Row, write_gradebook
from grader.reports.gradescope import to_gradescope
from grader.results import GradeResult

from conftest import ROOT, make_assignment
from test_reports import make_result

ZONE = dt.timezone(dt.timedelta(hours=1))
DEADLINE = dt.datetime(2026, 3, 1, 23, 59, tzinfo=ZONE)
LATE = {"deadline": "2026-03-01T23:59:00+01:00", "grace": "15 minutes",
        "penalty": {"per": "day", "fraction": 0.1, "floor": 0.3}, "cutoff": "3 days"}


def policy(**late) -> spec.LatePolicy:
    return spec._late({**LATE, **late}, ROOT / "assignment.yaml")


def at(hours: float) -> dt.datetime:
    return DEADLINE + dt.timedelta(hours=hours)


# ---------------------------------------------------------------------------- the spec

@pytest.mark.parametrize("late, message", [
    ({"grace": "15 minutes"}, "late.deadline is required"),
    ({"deadline": "2026-03-01 23:59"}, "late.deadline 2026-03-01T23:59:00 has no time zone"),
    ({"deadline": "2026-03-01 23:59 Mars/Olympus"}, "late.deadline 'Mars/Olympus' is not a known time zone"),
    ({**LATE, "grace": "a while"}, "late.grace 'a while' is not a duration"),
    ({**LATE, "penalty": {"per": "week"}}, "late.penalty.per must be day or hour"),
    ({**LATE, "penalty": {"fraction": 0.1, "points": 2}}, "late.penalty takes fraction or points, not both"),
    ({**LATE, "penalty": {"fraction": 1.5}}, "late.penalty.fraction must be between 0 and 1"),
    ({**LATE, "cutoff": "2026-02-01T00:00:00+01:00"}, "late.cutoff is before the deadline"),
    ({**LATE, "opens": "2026-03-02T09:00:00+01:00"}, "late.opens is 2026-03-02T09:00:00+01:00, not before"),
    ({**LATE, "after_cutoff": "ignore"}, "late.after_cutoff must be zero or refuse"),
    ({**LATE, "penalty": {"fraction": 0.1, "flor": 0.5}}, "late.penalty.flor is not a known key (did you mean floor?)"),
])
def test_a_bad_late_policy_names_its_key(late, message):
    with pytest.raises(spec.SpecError, match=re.escape(message)):
        spec._late(late, ROOT / "assignment.yaml")


def test_deadline_zones_and_cutoff_as_a_time():
    zurich = policy(deadline="2026-07-01 23:59 Europe/Zurich", cutoff="2026-07-04 23:59 Europe/Zurich")
    assert zurich.deadline.utcoffset() == dt.timedelta(hours=2)  # summer time
    assert zurich.cutoff == dt.timedelta(days=3)
    loaded = spec.parse({"slug": "x", "title": "X", "submission": ["x.py"], "late": LATE,
                         "questions": [{"id": "q", "title": "Q", "points": 1}]}, ROOT / "x")
    assert loaded.late == policy()


# ---------------------------------------------------------------------------- the rule

def test_on_time_grace_and_started_days():
    rule = policy()
    assert assess(rule, 100, at(-1)).status == "on time"
    graced = assess(rule, 100, at(0.2))
    assert graced.status == "on time" and "within the 15 min of grace" in graced.reason and graced.deduction == 0
    one = assess(rule, 100, at(0.5))
    assert one.status == "late" and one.deduction == 10 and "1 started day × 10% = 10 points" in one.reason
    two = assess(rule, 100, at(24.5))  # a day and a half: two started days
    assert two.deduction == 20 and "1 day 30 min after the deadline" in two.reason
    hourly = assess(policy(penalty={"per": "hour", "points": 2}), 100, at(2.5))
    assert hourly.deduction == 6 and "3 started hours × 2 points = 6 points" in hourly.reason


def test_floor_cutoff_and_refusal_act_on_the_capped_score():
    result = make_result(score_cap=12)  # 14 earned, capped at 12
    result.late = assess(policy(), result.max_score, at(49))  # 3 days: 3 × 1.2 = 3.6 points
    assert result.capped_score == 12 and result.late_penalty == pytest.approx(3.6) and result.final_score == 8.4
    result.late = assess(policy(penalty={"per": "day", "fraction": 0.5, "floor": 0.3}), result.max_score, at(49))
    assert result.final_score == pytest.approx(3.6)  # 18 points off, but never below 30% of 12
    result.late = assess(policy(), result.max_score, at(73))
    assert result.late.status == "after cutoff" and result.final_score == 0 and "scored 0" in result.late.reason
    result.late = assess(policy(after_cutoff="refuse"), result.max_score, at(73))
    assert result.late.status == "refused" and result.final_score == 0


def test_a_low_score_is_not_raised_by_the_floor():
    result = make_result(score_cap=None)  # 14 of 25
    result.late = assess(policy(penalty={"per": "day", "fraction": 1, "floor": 0.8}), result.max_score, at(1))
    assert result.late_penalty == 0 and result.final_score == 14


def test_missing_time_is_reported_not_assumed_on_time():
    verdict = assess(policy(), 100, None)
    assert verdict.status == "no time" and "not assessed" in verdict.reason and verdict.deduction == 0


def test_extensions_move_deadline_and_cutoff_and_window():
    rule = policy(opens="2026-03-01T09:00:00+01:00")
    extended = assess(rule, 100, at(30), dt.timedelta(days=2))
    assert extended.status == "on time" and "extended from 2026-03-01T23:59+01:00" in extended.reason
    moved = assess(rule, 100, at(30), at(24))
    assert moved.status == "late" and moved.deduction == 10
    assert assess(rule, 100, at(24 + 73), dt.timedelta(days=1)).status == "after cutoff"
    early = assess(rule, 100, DEADLINE - dt.timedelta(days=1))
    assert early.status == "early" and "before the window opened" in early.reason


# ---------------------------------------------------------------------------- the course's files

def write(path, text):
    path.write_text(text)
    return path


def test_manifests_as_a_ta_gradescope_and_canvas_write_them(tmp_path):
    ta = Manifest.read(write(tmp_path / "ta.csv", "student,submitted\nalice,2026-03-01 23:00\nbob,\n"), ZONE)
    assert ta.time({"alice"}) == at(-59 / 60) and ta.time({"bob"}) is None and ta.time({"carol"}) is None
    gradescope = Manifest.read(write(tmp_path / "gs.csv", (
        "First Name,Last Name,SID,Email,Total Score,Max Points,Status,Submission ID,Submission Time,Lateness (H:M:S)\n"
        "Alice,Ng,s1,alice@uni.edu,10,10,Graded,9001,2026-03-01 15:29:00 -0800,00:30:00\n"
        "Bob,Li,s2,bob@uni.edu,,10,Missing,,,\n")), ZONE)
    assert gradescope.time({"s1"}) == gradescope.time({"9001"}) == at(0.5)
    canvas = Manifest.read(write(tmp_path / "canvas.csv", "user_id,submitted_at,attempt\n"
                                 "123,2026-03-01T22:00:00Z,1\n123,2026-03-02T08:00:00Z,2\n"), ZONE)
    assert canvas.time({"123"}) == dt.datetime(2026, 3, 2, 8, tzinfo=dt.timezone.utc)  # the latest attempt


@pytest.mark.parametrize("name, text, message", [
    ("m.csv", "who,when\nalice,2026\n", "the manifest has none of the columns student, submission"),
    ("m.csv", "student,name\nalice,x\n", "the manifest has none of the columns submitted"),
    ("m.csv", "student,submitted\nalice,yesterday\n", "m.csv, line 2: 'yesterday' is not a time"),
    ("e.csv", "student,extra\nalice,forever\n", "e.csv, line 2: 'forever' is not a duration"),
])
def test_bad_course_files_name_file_and_line(tmp_path, name, text, message):
    path = write(tmp_path / name, text)
    with pytest.raises(CourseError, match=re.escape(message)):
        (Manifest if name == "m.csv" else Extensions).read(path, ZONE)


# ---------------------------------------------------------------------------- every report shows it

def test_every_renderer_shows_the_penalty_and_its_reason(tmp_path):
    result = make_result(score_cap=None)
    result.late = assess(policy(), result.max_score, at(2))
    assert result.late_penalty == 2.5 and result.final_score == 11.5
    console = Console(record=True, width=200)
    terminal.render(result, console)
    shown = console.export_text()
    assert "score 11.5 / 25" in shown and "late policy: late, 2.5 points off: submitted 2026-03-02T01:59+01:00" in shown
    gradescope = to_gradescope(result)
    assert gradescope["score"] == 11.5 and "Late policy: late, 2.5 points off (submitted" in gradescope["output"]
    _gradebook([Row("jane", "graded", "", result)], tmp_path / "gradebook.csv")
    row = next(csv.DictReader(open(tmp_path / "gradebook.csv")))
    assert row["score"] == "11.5" and row["uncapped_score"] == "14" and row["late_penalty"] == "2.5"
    assert row["late"].startswith("late: submitted 2026-03-02T01:59+01:00")
    again = GradeResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.late == result.late and again.to_dict()["final_score"] == 11.5


def grader(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_grade_applies_the_manifest_and_export_recomputes_it_with_a_later_extension(tmp_path):
    """End to end: a class graded with a manifest, then an extension granted: export changes, no regrading."""
    assignment = make_assignment(tmp_path, "import pytest\n\n@pytest.mark.question(\"q\")\n@pytest.mark.points(2)\ndef test_f(submission):\n"
                                 "    assert submission.f() == 1\n", "def f():\n    return 1\n", late=LATE)
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("alice", "bob", "carol"):
        (folder / f"{name}.py").write_text("def f():\n    return 1\n")
    manifest = write(tmp_path / "manifest.csv", "student,submitted\nalice,2026-03-01T20:00+01:00\n"
                                                "bob,2026-03-03T10:00+01:00\n")
    out = tmp_path / "grades"
    done = grader("grade", assignment.root, folder, "--out", out, "-j", "2", "--manifest", manifest)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1.6 / 2 (late policy: late, -0.4)" in done.stdout
    rows = {r["student"]: r for r in csv.DictReader(open(out / "gradebook.csv"))}
    assert (rows["alice"]["score"], rows["bob"]["score"], rows["carol"]["score"]) == ("2", "1.6", "2")
    assert rows["bob"]["late"].startswith("late: ") and rows["carol"]["late"].startswith("no time: ")
    bob = json.loads((out / "bob.json").read_text())
    assert bob["late"]["status"] == "late" and bob["final_score"] == 1.6
    assert "Late policy: <b>late</b>, 0.4 points off" in (out / "bob.html").read_text()

    extensions = write(tmp_path / "extensions.csv", "student,extra\nbob,2 days\n")
    done = grader("export", out, "--format", "csv", "--manifest", manifest, "--extensions", extensions,
                  "--assignment", assignment.root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "submissions the manifest gives no time for (no late penalty assessed) (1):\n  carol" in done.stdout
    rows = {r["submission"]: r for r in csv.DictReader(open(out / "export-csv.csv"))}
    assert rows["bob"]["score"] == "2" and rows["bob"]["late_status"] == "on time"
    assert "extended from 2026-03-01T23:59+01:00" in rows["bob"]["late_reason"]
    assert rows["carol"]["late_status"] == "no time"
    # every view follows the new verdict at once, without grading again (the store keeps the course's files)
    bob = json.loads((out / "bob.json").read_text())
    assert bob["late"]["status"] == "on time" and bob["final_score"] == 2
    assert "extended from" in (out / "bob.html").read_text()
    assert {r["student"]: r for r in csv.DictReader(open(out / "gradebook.csv"))}["bob"]["score"] == "2"
    again = grader("grade", assignment.root, folder, "--out", out, "-j", "2")  # the stored manifest still applies
    assert again.returncode == 0 and "kept: 3" in again.stdout and json.loads((out / "bob.json").read_text()) == bob

    missing = grader("export", out, "--manifest", tmp_path / "nowhere.csv", "--assignment", assignment.root)
    assert missing.returncode == 2 and "nowhere.csv: cannot read the manifest" in missing.stderr


def _gradebook(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as out:
        write_gradebook(rows, out)
