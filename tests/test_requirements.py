"""Requirement traceability: handouts tag their requirements ([R1.2]), tests declare what they check, `grader
validate` fails on a requirement no test checks or a marker naming an unknown one, `grader audit` reports the
coverage; and every bundled assignment's handout is covered."""

from __future__ import annotations

import json

import pytest

from grader import spec
from grader.cli import main
from grader.requirements import collect, stated

from conftest import make_assignment

SOLUTION = "def double(x):\n    return 2 * x\n"
HANDOUT = """# Tiny

`double(x)` returns twice x. [R1.1] It must not print anything. [R1.2]
As said above, twice x [R1.1], for ints and floats.
"""


def suite_declaring(*ids: str) -> str:
    marker = f"@pytest.mark.requirement({', '.join(repr(i) for i in ids)})\n" if ids else ""
    return ("import pytest\n\n@pytest.mark.question('q')\n@pytest.mark.points(1)\n" + marker +
            "def test_double(submission):\n    assert submission.double(3) == 6\n")


def tiny(tmp_path, *ids: str):
    assignment = make_assignment(tmp_path / "course", suite_declaring(*ids), SOLUTION)
    (assignment.root / "handout.md").write_text(HANDOUT)
    return assignment


def test_the_handout_states_each_requirement_once_where_it_is_first_tagged(tmp_path):
    handout = tmp_path / "handout.md"
    handout.write_text(HANDOUT)
    found = stated(handout)
    assert list(found) == ["R1.1", "R1.2"]
    assert found["R1.1"].line == 3 and found["R1.1"].text == "`double(x)` returns twice x. It must not print anything."
    assert stated(tmp_path / "missing.md") == {}


def test_coverage_pairs_requirements_with_the_tests_that_declare_them(tmp_path):
    coverage = collect(tiny(tmp_path, "R1.1", "R7.7"))
    assert coverage.tests == {"R1.1": ["test_hidden.py::test_double"]}
    assert [r.id for r in coverage.untested] == ["R1.2"] and coverage.share == 0.5
    assert coverage.unknown == [("test_hidden.py::test_double", "R7.7")]
    problems = coverage.problems()
    assert "handout.md:3: requirement R1.2 is checked by no test" in problems[0]
    assert "test_hidden.py::test_double: requirement 'R7.7' is not stated in handout.md" in problems[1]


def test_validate_fails_on_an_untested_or_unknown_requirement_and_passes_when_covered(tmp_path, capsys):
    assignment = tiny(tmp_path, "R1.1")
    assert main(["validate", str(assignment.root)]) == 1
    assert "requirement R1.2 is checked by no test" in capsys.readouterr().out
    (assignment.hidden_tests / "test_hidden.py").write_text(suite_declaring("R1.1", "R1.2"))
    main(["validate", str(assignment.root)])
    assert "requirement" not in capsys.readouterr().out  # (the tiny assignment has no starter: that is all it says)


def test_the_audit_reports_the_coverage_and_fails_on_an_untested_requirement(tmp_path, capsys):
    assignment = tiny(tmp_path, "R1.1")
    out = tmp_path / "audit.json"
    code = main(["audit", str(assignment.root), "-j", "1", "--mutants", "0", "--seeds", "0", "--json", str(out)])
    report = json.loads(out.read_text())
    assert code == 1 and report["requirements"]["stated"] == 2 and report["requirements"]["share"] == 0.5
    assert [r["id"] for r in report["requirements"]["untested"]] == ["R1.2"]
    assert "requirements of the handout checked by a test: 1 of 2 (50%)" in capsys.readouterr().out


@pytest.mark.parametrize("slug", ["perceptron", "backprop", "lstm_bptt", "optimizers", "ebm", "elbo", "char_rnn", "vae",
                                  "midterm"])
def test_every_requirement_of_every_handout_is_checked_by_a_test(slug):
    coverage = collect(spec.load(slug))
    assert coverage.requirements, f"{slug}: its handout tags no requirement"
    assert coverage.problems() == []
