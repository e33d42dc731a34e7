"""Gradescope's side of the autograder zip (grader release --gradescope): grade what Gradescope unpacked into
<root>/submission/ as one submission and write <root>/results/results.json; root is /autograder there.

Usage: python -m grader.autograder <slug> <root>. The assignment is <root>/source/assignments/<slug>.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grader import spec
from grader.reports.gradescope import to_gradescope
from grader.runner import GradingError, grade


def main(argv: list[str] | None = None) -> int:
    slug, root = argv if argv is not None else sys.argv[1:]
    root = Path(root)
    try:
        result = grade(spec.load(root / "source" / "assignments" / slug), root / "submission")
        document, status = to_gradescope(result), 0
    except (spec.SpecError, GradingError) as error:  # the autograder is broken, not the submission: say so
        print(f"error: {error}", file=sys.stderr)  # Gradescope shows this output to instructors
        document = {"score": 0, "output": "The autograder itself failed, not your submission; please tell your "
                                          "instructor. Your submission is kept and will be graded again.",
                    "output_format": "text", "tests": []}
        status = 1
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "results.json").write_text(json.dumps(document, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
