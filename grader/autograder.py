"""Gradescope's side of the autograder zip (grader release --gradescope): grade what Gradescope unpacked into
<root>/submission/ as one submission and write <root>/results/results.json; root is /autograder there.

Usage: python -m grader.autograder <slug> <root>. The assignment is <root>/source/assignments/<slug>.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grader import spec
from grader.course.tables import CourseError
from grader.reports.gradescope import to_gradescope
from grader.runner import GradingError, grade


def main(argv: list[str] | None = None) -> int:
    slug, root = argv if argv is not None else sys.argv[1:]
    root = Path(root)
    try:
        assignment = spec.load(root / "source" / "assignments" / slug)
        result = grade(assignment, root / "submission", variant=owners_variant(assignment, root))
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


if __name__ == "__main__":
    sys.exit(main())
