"""Gradescope's side of the autograder zip (grader release --gradescope): grade what Gradescope unpacked into
<root>/submission/ as one submission and write <root>/results/results.json; root is /autograder there.

Usage: python -m grader.autograder <slug> <root>. The assignment is <root>/source/assignments/<slug>.
`python -m grader.autograder probe` (setup.sh runs it) says which isolation this container gives.

The zip holds the reference solution and the hidden tests, so they must stay out of the student's reach
whatever isolation the container allows: before grading, <root>/source/ becomes readable by the grader's
user (root on Gradescope) alone, and the grading refuses to run (a clear failure in results.json) unless
student code runs under bubblewrap or under a user of its own, or under less than the assignment asks for
(`isolation:` in assignment.yaml). Every result says which isolation it ran under.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from grader import spec
from grader.course.tables import CourseError
from grader.isolation_cache import cached_detect
from grader.reports.gradescope import to_gradescope
from grader.runner import GradingError, grade
from grader.sandbox.launch import Isolation

MINIMUM = "own_user"  # what keeps the reference and hidden tests, readable by the grader's user alone, from student code


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    if argv == ["probe"]:
        print(f"isolation: {cached_detect().describe()}; {_verdict(cached_detect())}")
        return 0
    slug, root = argv
    root = Path(root)
    try:
        isolation = cached_detect()
        if not isolation.meets(MINIMUM):
            raise GradingError(f"student code would run {isolation.describe()} here, and could read the reference "
                               f"solution and the hidden tests: {_verdict(isolation)}")
        keep_to_owner(root / "source")
        assignment = spec.load(root / "source" / "assignments" / slug)
        result = grade(assignment, root / "submission", isolation=isolation,
                       variant=owners_variant(assignment, root))
        result.warnings.append(f"isolation: {isolation.describe()}; the reference and the hidden tests were "
                               "readable only by the grader's user")
        document, status = to_gradescope(result), 0
    except (spec.SpecError, GradingError, CourseError) as error:  # the autograder is broken, not the submission
        print(f"error: {error}", file=sys.stderr)  # Gradescope shows this output to instructors
        document = {"score": 0, "output": "The autograder itself failed, not your submission; please tell your "
                                          "instructor. Your submission is kept and will be graded again.",
                    "output_format": "text", "tests": []}
        status = 1
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "results.json").write_text(json.dumps(document, indent=2))
    return status


def owners_variant(assignment: spec.Assignment, root: Path):
    """An exam with variants: the paper of the student who submitted, as Gradescope names them in
    <root>/submission_metadata.json (its sid or email; Gradescope writes the file, the student does not), found
    on the roster the zip carries (grader release --gradescope --roster); None for an exam without variants."""
    if not assignment.has_variants:
        return None
    from grader.course.roster import read_roster
    from grader.variants import generate

    roster, metadata = root / "source" / "roster.csv", root / "submission_metadata.json"
    if not roster.is_file():
        raise GradingError(f"{assignment.slug} has variants, but the autograder zip has no roster (release it with "
                           "--gradescope and --roster)")
    try:
        users = json.loads(metadata.read_text()).get("users") or []
    except (OSError, ValueError, AttributeError) as error:
        raise GradingError(f"{metadata}: cannot read who submitted ({error})") from None
    students = read_roster(roster)
    for user in users if isinstance(users, list) else []:
        for key in (user.get("sid"), user.get("email")) if isinstance(user, dict) else ():
            student = students.find(str(key)) if key else None
            if student is not None:
                return generate(assignment, student.id)
    raise GradingError(f"no student of the roster submitted this (by sid or email in {metadata.name}), so its paper "
                       f"of {assignment.slug} is unknown")


def keep_to_owner(folder: Path) -> None:
    """Make `folder` and everything in it readable by its owner alone (the grader's user); links are left
    alone (a mode change would reach what they point at)."""
    for parent, folders, files in os.walk(folder):
        os.chmod(parent, 0o700)
        for path in (os.path.join(parent, name) for name in files):
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & 0o700)


def _verdict(isolation: Isolation) -> str:
    if isolation.meets(MINIMUM):
        return "the autograder grades here"
    return ("the autograder refuses to grade here: run it as root (student code then runs under a user of its own) "
            "or where bubblewrap works")


if __name__ == "__main__":
    sys.exit(main())
