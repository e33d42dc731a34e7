"""A batch job's warm reference sandbox: lent to one grading at a time, each grading forks its reference's worker
from it and leaves it running, idle, for the next; a grading without it starts its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from grader.runner import grade, reference_template

from conftest import ROOT, make_assignment

TESTS = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_same_as_reference(submission, reference):
    assert submission.answer() == reference.answer() == 42
"""


def test_gradings_borrow_the_warm_reference_sandbox_and_leave_it_idle(tmp_path):
    assignment = make_assignment(tmp_path / "course", TESTS, "def answer():\n    return 42\n")
    student = tmp_path / "tiny.py"
    student.write_text("def answer():\n    return 6 * 7\n")
    (tmp_path / "ref").mkdir()
    warm = reference_template(assignment, tmp_path / "ref")
    try:
        processes = sorted(warm.group.pids())
        for _ in range(2):
            before = warm.group.cpu_seconds()
            result = grade(assignment, student, reference_sandbox=warm)
            assert result.autograded_score == 1, [t.message for t in result.tests]
            assert warm.group.cpu_seconds() > before  # the reference's worker ran in the warm sandbox
            assert warm.idle() and sorted(warm.group.pids()) == processes  # its worker is gone, nothing left unread
        pid = os.fork()
        if pid == 0:  # a batch job's child, as the job lends it: it cannot wait for the sandbox, yet sees it alive
            os._exit(0 if warm.alive() else 1)
        assert os.waitpid(pid, 0)[1] == 0
    finally:
        warm.close()
    assert not warm.alive()
    assert grade(assignment, student, reference_sandbox=warm).autograded_score == 1  # a closed one: its own


JOB = """
import json, sys
from grader.batch.job import Job
config, requests = json.loads(sys.argv[1])
job = Job(config)
statuses = {}
job.serve(lambda student, outcome: statuses.__setitem__(student, outcome.status), 2, requests)
job.close()
print(json.dumps(statuses))
"""


def test_a_job_leaves_nothing_in_its_temporary_folder(tmp_path):
    """Its zygote's spool, its sandboxes' folders and the folders of its warm reference sandboxes (one per slot)
    are all gone once it closed, whatever folder the batch gave it."""
    assignment = make_assignment(tmp_path / "course", TESTS, "def answer():\n    return 42\n")
    requests = []
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.py").write_text("def answer():\n    return 6 * 7\n")
        requests.append([name, str(tmp_path / f"{name}.py")])
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    config = {"assignment": str(assignment.root), "public_only": False, "seed": 0, "papers": None}
    done = subprocess.run([sys.executable, "-c", JOB, json.dumps([config, requests])], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "TMPDIR": str(temporary)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"a": "graded", "b": "graded", "c": "graded"}
    assert sorted(p.name for p in temporary.iterdir()) == []
