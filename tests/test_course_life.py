"""A grades folder over a course's life, end to end from the CLI: every input changed in turn, a resume after
each, races between writers, signals, time zones, and commands given bad input.

After each step exactly the results that depend on the changed input change, the command says why, and every
view (result JSON, feedback page, Gradescope rendering, gradebook, Canvas export) agrees with the others and
with a fresh grading of the same inputs.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, make_assignment

from grader import spec
from grader.course.late import assess
from grader.reports.gradescope import to_gradescope
from grader.results import GradeResult
from grader.store import GradesFolder

HIDDEN = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(2)
def test_answer(submission, expected):
    assert submission.answer() == expected, "answer() is not what the course expects"

@pytest.mark.points(1)
def test_like_the_reference(submission, reference):
    assert submission.work() == reference.work(), "work() differs from the reference"
"""
CONFTEST = "import pytest\n\n@pytest.fixture\ndef expected():\n    return 42\n"
RIGHT = "def answer():\n    return 42\n\ndef work():\n    return True\n"
WRONG = RIGHT.replace("42", "41")
SLOW = RIGHT.replace("return True", "import time\n    time.sleep(4)\n    return True")
LATE = {"deadline": "2026-03-01 23:59 Europe/Zurich", "penalty": {"per": "day", "fraction": 0.5}}
ROSTER = "id,name,email,submission\ns1,Alice,a@x,alice\ns2,Bob,b@x,bob\ns3,Carol,c@x,carol\ns4,Dan,d@x,dan\n"
STUDENTS = {"alice": RIGHT, "bob": WRONG, "carol": RIGHT, "dan": RIGHT}


