"""`grader audit`: the kill rate and its per-question attribution, equivalent mutants, seed luck, the score-cap
check, alternative solutions (the test that rejects a correct answer is named) and the seed override of grading.

The judging is tested on results made here (fast); grading runs end to end on a tiny assignment."""

from __future__ import annotations

import json

import nbformat
import pytest
import yaml

from grader.audit import UNREACHED, Plan, _judge, load_alternatives, load_equivalents, plan, variants
from grader.cli import main
from grader.notebook import from_percent_script
from grader import results as model
from grader.spec import SpecError

from conftest import make_assignment

SOLUTION = "def double(x):\n    return 2 * x\n\n\ndef triple(x):\n    return 3 * x\n\n\ndef unused(a, b):\n    return a * b\n"
TESTS = """
import pytest

@pytest.mark.question("q")
@pytest.mark.points(2)
def test_double(submission):
    assert submission.double(3) == 6, "double(3) must be 6"

@pytest.mark.question("r")
@pytest.mark.points(1)
def test_triple(submission):
    assert submission.triple(3) == 9, "triple(3) must be 9"
"""
QUESTIONS = [{"id": "q", "title": "Double", "points": 2}, {"id": "r", "title": "Triple", "points": 1}]
POINTS = {"q": 2, "r": 1}


@pytest.fixture
def tiny(tmp_path):
    """A two-question assignment (double: 2 points, triple: 1) whose reference has an untested function."""
    def build(**spec_items):
        return make_assignment(tmp_path / "course", TESTS, SOLUTION, questions=QUESTIONS, **spec_items)
    return build


def result(lost=(), cap=None) -> model.GradeResult:
    """A result that lost the questions `lost`."""
    tests = [model.TestResult(f"hidden/test_hidden.py::test_{q}", q, p, 0.0 if q in lost else p,
                        "failed" if q in lost else "passed", "hidden", "wrong" if q in lost else "") for q, p in POINTS.items()]
    questions = [model.QuestionResult(q, q, p, 0.0 if q in lost else p) for q, p in POINTS.items()]
    return model.GradeResult("tiny", "1", "0", "s.py", "", "test", tests, questions, score_cap=cap)


def judge(assignment, fates: dict[str, dict[int, set]], seeds=(0,), cap=None):
    """The report when automatic mutant `id` loses `fates[id][seed]` (every other variant scores as expected)."""
    run = Plan(seeds=tuple(seeds), mutants=None, alternatives=None, mutant_seeds=tuple(seeds))
    found = variants(assignment, run)
    graded = {}
    for variant, variant_seeds in found:
        for seed in variant_seeds:
            lost = variant.loses
            if variant.expect == "auto":
                lost = fates[variant.name.removeprefix("auto_").replace("_", ":", 3)][seed]
            graded[(variant.name, seed)] = (result(lost, cap), "")
    return _judge(assignment, run, found, graded, wall=1.0, jobs=1)


def test_the_kill_rate_counts_every_mutant_and_survivors_are_attributed_to_their_function(tiny):
    assignment = tiny()
    fates = {"arith:2:11:0": {0: {"q"}}, "constant:2:11:0": {0: {"q"}}, "constant:2:11:1": {0: {"q"}},
             "arith:6:11:0": {0: {"r"}}, "constant:6:11:0": {0: {"r"}}, "constant:6:11:1": {0: set()},
             "arith:10:11:0": {0: set()}}
    report = judge(assignment, fates)
    assert report.kill_rate == pytest.approx(5 / 7)
    assert report.per_question() == {"q": (3, 0), "r": (2, 1), UNREACHED: (0, 1)}
    assert any("71.4% killed, under the 95% the spec requires (2 of 7 not killed" in p for p in report.problems())
    survivors = {f.mutant.id: (f.mutant.function, f.mutant.description) for f in report.fates if f.status == "survived"}
    assert survivors == {"constant:6:11:1": ("triple", "line 6: `3` -> `2`"),
                         "arith:10:11:0": ("unused", "line 10: `a * b` -> `a / b`")}
    assert not judge(tiny(audit={"kill_rate": 0.7}), fates).problems()


