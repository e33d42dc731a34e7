"""The speed questions of backprop (numpy) and vae (torch), graded on this machine's GPU: the reference and
an alternative that is meant to be too slow, each with the timing the check measured (the figures to quote)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader import spec
from grader.perf import default_device
from grader.runner import grade

ROOT = Path(__file__).resolve().parents[2]
CASES = {"backprop": "loops.py", "vae": "slow_loop_over_images.py"}


def speed_only(slug: str, course: Path) -> spec.Assignment:
    """A copy of the assignment whose tests are its speed question's only."""
    folder = course / "assignments" / slug
    shutil.copytree(ROOT / "assignments" / slug, folder)
    for test in (folder / "tests").glob("*/test_*.py"):
        if test.name != "test_speed.py":
            test.unlink()
    (course / "solutions").mkdir(exist_ok=True)
    shutil.copy(ROOT / "solutions" / f"{slug}.py", course / "solutions" / f"{slug}.py")
    return spec.load(folder)


def main() -> int:
    print(f"device: {default_device()}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="grader-gpu-") as scratch:
        for slug, slow in CASES.items():
            assignment = speed_only(slug, Path(scratch))
            for name, path in (("reference", ROOT / "solutions" / f"{slug}.py"),
                               (slow, ROOT / "assignments" / slug / "tests" / "alternatives" / slow)):
                submission = Path(scratch) / name / next(n for n in assignment.submission if n.endswith(".py"))
                submission.parent.mkdir()
                shutil.copy(path, submission)
                started = time.monotonic()
                result = grade(assignment, submission)
                for test in result.tests:
                    print(f"{slug} {name}: {test.earned:g}/{test.points:g} in {time.monotonic() - started:.0f} s: "
                          f"{test.timing or test.message}")
                full = result.score == result.autograded_possible
                failures += full != (name == "reference")  # the reference earns the points, the slow one does not
    print("ok" if not failures else f"{failures} unexpected verdicts")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
