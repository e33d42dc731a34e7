"""The trusted process imports only what an assignment's tests use: grading the reference of char_rnn or vae, in a
fresh process, loads neither torch._dynamo (which torch.optim pulls in, about a second; the sandboxes preload it)
nor scikit-learn or scipy (the digits come from grader.datasets, a chi-square tail from torch); nor does a batch
job, which imports what its children share before it forks them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

HEAVY = ("torch._dynamo", "sklearn", "scipy")

GRADE_AND_LIST = """
import json, sys
from grader import spec
from grader.runner import grade
assignment = spec.load(sys.argv[1])
if sys.argv[2] == "job":
    from grader.batch.job import Job
    job = Job({"assignment": sys.argv[1], "public_only": False})  # imports, warms up, grades an empty module
    job.close()
result = grade(assignment, assignment.solution)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("sklearn", "scipy") or name.startswith("torch._dynamo"))
print(json.dumps({"score": result.autograded_score, "possible": result.autograded_possible, "heavy": heavy}))
"""


@pytest.mark.parametrize("process", ["single", "job"])
@pytest.mark.parametrize("slug", ["char_rnn", "vae"])
def test_grading_imports_nothing_the_tests_do_not_use(slug, process):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADER_HOME": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", GRADE_AND_LIST, slug, process], capture_output=True, text=True, env=env,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["score"] == report["possible"] > 0, report  # the tests ran, and the reference passed them
    assert report["heavy"] == [], f"grading {slug} imported {', '.join(report['heavy'])}"
