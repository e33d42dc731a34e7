"""Shared fixtures of the toolkit's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from grader import spec

ROOT = Path(__file__).resolve().parent.parent

requires_bubblewrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


@pytest.fixture(autouse=True, scope="session")
def _grader_home():
    """Find assignments/ in this repository whatever the working directory."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADER_HOME", str(ROOT))
    yield
    mp.undo()


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
