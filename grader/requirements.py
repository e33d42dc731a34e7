"""Requirement traceability: every requirement a handout states carries an id, and tests say which they check.

A handout tags a requirement in its text with its id in brackets, `[R4.2]` (the part, then a number; an id may
be cited again further down, it is the same requirement). A test declares what it checks with a marker,
`@pytest.mark.requirement("R4.2", "R4.3")`, on the test or its module. `coverage` pairs the two: a requirement
no test declares is untested, a marker naming an id the handout does not state is unknown; `grader validate`
fails on either and `grader audit` reports them with the share of requirements checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.spec import Assignment

MARKER = "requirement"
TAG = re.compile(r"\[(R\d+(?:\.\d+)?)\]")


@dataclass(frozen=True)
class Requirement:
    id: str
    line: int        # where the handout first states it
    text: str        # that line, trimmed


@dataclass
class Coverage:
    """The handout's requirements and the tests that declare each."""

    handout: Path
    requirements: dict[str, Requirement]
    tests: dict[str, list[str]] = field(default_factory=dict)     # requirement id -> tests that check it
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (test, id) for ids the handout does not state

    @property
    def untested(self) -> list[Requirement]:
        return [r for r in self.requirements.values() if not self.tests.get(r.id)]

    @property
    def share(self) -> float | None:
        """The share of the handout's requirements some test checks (None when it states none)."""
        if not self.requirements:
            return None
        return 1 - len(self.untested) / len(self.requirements)

    def problems(self) -> list[str]:
        found = [f"{self.handout}:{r.line}: requirement {r.id} is checked by no test (add "
                 f"@pytest.mark.requirement({r.id!r}) to the tests that check it): {r.text}" for r in self.untested]
        found += [f"{test}: requirement {rid!r} is not stated in {self.handout.name} (tag it there as [{rid}])"
                  for test, rid in self.unknown]
        return found

    def to_dict(self) -> dict:
        return {"stated": len(self.requirements), "tested": len(self.requirements) - len(self.untested),
                "share": None if self.share is None else round(self.share, 4),
                "untested": [{"id": r.id, "line": r.line, "text": r.text} for r in self.untested],
                "unknown": [{"test": t, "id": i} for t, i in self.unknown],
                "tests": {rid: self.tests.get(rid, []) for rid in self.requirements}}


def stated(handout: Path) -> dict[str, Requirement]:
    """The requirements `handout` tags, by id, in the order it first states them."""
    found: dict[str, Requirement] = {}
    if not handout.exists():
        return found
    for number, line in enumerate(handout.read_text().splitlines(), start=1):
        for rid in TAG.findall(line):
            found.setdefault(rid, Requirement(rid, number, " ".join(TAG.sub("", line).split())[:160]))
    return found


def declared(item) -> list[str]:
    """The requirement ids a collected test declares (its own markers and its module's)."""
    return [str(arg) for marker in item.iter_markers(MARKER) for arg in marker.args]


def coverage(assignment: Assignment, items) -> Coverage:
    """Pair the handout's requirements with the collected test items that declare them."""
    handout = assignment.root / "handout.md"
    result = Coverage(handout, stated(handout))
    for item in items:
        name = f"{Path(str(item.path)).name}::{item.name}"
        for rid in declared(item):
            if rid in result.requirements:
                result.tests.setdefault(rid, []).append(name)
            else:
                result.unknown.append((name, rid))
    return result


def collect(assignment: Assignment) -> Coverage:
    """Collect the assignment's tests (no submission runs) and pair them with its handout's requirements."""
    from grader.plugin import GraderPlugin
    from grader.runner import run_pytest

    plugin = GraderPlugin(assignment, None, None)
    run_pytest(assignment, plugin, collect_only=True)
    return coverage(assignment, plugin.items)
