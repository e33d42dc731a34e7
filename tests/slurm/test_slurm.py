"""The Slurm backend on a real cluster (.ci/run starts a one-node one with tests/slurm/cluster.sh).

Without a cluster (no `sinfo`, no SLURM_CONF) the tests that need one skip and say why."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grader.batch.slurm import load_options, refusal
from grader.notebook import from_percent_script
from grader.runner import GradingError
from grader.sandbox.launch import Isolation

from conftest import ROOT, TINY_SOLUTION, TINY_TESTS, make_assignment, solution_source


def _why_no_cluster() -> str | None:
    if shutil.which("sinfo") is None:
        return "no Slurm client here (sinfo); .ci/run installs and starts a one-node cluster"
    if not os.environ.get("SLURM_CONF"):
        return os.environ.get("GRADER_SLURM_SKIP") or "SLURM_CONF is not set: no cluster to submit to"
    if importlib.util.find_spec("submitit") is None:
        return "submitit is not installed (pip install 'dl-grader[slurm]')"
    probe = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or not probe.stdout.strip():
        return f"the Slurm cluster does not answer: {(probe.stderr or probe.stdout).strip()[:200]}"
    return None


needs_cluster = pytest.mark.skipif(bool(_why_no_cluster()), reason=str(_why_no_cluster()))
pytestmark = pytest.mark.xdist_group("slurm")  # one worker: some tests take the cluster's node or partition down


def grader(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})


def rows(out: Path) -> list[dict]:
    with open(out / "gradebook.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@needs_cluster
def test_a_class_graded_on_slurm_has_the_local_gradebook(tmp_path):
    folder = tmp_path / "class"
    (folder / "carol").mkdir(parents=True)
    (folder / "alice.py").write_text(solution_source("perceptron"))
    shutil.copy(ROOT / "assignments" / "perceptron" / "starter.py", folder / "bob.py")
    nbformat.write(from_percent_script(solution_source("perceptron").replace("np.sign", "-np.sign")),
                   folder / "carol" / "perceptron.ipynb")
    local = grader("grade", "perceptron", folder, "--out", tmp_path / "local", "-j", "2")
    assert local.returncode == 0, local.stdout + local.stderr
    slurm = grader("grade", "perceptron", folder, "--out", tmp_path / "slurm", "--slurm", "--array-parallelism", "2",
                   "--chunk-size", "2")  # two tasks: two students in one warm job, one in the other
    assert slurm.returncode == 0, slurm.stdout + slurm.stderr
    assert rows(tmp_path / "slurm") == rows(tmp_path / "local")
    assert {r["student"] for r in rows(tmp_path / "slurm")} == {"alice", "bob", "carol"}
    assert (tmp_path / "slurm" / ".runs").stat().st_mode & 0o777 == 0o700  # only the grader writes its pickles
    assert list((tmp_path / "slurm" / ".runs").iterdir()) == []  # each run's submitit folder goes with it
    again = grader("grade", "perceptron", folder, "--out", tmp_path / "slurm", "--slurm")
    assert again.returncode == 0 and "graded: none; kept: 3" in again.stdout


@needs_cluster
def test_a_task_slurm_stops_is_reported_and_graded_on_resume(tmp_path):
    course = make_assignment(tmp_path / "course", "import pytest\n\n@pytest.mark.question('q')\n@pytest.mark.points(1)\n"
                             "def test_answer(submission):\n    assert submission.answer() == 42\n",
                             "def answer():\n    return 42\n", limits={"call_timeout": 600, "total_timeout": 900})
    folder = tmp_path / "class"
    folder.mkdir()
    for student in ("alice", "bob"):  # still loading when Slurm's signal comes (on its tick of about 30 s)
        (folder / f"{student}.py").write_text("import time\ntime.sleep(300)\n\ndef answer():\n    return 42\n")
    out = tmp_path / "out"
    # a limit of one minute: submitit asks Slurm for its time-is-up signal 90 s before the limit, so at once
    stopped = grader("grade", course.root, folder, "--out", out, "--slurm", "--time-limit", "1")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    summary = " ".join(stopped.stdout.split())
    assert "not graded (2)" in summary and "alice:" in summary and "bob:" in summary
    assert any(why in summary for why in ("SIGUSR2", "SIGTERM", "Slurm task")), summary  # how Slurm ended it
    assert not list(out.glob("*.json"))
    for student in ("alice", "bob"):
        (folder / f"{student}.py").write_text("def answer():\n    return 42\n")
    resumed = grader("grade", course.root, folder, "--out", out, "--slurm", "--time-limit", "5")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [r["score"] for r in rows(out)] == ["1", "1"]


def test_a_node_where_student_code_could_write_the_grader_s_files_is_refused():
    assert "refusing to grade here" in refusal(Isolation("rlimits", own_users=False))
    assert refusal(Isolation("rlimits", own_users=True)) is None  # a user of its own cannot write 0700 folders
    assert refusal(Isolation("bubblewrap", own_users=False)) is None  # the sandbox does not see them


TASK = """
import json, sys
from grader.batch.slurm import slurm_task
config, chunk = json.loads(sys.argv[1])
print(json.dumps(slurm_task(config, chunk)))
"""


def run_task(config: dict, chunk: list) -> dict:
    """The task's function in a process of its own, as a node runs it (it sets the process's temporary folder)."""
    done = subprocess.run([sys.executable, "-c", TASK, json.dumps([config, chunk])], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_task_is_the_grading_job_and_an_assignment_it_cannot_load_fails_each_student(tmp_path):
    """No cluster needed: the task grades its chunk with the job in its own process (grader.batch.job.grade_chunk);
    where the job cannot even start, each student of the chunk fails with why (the next run grades them)."""
    assignment = make_assignment(tmp_path / "course", TINY_TESTS, TINY_SOLUTION)
    (tmp_path / "good.py").write_text(TINY_SOLUTION)
    (tmp_path / "wrong.py").write_text(TINY_SOLUTION.replace("42", "41"))
    # a student who knows the task's process is now the job tries to end it, and every process it can see
    (tmp_path / "killer.py").write_text("import os, signal\nfor pid in (os.getppid(), 1, -1):\n    try:\n"
                                        "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
                                        + TINY_SOLUTION)
    chunk = [[name, str(tmp_path / f"{name}.py")] for name in ("good", "killer", "wrong")]
    config = {"assignment": str(assignment.root), "public_only": False, "seed": 0, "papers": None, "jobs": 2}
    outcomes = run_task(config, chunk)
    scores = {student: (o["status"], o["result"] and o["result"]["autograded_score"]) for student, o in outcomes.items()}
    assert scores["good"] == ("graded", 2.0) and scores["wrong"] == ("graded", 1.0), outcomes
    assert scores["killer"] == ("graded", 2.0), outcomes  # it reaches nothing to signal: its grading runs on
    outcomes = run_task({**config, "assignment": str(tmp_path / "nowhere")}, chunk)
    assert {o["status"] for o in outcomes.values()} == {"failed"}
    assert all(o["message"].startswith("the grading job ended: SpecError") for o in outcomes.values()), outcomes


def test_slurm_options_come_from_a_config_file_and_the_command_line(tmp_path):
    config = tmp_path / "slurm.yaml"
    config.write_text("partition: gpu\ntime_limit: 20\ngpus_per_task: 1\n")
    options = load_options(config, time_limit=45, partition=None)
    assert (options.partition, options.time_limit, options.gpus_per_task) == ("gpu", 45, 1)
    config.write_text("partition: gpu\ngpus: 1\n")
    with pytest.raises(GradingError, match="unknown Slurm option gpus"):
        load_options(config)
    done = grader("grade", "perceptron", ROOT / "assignments", "--out", tmp_path / "o", "--slurm",
                  "--slurm-config", config)
    assert done.returncode == 2 and "slurm.yaml: unknown Slurm option gpus" in done.stderr
    assert "Traceback" not in done.stderr


def _node() -> str:
    return subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, timeout=30).stdout.split()[0]


def _scontrol(*args: str, check: bool = True) -> None:
    subprocess.run(["scontrol", "update", *args], check=check, capture_output=True, timeout=30)


def _slow_course(tmp_path, seconds: int):
    course = make_assignment(tmp_path / "course", "import pytest\n\n@pytest.mark.question('q')\n@pytest.mark.points(1)\n"
                             "def test_answer(submission):\n    assert submission.answer() == 42\n",
                             "def answer():\n    return 42\n", limits={"call_timeout": 600, "total_timeout": 900})
    folder = tmp_path / "class"
    folder.mkdir()
    for student in ("alice", "bob"):
        (folder / f"{student}.py").write_text(f"import time\ntime.sleep({seconds})\n\ndef answer():\n    return 42\n")
    return course, folder


def _views(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith("grades.sqlite")}


@needs_cluster
def test_a_task_failed_by_its_node_is_reported_its_run_never_writes_again_and_resume_grades_it(tmp_path):
    course, folder = _slow_course(tmp_path, 40)
    out = tmp_path / "out"
    batch = subprocess.Popen([sys.executable, "-m", "grader", "grade", course.root, folder, "--out", out, "--slurm"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "COLUMNS": "200"})
    node = _node()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "R" not in subprocess.run(
                ["squeue", "-h", "-o", "%t", "-n", "grader-tiny"], capture_output=True, text=True).stdout.split():
            time.sleep(0.5)
        time.sleep(2)  # the tasks are loading their submissions on the node
        _scontrol(f"nodename={node}", "state=down", "reason=grader-test")
        stdout, stderr = batch.communicate(timeout=300)
    finally:
        _scontrol(f"nodename={node}", "state=resume", check=False)  # it may be back already (ReturnToService)
    assert batch.returncode == 1, stdout + stderr
    summary = " ".join(stdout.split())
    assert "not graded (2)" in summary and summary.count("Slurm task") == 2, summary
    assert "NODE_FAIL" in summary or "SIGTERM" in summary, summary  # how the node's end reached the task
    assert {r["status"] for r in rows(out)} <= {"grading failed", "interrupted"} and all(r["score"] == ""
                                                                                          for r in rows(out))
    assert list((out / ".runs").iterdir()) == []  # the run's folder went with it: its tasks have nowhere to write
    views = _views(out)
    time.sleep(5)
    assert _views(out) == views  # nothing of the ended run writes afterwards (requeue is off)
    for student in ("alice", "bob"):
        (folder / f"{student}.py").write_text("def answer():\n    return 42\n")
    resumed = grader("grade", course.root, folder, "--out", out, "--slurm")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert re.search(r"graded: was (failed|interrupted) \(2\)", resumed.stdout) and [r["score"] for r in rows(out)] == ["1", "1"]


@needs_cluster
def test_a_cluster_that_runs_nothing_is_reported_and_the_wait_has_a_deadline(tmp_path):
    course, folder = _slow_course(tmp_path, 0)
    out = tmp_path / "out"
    _scontrol("partitionname=debug", "state=down")  # submissions queue, nothing starts
    try:
        stalled = grader("grade", course.root, folder, "--out", out, "--slurm", "--stall-report", "3",
                         "--deadline", "1", "--chunk-size", "1")  # a task per student
    finally:
        _scontrol("partitionname=debug", "state=up")
    assert stalled.returncode == 1, stalled.stdout + stalled.stderr
    assert "Slurm has started or ended none of the 2 waiting task(s) (2 students)" in stalled.stderr
    assert "2 PENDING" in stalled.stderr
    summary = " ".join(stalled.stdout.split())
    assert "had not ended after 1.0 min (it was PENDING): cancelled" in summary
    resumed = grader("grade", course.root, folder, "--out", out, "--slurm")
    assert resumed.returncode == 0 and [r["score"] for r in rows(out)] == ["1", "1"]
