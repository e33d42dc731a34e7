"""Shared fixtures of the toolkit's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from grader import spec
from grader.proxy import Proxy, Side
from grader.sandbox.launch import Template, detect

ROOT = Path(__file__).resolve().parent.parent

requires_bubblewrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


@pytest.fixture(autouse=True, scope="session")
def _grader_home():
    """Find assignments/ in this repository whatever the working directory."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADER_HOME", str(ROOT))
    yield
    mp.undo()


@pytest.fixture(params=["v1", "v2", "none"])
def cgroups(request, monkeypatch):
    """Each way the grader may control a sandbox's processes: cgroup v1, cgroup v2 (GRADER_CGROUP forces one where
    the machine has both), or signals and /proc; skipped where the machine lacks it. The version in force."""
    from grader.sandbox import groups
    monkeypatch.setenv("GRADER_CGROUP", request.param)
    groups.cgroup_version.cache_clear()
    version = groups.cgroup_version()
    if version != {"v1": 1, "v2": 2, "none": None}[request.param]:
        pytest.skip(f"control groups {request.param} cannot be created here")
    yield version
    monkeypatch.undo()
    groups.cgroup_version.cache_clear()


# A tiny assignment's tests (one question, two tests) and a solution that passes them.
TINY_TESTS = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_answer(submission):
    assert submission.answer() == 42, "answer() must return 42"

@pytest.mark.points(1)
def test_work(submission):
    assert submission.work() is True, "work() must return True"
"""
TINY_SOLUTION = "def answer():\n    return 42\n\ndef work():\n    return True\n"


SIDE_LIMITS = {"memory_mb": 1024, "cpu_seconds": 120, "file_size_mb": 8, "processes": 8, "disk_mb": 64, "files": 1000}


@pytest.fixture
def sides(tmp_path):
    """`sides(source, preload, **limits)` starts a sandboxed side running `source` and returns its proxy."""
    made = []

    def start(source: str, preload=("numpy",), **limits) -> Proxy:
        folder = tmp_path / f"side{len(made)}"
        folder.mkdir()
        config = {"preload": list(preload), "limits": {**SIDE_LIMITS, **limits}, "forbidden": []}
        side = Side("submission", lambda: Template(folder, [{"label": "m.py", "source": source}], config, detect()),
                    {}, call_timeout=30)
        made.append(side)
        return Proxy(side)

    yield start
    for side in made:
        side.close()


def load(slug: str) -> spec.Assignment:
    return spec.load(ROOT / "assignments" / slug)


def solution_source(slug: str) -> str:
    return (ROOT / "solutions" / f"{slug}.py").read_text()


def make_assignment(root: Path, hidden: str, solution: str, slug: str = "tiny", **spec_items) -> spec.Assignment:
    """A one-question assignment under `root`: `hidden` is its hidden test file (question "q", the points its
    markers say), `solution` its reference; `spec_items` override keys of assignment.yaml (limits, forbidden, ...)."""
    folder = root / "assignments" / slug
    for sub in ("hidden", "public"):
        (folder / "tests" / sub).mkdir(parents=True, exist_ok=True)
    (folder / "tests" / "hidden" / "test_hidden.py").write_text(hidden)
    (root / "solutions").mkdir(exist_ok=True)
    (root / "solutions" / f"{slug}.py").write_text(solution)
    data = {"slug": slug, "title": "A tiny assignment", "version": "1", "submission": [f"{slug}.py"],
            "preload": ["numpy"], "questions": [{"id": "q", "title": "The question", "points": 1}], **spec_items}
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    return spec.load(folder)
