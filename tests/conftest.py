"""Shared fixtures of the toolkit's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