def test_equivalent_mutants_leave_the_rate_and_a_stale_or_refuted_one_is_reported(tiny):
    assignment = tiny()
    assignment.equivalent_mutants_path.write_text(yaml.safe_dump([
        {"id": "arith:10:11:0", "reason": "unused is never called"},
        {"id": "arith:2:11:0", "reason": "a wrong claim: the tests kill it"},
        {"id": "arith:99:0:0", "reason": "the line moved"}]))
    everything = {"arith:2:11:0": {0: {"q"}}, "constant:2:11:0": {0: {"q"}}, "constant:2:11:1": {0: {"q"}},
                  "arith:6:11:0": {0: {"r"}}, "constant:6:11:0": {0: {"r"}}, "constant:6:11:1": {0: {"r"}},
                  "arith:10:11:0": {0: set()}}
    report = judge(assignment, everything)
    assert report.kill_rate == 1.0 and len(report.counted) == 5
    assert report.stale_equivalents == ["arith:99:0:0"] and report.refuted_equivalents == ["arith:2:11:0"]
    problems = "\n".join(report.problems())
    assert "arith:99:0:0 is not an automatic mutant of the reference" in problems
    assert "arith:2:11:0 is listed as equivalent but the tests kill it" in problems
    assert not [v for v, _ in variants(assignment, plan(assignment)) if v.name == "auto_arith_10_11_0"]  # not sampled


def test_a_mutant_whose_fate_depends_on_the_seed_is_seed_lucky_and_not_killed(tiny):
    assignment = tiny()
    fates = {i: {0: {"q"}, 1: {"q"}} for i in ("arith:2:11:0", "constant:2:11:0", "constant:2:11:1")}
    fates |= {i: {0: {"r"}, 1: {"r"}} for i in ("arith:6:11:0", "constant:6:11:0", "arith:10:11:0")}
    fates["constant:6:11:1"] = {0: {"r"}, 1: set()}
    report = judge(assignment, fates, seeds=(0, 1))
    assert [(f.mutant.id, f.status) for f in report.fates if f.status != "killed"] == [("constant:6:11:1", "seed-lucky")]
    assert report.kill_rate == pytest.approx(6 / 7) and report.per_question()["r"] == (3, 1)


def test_a_sample_grades_its_mutants_under_the_specs_seed_and_a_full_audit_under_every_seed(tiny):
    assignment = tiny(seed=10, audit={"seeds": 2, "sample": {"seeds": 1, "mutants": 3, "alternatives": 0}})
    assert plan(assignment) == Plan(seeds=(10, 11), mutants=3, alternatives=0, mutant_seeds=(10,))
    assert plan(assignment, full=True) == Plan(seeds=(10, 11, 12), mutants=None, alternatives=None,
                                               mutant_seeds=(10, 11, 12), speed_repeats=5)
    assert plan(assignment, seeds=0, mutants=None).mutants is None
    graded = {v.name: seeds for v, seeds in variants(assignment)}
    assert graded["reference"] == (10, 11) and graded["reference_notebook"] == (10,)
    assert sorted(s for n, s in graded.items() if n.startswith("auto_")) == [(10,)] * 3


def test_a_cap_that_hides_a_mutants_loss_fails_unless_it_is_a_bonus(tiny):
    fates = {m: {0: {"r"}} for m in ("arith:2:11:0", "constant:2:11:0", "constant:2:11:1", "arith:6:11:0",
                                     "constant:6:11:0", "constant:6:11:1", "arith:10:11:0")}
    report = judge(tiny(score_cap=2), fates, cap=2)
    assert [(h.variant, h.seed, h.lost_points, h.capped_score) for h in report.cap_hidden][:1] == [
        ("auto_arith_2_11_0", 0, 1, 2)] and len(report.cap_hidden) == 7
    assert "score cap: 7 mutant(s) lose points yet keep the reference's capped score 2 (auto_arith_10_11_0, " in \
        report.problems()[-1]
    assert judge(tiny(score_cap={"points": 2, "bonus": True}), fates, cap=2).cap_hidden == []
    assert judge(tiny(), fates).cap_hidden == []  # without a cap, a loss shows


def test_alternatives_and_equivalents_files_are_validated(tiny):
    assignment = tiny()
    folder = assignment.alternatives_folder
    folder.mkdir()
    (folder / "loops.py").write_text(SOLUTION)
    (folder / "alternatives.yaml").write_text(yaml.safe_dump([{"name": "loops", "loses": ["essay"]}]))
    with pytest.raises(SpecError, match=r"alternatives.yaml: \[0\].loses must list autograded question ids"):
        load_alternatives(assignment)
    (folder / "alternatives.yaml").write_text(yaml.safe_dump([{"name": "loop", "loses": ["r"]}]))
    with pytest.raises(SpecError, match=r"\[0\].name must name a file of alternatives/ .*\(known: loops\)"):
        load_alternatives(assignment)
    (folder / "alternatives.yaml").write_text(yaml.safe_dump([{"name": "loops", "loses": ["r"], "why": "x"}]))
    with pytest.raises(SpecError, match=r"\[0\].why is not a known key"):
        load_alternatives(assignment)
    assignment.equivalent_mutants_path.write_text(yaml.safe_dump([{"id": "arith:2:11:0"}]))
    with pytest.raises(SpecError, match=r"equivalent_mutants.yaml: \[0\] needs an id .* and a reason"):
        load_equivalents(assignment)


