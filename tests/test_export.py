"""Rosters and LMS exports: who handed in what, and the gradebook as Canvas and Moodle import it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from grader.course.roster import read_roster
from grader.course.tables import CourseError

from conftest import ROOT
from test_reports import make_result
from classes import record

TITLE = "Backpropagation in numpy"  # the spec's title names the grade column
ROSTER = ("Student ID,Name,Email,Section,Canvas User ID,Submission\n"
          "s1,Alice Ng,alice@uni.edu,A,111,\n"
          "s2,Bob Li,bob@uni.edu,A,222,\n"
          "s3,\"=HYPERLINK(\"\"http://x\"\",\"\"Carol\"\")\",carol@uni.edu,B,333,\n"
          "s4,Dan Wu,dan@uni.edu,B,444,9001;dan-final\n"
          "s5,Eve Ok,eve@uni.edu,B,555,\n")


def grades_folder(tmp_path, names):
    out = tmp_path / "grades"
    made = {}
    for index, name in enumerate(names):
        result = make_result(submission=f"{name}.py", score_cap=None)
        result.tests[1].earned = index % 5  # scores differ
        made[name] = result
    record(out, "backprop", made)
    return out


def grader(*args):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_roster_matches_stems_ids_emails_and_lms_names(tmp_path):
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = read_roster(tmp_path / "roster.csv")
    match = roster.match(["alice@uni.edu", "ngalice_LATE_111_7_backprop", "s2", "submission_9001", "mallory"])
    assert {name: s.id for name, s in match.students.items()} == {
        "alice@uni.edu": "s1", "ngalice_LATE_111_7_backprop": "s1", "s2": "s2", "submission_9001": "s4"}
    assert match.unmatched == ["mallory"]
    assert [s.id for s in match.missing] == ["s3", "s5"]
    assert match.duplicates == {"s1": ["alice@uni.edu", "ngalice_LATE_111_7_backprop"]}


@pytest.mark.parametrize("text, message", [
    ("name,email\nAlice,a@x\n", "the roster has none of the columns id, student id"),
    ("id,name\ns1,A\ns1,B\n", "roster.csv, line 3: the student id 's1' is listed twice"),
    ("id,name\n,A\n", "roster.csv, line 2: no student id"),
])
def test_a_bad_roster_names_file_and_line(tmp_path, text, message):
    (tmp_path / "roster.csv").write_text(text)
    with pytest.raises(CourseError, match=message):
        read_roster(tmp_path / "roster.csv")


def test_export_canvas_moodle_and_csv_read_back_with_pandas(tmp_path):
    out = grades_folder(tmp_path, ["s1", "s2", "submission_9001", "=cmd|' -C calc'!A0", "mallory"])
    (tmp_path / "roster.csv").write_text(ROSTER + "s6,Zed,zed@uni.edu,B,666,=cmd|' -C calc'!A0\n")
    for fmt in ("canvas", "moodle", "csv"):
        done = grader("export", out, "--format", fmt, "--roster", tmp_path / "roster.csv")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "submissions of no student on the roster (1):\n  mallory" in done.stdout
        assert "students without a submission (2):\n  s3 =HYPERLINK" in done.stdout
    details = ["capped_score", "uncapped_score", "max_score", "late_penalty", "late_status", "late_reason", "status",
               "reason", "forward (points)", "backward (points)", "essay (points)"]

    canvas = pd.read_csv(out / "export-canvas.csv", dtype=str, keep_default_na=False)
    assert list(canvas.columns) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", TITLE, *details]
    possible = canvas.iloc[0]
    assert possible["Student"].strip() == "Points Possible" and possible[TITLE] == "25"
    assert set(possible[details]) == {"(read only)"}
    students = canvas.iloc[1:].set_index("SIS User ID")
    assert list(students.index) == ["s3", "s1", "s2", "s4", "s5", "s6"]  # by name ("=" sorts first)
    assert students.loc["s1", "ID"] == "111" and students.loc["s1", "SIS Login ID"] == "alice@uni.edu"
    # the essay is still to be graded by a TA: no grade is final, so none is imported; the details say why
    assert students.loc["s1", TITLE] == "" and students.loc["s1", "status"] == "manual grading pending"
    assert students.loc["s1", "capped_score"] == "14" and students.loc["s4", "capped_score"] == "16"
    assert students.loc["s5", TITLE] == "" and students.loc["s5", "status"] == "no submission"
    assert students.loc["s3", "Student"].startswith("'=HYPERLINK")  # neutralised
    assert students.loc["s1", "essay (points)"] == "" and students.loc["s1", "forward (points)"] == "6"

    moodle = pd.read_csv(out / "export-moodle.csv", dtype=str, keep_default_na=False).set_index("ID number")
    assert list(moodle.columns[:4]) == ["Email address", "Full name", TITLE, "Feedback"]
    assert moodle.loc["s2", "Email address"] == "bob@uni.edu" and moodle.loc["s2", TITLE] == ""
    assert moodle.loc["s2", "Feedback"].startswith("manual grading pending")
    assert "mallory" not in moodle.index and "s6" in moodle.index

    plain = pd.read_csv(out / "export-csv.csv", dtype=str, keep_default_na=False)
    assert list(plain.columns) == ["student_id", "name", "email", "submission", "score", *details]
    rows = plain.set_index("submission")
    assert rows.loc["mallory", "student_id"] == "" and rows.loc["mallory", "capped_score"] == "18"  # kept
    assert rows.loc["'=cmd|' -C calc'!A0", "student_id"] == "s6"  # the submission's name, neutralised
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in plain.to_numpy().ravel())


def test_export_without_roster_refuses_an_lms_format_and_errors_are_one_line(tmp_path):
    out = grades_folder(tmp_path, ["jane", "zed"])
    for fmt in ("moodle", "canvas"):  # an LMS imports by its own ids: the submission's name would land in them
        done = grader("export", out, "--format", fmt, "-o", tmp_path / "m.csv")
        assert done.returncode == 2 and f"--format {fmt} needs --roster" in " ".join(done.stderr.split())
        assert len(done.stderr.strip().splitlines()) <= 2 and not (tmp_path / "m.csv").exists()
    done = grader("export", out, "--format", "csv", "-o", tmp_path / "m.csv")
    assert done.returncode == 0 and "2 submissions by name (no roster)" in done.stdout
    assert list(pd.read_csv(tmp_path / "m.csv", dtype=str)["submission"]) == ["jane", "zed"]
    missing = grader("export", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no such grades folder" in missing.stderr and "Traceback" not in missing.stderr
    (out / "broken.json").write_text("{")  # not the store's: reported, never read
    done = grader("export", out, "--format", "csv")
    assert done.returncode == 0 and "store did not write (ignored) (1):\n  broken.json" in done.stdout
    done = grader("export", out, "--roster", tmp_path / "absent.csv")
    assert done.returncode == 2 and "absent.csv: cannot read the roster" in done.stderr


def test_export_of_300_results_is_fast(tmp_path):
    out = grades_folder(tmp_path, [f"s{i:03d}" for i in range(300)])
    (tmp_path / "roster.csv").write_text("id,name,email\n" + "".join(f"s{i:03d},N{i},n{i}@x\n" for i in range(300)))
    started = time.perf_counter()
    done = grader("export", out, "--format", "canvas", "--roster", tmp_path / "roster.csv")
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(out / "export-canvas.csv")) == 301
    print(f"export of 300 results (canvas, with roster): {elapsed:.2f} s")
    assert elapsed < 30
