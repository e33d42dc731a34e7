"""Benchmark: merging the TAs' grades into a class of generated results, and the class report.

A class of N perceptron results recorded in a grades folder's store (tests/classes.py); a TA grade for
every other student; then, timed from the command line: `grader review --export` with the feedback pages
re-rendered, the same merge again (nothing changes), and `grader report`.

Run from the repository root: python tests/benchmarks/bench_course.py [--students N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("GRADER_HOME", str(ROOT))

from classes import make_class  # noqa: E402
from grader import spec  # noqa: E402
from grader.course.review.store import Store  # noqa: E402


def timed(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    students = parser.parse_args().students
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "grades"
        made = make_class(folder, students)
        store = Store(folder)
        items = spec.load("perceptron").question("proof").rubric
        for number, student in enumerate(sorted(made)):
            if number % 2 == 0:
                store.set_mark(student, "proof", items[number % len(items)].id, True)
        store.close()
        print(f"{students} students (one not graded), {len(made) // 2 + len(made) % 2} answers graded")
        print(f"merge with feedback pages: {timed('review', 'perceptron', str(folder), '--export'):.2f} s")
        print(f"merge again:               {timed('review', 'perceptron', str(folder), '--export'):.2f} s")
        print(f"class report:              {timed('report', str(folder)):.2f} s")


if __name__ == "__main__":
    main()
