"""Grading a class folder: what the batch grades, what it keeps, and how it fails (end to end, from the CLI)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, TINY_SOLUTION, TINY_TESTS, make_assignment

from grader.store import GradesFolder

GOOD = TINY_SOLUTION
WRONG = GOOD.replace("42", "41")
SLOW = GOOD.replace("return True", "import time\n    time.sleep(300)\n    return True")
LIMITS = {"limits": {"call_timeout": 600, "total_timeout": 900}}


PUBLIC = """
import pytest

@pytest.mark.question("q")
@pytest.mark.points(1)
def test_work(submission):
    assert submission.work() is True, "work() must return True"
"""


@pytest.fixture
def course(tmp_path):
    assignment = make_assignment(tmp_path / "course", TINY_TESTS, GOOD, **LIMITS)
    (assignment.public_tests / "test_public.py").write_text(PUBLIC)
    return assignment


def start(assignment, folder: Path, out: Path, *args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", str(assignment.root), str(folder), "--out",
                             str(out), "-j", "2", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200", **(env or {})})


def batch(assignment, folder: Path, out: Path, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    process = start(assignment, folder, out, *args, env=env)
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def make_class(folder: Path, **students: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in students.items():
        (folder / f"{name}.py").write_text(source)
    return folder


def gradebook(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def stamps(out: Path) -> dict[str, int]:
    return {p.stem: p.stat().st_mtime_ns for p in out.glob("*.json")}


def leftovers(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.endswith(".partial")]


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds the marker (the batch, its jobs, their children, bubblewrap)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def wait_until(condition, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_class_rules_clashes_odd_names_and_skipped_files(course, tmp_path):
    folder = make_class(tmp_path / "class", alice=GOOD, carol=GOOD, **{"\u00e9lise": GOOD, "e\u0301lise": WRONG})
    (folder / "Carol.ipynb").write_text("{}")
    (folder / "bob").mkdir()  # a student folder without tiny.py: that student's result says so
    (folder / "bob" / "notes.md").write_text("I forgot")
    os.close(os.open(bytes(folder) + b"/\xff\xfe-dan.py", os.O_CREAT | os.O_WRONLY))  # not UTF-8
    Path(os.fsdecode(bytes(folder) + b"/\xff\xfe-dan.py")).write_text(GOOD)
    (folder / "readme.txt").write_text("not a submission")
    (folder / ".hidden.py").write_text(GOOD)
    out = tmp_path / "out"
    done = batch(course, folder, out)
    assert done.returncode == 1, done.stdout + done.stderr  # some students could not be graded
    rows = gradebook(out)
    dan = next(name for name in rows if name.endswith("dan") or "dan-" in name)
    assert dan.isascii() and dan.startswith("dan-") and rows[dan]["score"] == "3"
    assert rows["alice"]["score"] == "3" and rows["bob"]["score"] == "0"
    assert "found no tiny.py" in json.loads((out / "bob.json").read_text())["problem"]
    clashes = [name for name in rows if name.lower().startswith(("carol", "lise", "elise"))]
    assert len(clashes) == 2 and all(rows[n]["score"] == "" and rows[n]["status"] == "not graded" for n in clashes)
    assert "cannot be told apart" in rows[clashes[0]]["reason"]  # a row with the reason, never merged
    summary = " ".join(done.stdout.split())
    assert "not graded (2)" in summary and "Carol.ipynb, carol.py cannot be told apart" in summary
    assert "\u00e9lise.py" in summary and "e\u0301lise.py" in summary
    assert "readme.txt: not a .py" in summary and ".hidden.py: hidden" in summary
    # a folder holding tiny.py is one submission, unless --class says it is a class
    one = make_class(tmp_path / "one", tiny=GOOD, other=WRONG)
    assert batch(course, one, tmp_path / "o1").returncode == 0 and not (tmp_path / "o1").exists()
    assert batch(course, one, tmp_path / "o2", "--class").returncode == 0  # graded, whatever the scores
    assert set(gradebook(tmp_path / "o2")) == {"tiny", "other"}


def test_resume_keeps_only_results_of_the_same_submission_tests_and_mode(course, tmp_path):
    folder = make_class(tmp_path / "class", alice=GOOD, bob=GOOD)
    out = tmp_path / "out"
    assert batch(course, folder, out).returncode == 0
    first = stamps(out)
    done = batch(course, folder, out)
    assert done.returncode == 0 and stamps(out) == first and "2 kept" in done.stdout
    (folder / "bob.py").write_text(WRONG)  # a new submission
    done = batch(course, folder, out)
    assert done.returncode == 0 and "graded: the submission changed (1); kept: 1" in done.stdout
    second = stamps(out)
    assert second["alice"] == first["alice"] and second["bob"] != first["bob"]
    hidden = course.hidden_tests / "test_hidden.py"
    hidden.write_text(hidden.read_text() + "\n# the tests changed\n")
    done = batch(course, folder, out)
    assert done.returncode == 0 and "graded: the hidden tests changed (2); kept: 0" in done.stdout
    third = stamps(out)
    assert all(third[s] != second[s] for s in third)
    assert batch(course, folder, out, "--public-only").returncode == 0  # another mode: bob's mistake is hidden
    fourth = stamps(out)
    assert all(fourth[s] != third[s] for s in fourth)
    assert json.loads((out / "alice.json").read_text())["public_only"] is True
    assert batch(course, folder, out, "--public-only", "--regrade").returncode == 0
    assert all(t != f for t, f in zip(stamps(out).values(), fourth.values()))


def test_ctrl_c_stops_at_once_and_keeps_nothing_half_done(course, tmp_path):
    folder = make_class(tmp_path / "class", alice=GOOD, bob=SLOW, carol=SLOW, dan=SLOW)
    out, scratch, marker = tmp_path / "out", tmp_path / "tmp", f"GRADER_TEST_{uuid.uuid4().hex}"
    scratch.mkdir()
    process = start(course, folder, out, env={"TMPDIR": str(scratch), marker: "1"})
    assert wait_until(lambda: (out / "alice.json").exists()), "alice was never graded"
    time.sleep(1)  # the slow ones are in their sandboxes now
    process.send_signal(signal.SIGINT)
    began = time.monotonic()
    stdout, stderr = process.communicate(timeout=60)
    assert time.monotonic() - began < 15
    assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in out.glob("*.json")) == ["alice.json"]
    assert not leftovers(out) and not list(out.glob("*.html"))[1:]
    assert wait_until(lambda: not processes_with(marker), 10), "processes outlived the batch"
    assert list(scratch.iterdir()) == []


def test_after_sigkill_nothing_outlives_the_batch_and_resume_finishes(course, tmp_path):
    folder = make_class(tmp_path / "class", alice=GOOD, bob=SLOW, carol=SLOW)
    out, scratch, marker = tmp_path / "out", tmp_path / "tmp", f"GRADER_TEST_{uuid.uuid4().hex}"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch), marker: "1"}
    process = start(course, folder, out, env=env)
    assert wait_until(lambda: (out / "alice.json").exists()), "alice was never graded"
    time.sleep(1)
    process.kill()
    process.wait()
    assert wait_until(lambda: not processes_with(marker), 15), "processes outlived the killed batch"
    assert list(scratch.iterdir()), "the killed batch left no run folder: this test proves nothing"
    (folder / "bob.py").write_text(GOOD)
    (folder / "carol.py").write_text(WRONG)
    done = batch(course, folder, out, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {s: r["score"] for s, r in gradebook(out).items()} == {"alice": "3", "bob": "3", "carol": "2"}
    assert list(scratch.iterdir()) == [] and not leftovers(out)


def test_a_second_batch_on_the_same_folder_refuses_or_waits(course, tmp_path):
    folder = make_class(tmp_path / "class", alice=GOOD)
    out = tmp_path / "out"
    with GradesFolder.writing(out, "review --export", create=True):  # as another writing command holds it
        refused = batch(course, folder, out)
        message = " ".join(refused.stderr.split())
        assert refused.returncode == 2 and f"another command (grader review --export, pid {os.getpid()}) is " \
                                           f"writing {out}" in message
        assert "--wait" in message and not (out / "alice.json").exists()
        waiting = start(course, folder, out, "--wait")
        assert wait_until(lambda: "waiting" in (waiting.stderr.readline() or ""), 30)
        time.sleep(1)
        assert waiting.poll() is None and not (out / "alice.json").exists()
    assert waiting.wait(timeout=300) == 0 and (out / "alice.json").exists()


def test_output_folder_errors_are_one_line_and_resume_finishes(course, tmp_path):
    folder = make_class(tmp_path / "class", alice=GOOD, bob=GOOD, carol=WRONG)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    done = batch(course, folder, not_a_folder / "out")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"cannot write the output folder {not_a_folder / 'out'}" in " ".join(done.stderr.split())
    out = tmp_path / "small"
    out.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(out)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root outside a restricted container)")
    try:
        done = batch(course, folder, out)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
        assert str(out) in " ".join(done.stderr.split())
        assert not leftovers(out) and not (out / "gradebook.csv").exists()
        for result in out.glob("*.json"):
            json.loads(result.read_text())  # what is there is whole
        subprocess.run(["mount", "-o", "remount,size=4m", str(out)], check=True)
        done = batch(course, folder, out)
        assert done.returncode == 0, done.stdout + done.stderr
        assert {s: r["score"] for s, r in gradebook(out).items()} == {"alice": "3", "bob": "3", "carol": "2"}
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        done = batch(course, folder, out, "--regrade")
        assert done.returncode == 2 and "Read-only file system" in done.stderr and "Traceback" not in done.stderr
    finally:
        subprocess.run(["umount", str(out)], check=False)
