"""What determined a result: the digest of every input grading read, and why a stored result is stale.

A result records, per input, a digest: the submission, the spec, the reference solution, the public and the
hidden tests, the tests' shared configuration (conftest.py and its neighbours under tests/), the assignment's
data (every other file grading may read), the grader itself (its version and the digest of its source), the
seed and the mode. Resuming compares the recorded digests with the current ones: a result is kept only
when every one is the same, and each difference is a reason, in words a TA reads ("hidden tests changed").
What only the late verdict or the views depend on (manifest, extensions, roster, a TA's review) is not
here: views apply those when they are rendered, so changing them never regrades.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path

import grader
from grader.spec import Assignment

# The assignment's files that no grading reads: the handout and starters (the student's), the audit's own inputs.
_NOT_READ = ("handout.md", "starter.py", "starter.ipynb", "tests/alternatives", "tests/mutants.yaml",
             "tests/equivalent_mutants.yaml")

# Each input, in the words of a reason ("<what> changed").
WHAT = {"submission": "the submission", "spec": "the spec (assignment.yaml)", "reference": "the reference solution",
        "public": "the public tests", "hidden": "the hidden tests", "tests": "the tests' configuration (conftest.py)",
        "data": "the assignment's data files", "grader": "the grader", "seed": "the seed", "mode": "the mode",
        "paper": "the exam paper (its variant)"}


def _digest_files(root: Path, paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _group(relative: str) -> str | None:
    """Which input an assignment file belongs to (None: grading does not read it)."""
    if relative == "assignment.yaml":
        return "spec"
    if any(relative == skip or relative.startswith(skip + "/") for skip in _NOT_READ):
        return None
    for folder in ("public", "hidden"):
        if relative.startswith(f"tests/{folder}/"):
            return folder
    return "tests" if relative.startswith("tests/") else "data"


def assignment_inputs(assignment: Assignment, public_only: bool) -> dict[str, str]:
    """The digests of the assignment's inputs to a grading (public-only gradings do not read the hidden tests)."""
    groups: dict[str, list[Path]] = {name: [] for name in ("spec", "public", "hidden", "tests", "data")}
    for path in assignment.root.rglob("*"):
        relative = path.relative_to(assignment.root).as_posix()
        if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("."):
            group = _group(relative)
            if group:
                groups[group].append(path)
    if public_only:
        groups.pop("hidden")
    inputs = {name: _digest_files(assignment.root, paths) for name, paths in groups.items()}
    solution = assignment.solution
    inputs["reference"] = (hashlib.sha256(solution.read_bytes()).hexdigest()
                           if solution is not None and solution.is_file() else "")
    inputs["grader"] = grader_digest()
    return inputs


@functools.lru_cache(maxsize=1)
def grader_digest() -> str:
    """The grader's version and the digest of its source: a grader changed without a version bump counts too."""
    package = Path(grader.__file__).resolve().parent
    files = [p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".html", ".css", ".js")
             and "__pycache__" not in p.parts]
    return f"{grader.__version__}:{_digest_files(package, files)[:16]}"


def provenance(inputs: dict[str, str], submission_sha256: str, seed: int, public_only: bool,
               paper: str = "") -> dict[str, str]:
    """The full record of what determined one result (`paper`: the id of an exam paper drawn for its owner)."""
    return {**inputs, "submission": submission_sha256, "seed": str(seed),
            "mode": "public tests only" if public_only else "all tests", **({"paper": paper} if paper else {})}


def stale_because(recorded: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """Why a result recorded with `recorded` is not the grade under `current` ([] when it still is)."""
    if not recorded:
        return ["it was graded before results recorded what determined them"]
    keys = list(current) + [key for key in recorded if key not in current]
    return [f"{WHAT.get(key, key)} changed" for key in keys if recorded.get(key) != current.get(key)]


def submission_sha256(path: Path, assignment: Assignment) -> str:
    """The submission's digest exactly as grading records it (a folder or zip hashes what it holds)."""
    from grader.submission import prepare

    with tempfile.TemporaryDirectory(prefix="grader-digest-") as scratch:
        return prepare(path, assignment.submission, Path(scratch)).sha256
