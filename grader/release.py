"""Build the student bundle of an assignment: what students need to work and to run `grader check`."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.course.ci import workflow
from grader.spec import Assignment

BUNDLED = ("assignment.yaml", "handout.md", "starter.py", "starter.ipynb", "tests/conftest.py", "tests/public")


def release(assignment: Assignment, out: Path, ci: tuple[str, ...] = (), package: str = "dl-grader") -> Path:
    """Copy the handout, starters, spec and public tests to out/<slug>; hidden tests and solutions stay behind.

    Each CI named in `ci` ("github", "gitlab") gets a workflow that installs `package` and runs the public tests.
    """
    target = out / assignment.slug
    if target.exists():
        shutil.rmtree(target)
    for name in BUNDLED:
        source = assignment.root / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for kind in ci:
        path, text = workflow(assignment, kind, package)
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text(text, encoding="utf-8")
    return target