def test_the_audit_grades_alternatives_and_names_the_test_that_rejects_a_correct_answer(tiny, tmp_path):
    assignment = tiny(audit={"kill_rate": 0.8, "seeds": 0, "sample": {"seeds": 0, "mutants": 4, "alternatives": "all"}})
    folder = assignment.alternatives_folder
    folder.mkdir()
    (folder / "added.py").write_text("def double(x):\n    return x + x\n\n\ndef triple(x):\n    return x + x + x\n")
    nbformat.write(from_percent_script("# %%\nprint('hello')\n\n# %%\ndef double(x):\n    return x * 2\n\n\n"
                                       "def triple(x):\n    return 3 * x\n"), folder / "notebook.ipynb")
    (folder / "floats.py").write_text("def double(x):\n    return 2.000001 * x\n\n\ndef triple(x):\n    return 3 * x\n")
    (folder / "slow.py").write_text("def double(x):\n    return 2 * x\n\n\ndef triple(x):\n    return 0\n")
    (folder / "alternatives.yaml").write_text(yaml.safe_dump([{"name": "slow", "description": "loses r by design",
                                                              "loses": ["r"]}]))
    out = tmp_path / "audit.json"
    code = main(["audit", str(assignment.root), "-j", "2", "--json", str(out)])
    report = json.loads(out.read_text())
    verdicts = {v["name"]: v["problem"] for v in report["variants"]}
    assert verdicts == {"reference": None, "reference_notebook": None, "alternative_added": None,
                        "alternative_floats": "loses q\n  hidden/test_hidden.py::test_double: double(3) must be 6",
                        "alternative_notebook": None, "alternative_slow": None}
    mutants = report["automatic_mutants"]
    assert (mutants["generated"], mutants["graded"], report["seeds"]) == (7, 4, [assignment.seed])
    fates = {m["id"]: (m["status"], m["function"]) for m in mutants["mutants"]}
    assert fates == {"constant:2:11:1": ("killed", "double"), "arith:6:11:0": ("killed", "triple"),
                     "constant:6:11:1": ("killed", "triple"), "arith:10:11:0": ("survived", "unused")}
    assert code == 1 and report["problems"] == [
        f"alternative_floats (seed {assignment.seed}): " + verdicts["alternative_floats"],
        "automatic mutants: 75.0% killed, under the 80% the spec requires (1 of 4 not killed under every seed)"]
    assert report["timing"]["gradings"] == 10 and report["timing"]["seconds_per_grading"] > 0


def test_grade_takes_a_seed_for_the_tests_random_inputs_and_records_it(tmp_path):
    tests = ("import pytest\n\n@pytest.mark.question('q')\n@pytest.mark.points(1)\n"
             "def test_draw(submission, rng):\n    assert submission.double(1) == 3, f'drew {rng.integers(10**9)}'\n")
    assignment = make_assignment(tmp_path / "course", tests, SOLUTION, seed=5)
    messages = {}
    for seed in (None, 7, 7, 8):
        out = tmp_path / f"{seed}.json"
        main(["grade", str(assignment.root), str(assignment.solution), "--json", str(out), "--quiet"]
             + ([] if seed is None else ["--seed", str(seed)]))
        graded = json.loads(out.read_text())
        assert graded["seed"] == (5 if seed is None else seed)
        messages.setdefault(seed, set()).add(graded["tests"][0]["message"])
    assert len(messages[7]) == 1 and len({m for ms in messages.values() for m in ms}) == 3


def test_an_audit_without_the_reference_is_a_one_line_error(tiny, capsys):
    assignment = tiny()
    assignment.solution.unlink()
    assert main(["audit", str(assignment.root)]) == 2
    assert "tiny.py: no reference solution, and the audit grades its variants" in capsys.readouterr().err


def test_operators_choose_the_automatic_mutants_graded_and_rates_are_reported_per_operator(tiny, capsys):
    assignment = tiny()
    run = plan(assignment, mutants=None, operators=frozenset({"constant"}))
    autos = [v for v, _ in variants(assignment, run) if v.expect == "auto"]
    assert autos and all(v.name.startswith("auto_constant_") for v in autos)
    every = [v for v, _ in variants(assignment, plan(assignment, mutants=None)) if v.expect == "auto"]
    fates = {v.name.removeprefix("auto_").replace("_", ":", 3): {0: set() if v in autos else {"q"}} for v in every}
    per_operator = judge(assignment, fates).per_operator()
    assert per_operator["constant"] == (0, len(autos)) and per_operator["arith"][1] == 0
    with pytest.raises(SystemExit) as exit_:
        main(["audit", str(assignment.root), "--operators", "nonsense"])
    assert exit_.value.code == 2 and "unknown operator nonsense" in capsys.readouterr().err