def grader(*args, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a fresh process; `code` runs first in it (to patch the grader, as a test hook)."""
    command = ([sys.executable, "-c", f"{code}\nimport sys\nfrom grader.cli import main\nsys.exit(main(sys.argv[1:]))"]
               if code else [sys.executable, "-m", "grader"])
    return subprocess.run([*command, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def start(*args, code: str | None = None) -> subprocess.Popen:
    command = ([sys.executable, "-c", f"{code}\nimport sys\nfrom grader.cli import main\nsys.exit(main(sys.argv[1:]))"]
               if code else [sys.executable, "-m", "grader"])
    return subprocess.Popen([*command, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def course(tmp_path):
    assignment = make_assignment(tmp_path / "course", HIDDEN, RIGHT, late=LATE,
                                 limits={"call_timeout": 600, "total_timeout": 900})
    (assignment.root / "tests" / "conftest.py").write_text(CONFTEST)
    (assignment.root / "handout.md").write_text("# Tiny\n")
    folder = tmp_path / "class"
    folder.mkdir()
    for name, source in STUDENTS.items():
        (folder / f"{name}.py").write_text(source)
    (tmp_path / "roster.csv").write_text(ROSTER)
    (tmp_path / "manifest.csv").write_text("student,submitted\nalice,2026-03-01 20:00\nbob,2026-03-01 21:00\n"
                                           "carol,2026-03-01 22:00\ndan,2026-03-02 10:00\n")
    return assignment


def gradebook(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def stamps(out: Path) -> dict[str, str]:
    """The run that recorded each graded student's result (it changes exactly when the student is graded again)."""
    store = GradesFolder.reading(out)
    try:
        return {name: e.run for name, e in store.entries().items() if e.result is not None}
    finally:
        store.close()


def assert_views_agree(out: Path, roster: Path) -> dict[str, str]:
    """Every view of each student shows the same grade; returns the grades."""
    assert grader("export", out, "--format", "canvas", "--roster", roster).returncode == 0
    with open(out / "export-canvas.csv", newline="") as handle:
        canvas = {row["SIS User ID"]: row for row in list(csv.DictReader(handle))[1:]}
    ids = {line.split(",")[3]: line.split(",")[0] for line in ROSTER.splitlines()[1:]}
    grades = {}
    for name, row in gradebook(out).items():
        data = json.loads((out / f"{name}.json").read_text())
        result = GradeResult.from_dict(data)
        score = f"{result.final_score:g}"
        assert row["score"] == score, name
        assert f"{to_gradescope(result)['score']:g}" == score, name
        assert canvas[ids[name]][canvas_title(out)] == score, name
        page = (out / f"{name}.html").read_text()
        assert f"Score: {score} / " in page, name
        if result.late:
            assert result.late.status in page
        grades[name] = score
    return grades


def canvas_title(out: Path) -> str:
    with open(out / "export-canvas.csv", newline="") as handle:
        return next(csv.reader(handle))[5]


def fresh(course, tmp_path: Path, *args) -> dict[str, dict]:
    """The gradebook of a fresh grading of the same inputs into a new folder."""
    out = tmp_path / f"fresh-{time.monotonic_ns()}"
    done = grader("grade", course.root, tmp_path / "class", "--out", out, "-j", "2", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return gradebook(out)


def test_every_input_changed_in_turn_regrades_exactly_what_depends_on_it(course, tmp_path):
    out, folder, roster = tmp_path / "grades", tmp_path / "class", tmp_path / "roster.csv"
    resume = ("grade", course.root, folder, "--out", out, "-j", "2")

    def step(*extra, expect: str, env=None, code=None) -> dict[str, str]:
        before = stamps(out) if out.exists() else {}
        done = grader(*resume, *extra, env=env, code=code)
        assert done.returncode == 0, done.stdout + done.stderr
        assert expect in done.stdout, done.stdout
        after = stamps(out)
        return {name for name in after if after[name] != before.get(name)}

    assert step(expect="graded: new (4); kept: 0") == {"alice", "bob", "carol", "dan"}
    first = assert_views_agree(out, roster)
    assert first == {"alice": "3", "bob": "1", "carol": "3", "dan": "3"}

    (course.root / "handout.md").write_text("# Tiny, clearer\n")  # grading does not read the handout
    assert step(expect="graded: none; kept: 4") == set()

    hidden = course.hidden_tests / "test_hidden.py"
    hidden.write_text(hidden.read_text() + "\n# a comment\n")
    assert step(expect="graded: the hidden tests changed (4); kept: 0") == set(STUDENTS)

    (course.root / "tests" / "conftest.py").write_text(CONFTEST.replace("42", "41"))
    assert step(expect="the tests' configuration (conftest.py) changed (4)") == set(STUDENTS)
    assert assert_views_agree(out, roster) == {"alice": "1", "bob": "3", "carol": "1", "dan": "1"}
    (course.root / "tests" / "conftest.py").write_text(CONFTEST)
    step(expect="conftest.py) changed (4)")

    solution = course.root.parent.parent / "solutions" / "tiny.py"
    solution.write_text(RIGHT.replace("return True", "return False"))
    assert step(expect="graded: the reference solution changed (4); kept: 0") == set(STUDENTS)
    assert assert_views_agree(out, roster) == {"alice": "2", "bob": "0", "carol": "2", "dan": "2"}
    solution.write_text(RIGHT)
    step(expect="the reference solution changed (4)")

    spec_file = course.spec_path  # a cap added without a version bump still changes what the grade is
    spec_file.write_text(spec_file.read_text() + "score_cap: 2\n")
    assert step(expect="graded: the spec (assignment.yaml) changed (4); kept: 0") == set(STUDENTS)
    assert assert_views_agree(out, roster) == {"alice": "2", "bob": "1", "carol": "2", "dan": "2"}

    patched = "import grader\ngrader.__version__ = '9.9.9'"
    assert step(expect="graded: the grader changed (4)", code=patched) == set(STUDENTS)
    assert step(expect="graded: the grader changed (4)") == set(STUDENTS)  # and back

    assert step("--seed", "7", expect="graded: the seed changed (4); kept: 0") == set(STUDENTS)
    assert step(expect="graded: the seed changed (4)") == set(STUDENTS)

    (folder / "bob.py").write_text(RIGHT)
    assert step(expect="graded: the submission changed (1); kept: 3") == {"bob"}

    # the course's files change only the late verdict: no grading, every view rendered again
    assert step("--manifest", tmp_path / "manifest.csv", expect="graded: none; kept: 4") == set()
    late = assert_views_agree(out, roster)
    assert late == {"alice": "2", "bob": "2", "carol": "2", "dan": "1"}  # a started day late: half of the 2 off
    assert json.loads((out / "dan.json").read_text())["late"]["status"] == "late"
    assert gradebook(out) == fresh(course, tmp_path, "--manifest", tmp_path / "manifest.csv")

    (tmp_path / "extensions.csv").write_text("student,extra\ndan,1 day\n")
    assert step("--extensions", tmp_path / "extensions.csv", expect="graded: none; kept: 4") == set()
    assert assert_views_agree(out, roster)["dan"] == "2"
    assert "extended from" in (out / "dan.html").read_text()
    assert gradebook(out) == fresh(course, tmp_path, "--manifest", tmp_path / "manifest.csv",
                                   "--extensions", tmp_path / "extensions.csv")

    (tmp_path / "manifest.csv").write_text("student,submitted\nalice,2026-03-05 20:00\nbob,2026-03-01 21:00\n"
                                           "carol,2026-03-01 22:00\ndan,2026-03-02 10:00\n")
    assert step("--manifest", tmp_path / "manifest.csv", expect="graded: none; kept: 4") == set()
    assert assert_views_agree(out, roster)["alice"] == "0"  # 4 started days late: 4 x 1 point off 2, at least 0


def test_status_says_what_is_stale_and_why(course, tmp_path):
    out = tmp_path / "grades"
    assert grader("grade", course.root, tmp_path / "class", "--out", out, "-j", "2").returncode == 0
    hidden = course.hidden_tests / "test_hidden.py"
    hidden.write_text(hidden.read_text() + "\n# changed\n")
    (tmp_path / "class" / "bob.py").write_text(RIGHT)
    done = grader("status", out, "--check-submissions")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "stale, graded again by the next `grader grade`: the hidden tests changed (4), the submission changed (1)" \
        in text
    assert "states: stale (4)" in text
    # every view says so at once, with no score, before anything is graded again
    assert grader("export", out, "--format", "canvas", "--roster", tmp_path / "roster.csv").returncode == 0
    with open(out / "export-canvas.csv", newline="") as handle:
        canvas = list(csv.DictReader(handle))[1:]
    assert {(row[canvas_title(out)], row["status"]) for row in canvas} == {("", "stale")}
    assert gradebook(out)["alice"]["status"] == "stale" and not (out / "alice.json").exists()
    assert "the hidden tests changed since it was graded" in (out / "alice.error.txt").read_text()


def test_a_student_not_graded_now_has_a_row_and_never_an_older_score(course, tmp_path):
    out, folder = tmp_path / "grades", tmp_path / "class"
    assert grader("grade", course.root, folder, "--out", out, "-j", "2").returncode == 0
    (folder / "carol.ipynb").write_text("{}")  # a look-alike: carol can no longer be told apart
    (folder / "dan.py").unlink()
    done = grader("grade", course.root, folder, "--out", out, "-j", "2")
    assert done.returncode == 1, done.stdout + done.stderr  # some students could not be graded
    rows = gradebook(out)
    assert len(rows) == 4 and rows["carol"]["score"] == "" and rows["carol"]["status"] == "not graded"
    assert rows["dan"]["score"] == "" and rows["dan"]["status"] == "not submitted"
    assert not (out / "carol.json").exists() and not (out / "carol.html").exists()
    assert "cannot be told apart" in (out / "carol.error.txt").read_text()
    assert grader("export", out, "--format", "canvas", "--roster", tmp_path / "roster.csv").returncode == 0
    with open(out / "export-canvas.csv", newline="") as handle:
        canvas = {row["SIS User ID"]: row for row in list(csv.DictReader(handle))[1:]}
    assert canvas["s3"][canvas_title(out)] == "" and canvas["s3"]["status"] == "not graded"
    assert canvas["s4"][canvas_title(out)] == "" and canvas["s4"]["status"] == "not submitted"
    report = grader("report", out)
    assert report.returncode == 0 and "2 graded, 2 not graded" in report.stdout


def test_the_output_folder_is_never_a_student_and_class_files_never_take_a_students_name(course, tmp_path):
    folder = tmp_path / "class"
    (folder / "gradebook.py").write_text(RIGHT)
    (folder / "class-report.py").write_text(RIGHT)
    (folder / "_class-report.py").write_text(RIGHT)  # graded under a safe name: a name never starts with _
    out = folder / "grades"  # inside the class folder
    for run in range(2):
        done = grader("grade", course.root, folder, "--out", out, "-j", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert run == 0 or "grades: a grades folder (the grader's output), not a submission" in done.stdout
    assert "grades" not in gradebook(out) and len(gradebook(out)) == 7
    page = (out / "class-report.html").read_text()
    assert grader("report", out).returncode == 0
    assert (out / "class-report.html").read_text() == page and (out / "_class-report.html").exists()
    assert not any(name.startswith("_") for name in gradebook(out))


def test_review_export_and_a_regrade_at_once_lose_nothing(tmp_path):
    """The store's lock, not luck: a slowed publish and a regrade of the same folder take turns."""
    assignment = make_assignment(tmp_path / "course", HIDDEN, RIGHT, questions=[
        {"id": "q", "title": "Code", "points": 3},
        {"id": "essay", "title": "Essay", "points": 2, "manual": True, "rubric": ["2 points: says why"]}])
    (assignment.root / "tests" / "conftest.py").write_text(CONFTEST)
    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    names = [f"s{i:02d}" for i in range(8)]
    for name in names:
        (folder / f"{name}.py").write_text(RIGHT + "\n# essay:\n# because\n")
    assert grader("grade", assignment.root, folder, "--out", out, "-j", "2").returncode == 0
    from grader.course.review.store import Store
    store = Store(out)
    item = spec.load(assignment.root).question("essay").rubric[0].id
    for name in names:
        store.set_mark(name, "essay", item, True, "ta")
    store.close()
    hidden = assignment.hidden_tests / "test_hidden.py"
    hidden.write_text(hidden.read_text() + "\n# changed: every result is graded again\n")
    slowed = ("import time, grader.course.views as views\nwrite = views._write\n"
              "views._write = lambda path, content: (time.sleep(0.3), write(path, content))[1]")
    publish = start("review", assignment.root, out, "--export", code=slowed)
    time.sleep(1.5)  # the publish holds the store, writing slowly
    regrade = start("grade", assignment.root, folder, "--out", out, "-j", "2", "--wait")
    assert publish.wait(timeout=300) == 0, publish.communicate()
    stdout, stderr = regrade.communicate(timeout=600)
    assert regrade.returncode == 0, stdout + stderr
    assert "waiting for it to finish" in stderr and "graded: the hidden tests changed (8)" in stdout
    digest = spec.load(assignment.root)
    for name in names:
        result = json.loads((out / f"{name}.json").read_text())
        assert "changed: every result" in hidden.read_text() and result["tests_digest"]
        essay = next(q for q in result["questions"] if q["id"] == "essay")
        assert essay["earned"] == 2 and essay["graded"], name  # the TA's points survive the regrade
        assert gradebook(out)[name]["score"] == "5"
    assert digest.slug == "tiny"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_the_batch_cleanly_and_resume_gives_the_same_gradebook(course, tmp_path, signum):
    folder = tmp_path / "class"
    for name in ("erin", "finn", "gus"):
        (folder / f"{name}.py").write_text(SLOW)
    out = tmp_path / "grades"
    process = start("grade", course.root, folder, "--out", out, "-j", "2")
    deadline = time.monotonic() + 120
    while not (out / "alice.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr and ("stopped by" in stderr or "interrupted" in stderr)
    rows = gradebook(out)  # the views agree with what was graded: a row for everyone, no half-written result
    graded = {name for name, row in rows.items() if row["score"]}
    assert all((out / f"{name}.json").exists() for name in graded)
    assert all(rows[name]["status"] in ("interrupted", "stale") for name in set(rows) - graded)
    assert not list(out.glob("*.partial"))
    resumed = grader("grade", course.root, folder, "--out", out, "-j", "2")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert gradebook(out) == fresh(course, tmp_path)


def test_late_verdicts_are_one_instant_however_it_is_written_across_daylight_saving():
    where = ROOT / "assignment.yaml"
    for deadline, times, late_hours in [
        ("2026-03-29 01:30 Europe/Zurich",  # spring: 02:00 becomes 03:00; 3 real hours late, 4 on the clock
         ["2026-03-29 05:30", "2026-03-29T05:30+02:00", "2026-03-29T03:30Z", "2026-03-29 05:30 Europe/Zurich"], 3),
        ("2026-10-25 01:30 Europe/Zurich",  # autumn: 03:00 becomes 02:00; 4 real hours late, 3 on the clock
         ["2026-10-25 04:30", "2026-10-25T04:30+01:00", "2026-10-25T03:30Z", "2026-10-25 04:30 Europe/Zurich"], 4),
    ]:
        policy = spec._late({"deadline": deadline, "penalty": {"per": "hour", "points": 1}}, where)
        verdicts = {assess(policy, 10, spec.parse_time(text, policy.course_zone)).deduction for text in times}
        assert verdicts == {late_hours}, (deadline, verdicts)
    with pytest.raises(spec.SpecError, match="is a date without a time of day"):
        spec._late({"deadline": "2026-03-01"}, where)
    with pytest.raises(ValueError, match="is a date without a time of day"):
        spec.parse_time("2026-03-01", dt.timezone.utc)


def test_a_date_alone_in_a_manifest_is_an_error_naming_its_line(course, tmp_path):
    (tmp_path / "bad.csv").write_text("student,submitted\nalice,2026-03-01 20:00\nbob,2026-03-02\n")
    done = grader("grade", course.root, tmp_path / "class", "--out", tmp_path / "grades", "--manifest",
                  tmp_path / "bad.csv")
    assert done.returncode == 2 and "bad.csv, line 3: 2026-03-02 is a date without a time of day" in done.stderr
    assert not (tmp_path / "grades").exists()


def test_a_batch_and_a_single_call_find_the_same_manifest_rows(course, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    names = ["john smith", "zo\u00eb", "J\u00fcrgen-M\u00fcller"]
    for name in names:
        (folder / f"{name}.py").write_text(RIGHT)
    manifest = tmp_path / "odd.csv"  # written with the other Unicode form of the accented letters
    manifest.write_text("student,submitted\njohn smith,2026-03-02 10:00\nzoe\u0308,2026-03-01 20:00\n"
                        "Ju\u0308rgen-Mu\u0308ller,2026-03-03 10:00\n", encoding="utf-8")
    out = tmp_path / "grades"
    done = grader("grade", course.root, folder, "--out", out, "-j", "2", "--manifest", manifest)
    assert done.returncode == 0, done.stdout + done.stderr
    batch = {json.loads(p.read_text())["submission"]: json.loads(p.read_text())["late"] for p in out.glob("*.json")}
    for name in names:
        single = grader("grade", course.root, folder / f"{name}.py", "--manifest", manifest, "--json",
                        tmp_path / "one.json", "--quiet")
        assert single.returncode == 0, single.stdout + single.stderr
        late = json.loads((tmp_path / "one.json").read_text())["late"]
        assert late["status"] != "no time" and batch[f"{name}.py"] == late, name
    assert "(no zone given: read in Europe/Zurich)" in batch["zo\u00eb.py"]["reason"]


def test_bad_input_is_one_line_exit_2_and_nothing_written(course, tmp_path):
    out = tmp_path / "grades"
    assert grader("grade", course.root, tmp_path / "class", "--out", out, "-j", "2").returncode == 0
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("")
    (tmp_path / "no-store").mkdir()
    (tmp_path / "no-store" / "x.json").write_text("{")
    one = tmp_path / "class" / "alice.py"
    cases = [
        ("grade", course.root, one, "--json", tmp_path / "a-folder"),
        ("grade", course.root, one, "--feedback", tmp_path / "a-folder"),
        ("grade", course.root, one, "--gradescope", tmp_path / "a-file" / "g.json"),
        ("grade", course.root, tmp_path / "class", "--out", tmp_path / "a-file"),
        ("grade", course.root, tmp_path / "class", "--out", out, "-j", "0"),
        ("grade", course.root, tmp_path / "class", "--out", out, "--json", tmp_path / "r.json"),
        ("grade", course.root, tmp_path / "missing.py"),
        ("feedback", tmp_path / "missing"),
        ("report", tmp_path / "missing"),
        ("report", tmp_path / "a-folder"),
        ("report", out, "-o", tmp_path / "a-folder"),
        ("export", tmp_path / "no-store"),
        ("export", out, "--format", "moodle"),
        ("export", out, "-o", tmp_path / "a-folder"),
        ("export", out, "--roster", tmp_path / "missing.csv"),
        ("status", tmp_path / "a-file"),
        ("review", course.root, tmp_path / "no-store", "--export"),
        ("audit", course.root, "-j", "0"),
    ]
    def files():
        return sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file() and
                      "__pycache__" not in p.parts and not p.name.endswith(("-wal", "-shm")))

    before = files()
    for args in cases:
        done = grader(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 3, (args, done.stderr)
    assert files() == before


def test_code_that_did_not_run_is_named_in_every_view(course, tmp_path):
    folder = tmp_path / "class"
    (folder / "erin.py").write_text("def answer(:\n    return 42\n")  # a syntax error
    (folder / "finn.py").write_text("while True:\n    pass\n")  # loops at import
    (folder / "gus").mkdir()  # a folder without tiny.py
    starter = "def answer():\n    raise NotImplementedError\n\ndef work():\n    raise NotImplementedError\n"
    (course.root / "starter.py").write_text(starter)
    (folder / "hal.py").write_text(starter + "\n")  # the starter as handed out
    out = tmp_path / "grades"
    spec_file = course.spec_path
    spec_file.write_text(spec_file.read_text().replace("call_timeout: 600", "call_timeout: 5"))
    done = grader("grade", course.root, folder, "--out", out, "-j", "2")
    assert done.returncode == 0, done.stdout + done.stderr  # all graded: their code did not run, which is their grade
    table = " ".join(done.stdout.split())
    assert "did not load: erin.py: SyntaxError at line 1" in table and "did not load: loading the submission took too long" \
        in table and "not submitted: gus: found no tiny.py in it" in table
    rows = gradebook(out)
    assert (rows["erin"]["status"], rows["erin"]["score"]) == ("did not load", "0")
    assert rows["erin"]["reason"].startswith("erin.py: SyntaxError at line 1")
    assert rows["gus"]["status"] == "not submitted"
    assert (rows["hal"]["status"], rows["hal"]["reason"]) == ("not submitted", "hal.py is the starter, unchanged")
    page = (out / "erin.html").read_text()
    assert page.index("Your code did not run") < page.index("Autograded tests earned")
    assert grader("report", out).returncode == 0
    report = (out / "_class-report.html").read_text()
    section = report[report.index('id="did-not-run"'):report.index('id="not-graded"')]
    assert all(name in section for name in ("erin", "finn", "gus", "hal")) and "alice" not in section
