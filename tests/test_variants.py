"""Exams that differ per student: each paper's numbers, option order and questions follow from the exam's
secret and the student's roster id, and a submission is graded against its owner's paper, whatever it says.

A small exam with every kind of variant (drawn numbers, a formula with a drawn input, shuffled options, a
pool and a code question whose test takes the paper's parameters) is built in a temporary course folder
and graded through the sandbox; the midterm's papers are drawn, rendered and audited.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader import spec, variants
from grader.course.tables import CourseError
from grader.exam import load_key
from grader.papers import release_papers, render_handout
from grader.release import release
from grader.runner import grade
from grader.spec import SpecError
from grader.variant_audit import audit_variants, difficulty

from classes import record
from conftest import ROOT

SECRET = "an exam secret of the tests, 32 characters or more"
SPEC = {
    "slug": "vquiz", "title": "A quiz with variants", "version": "1", "kind": "exam", "seed": 3,
    "submission": ["vquiz.py"], "preload": ["numpy"], "limits": {"call_timeout": 10, "total_timeout": 60},
    "variants": {"pools": [{"draw": 1, "questions": ["left", "right"]}]},
    "questions": [
        {"id": "decay", "type": "numeric", "title": "f to the T", "points": 2, "tolerance": {"rel": 1e-6},
         "parameters": {"f": {"range": [0.5, 0.9], "step": 0.1, "default": 0.9},
                        "T": {"choices": [5, 10, 20, 40], "default": 10}}},
        {"id": "cube", "type": "numeric", "title": "f cubed, as a function", "points": 2, "tolerance": {"rel": 1e-9},
         "inputs": [{"f": "f1"}, {"f": 0.5}], "parameters": {"f1": {"range": [0.2, 0.8], "step": 0.2, "default": 0.4}}},
        {"id": "convex", "type": "choice", "title": "Which are convex?", "points": 4, "multiple": True,
         "shuffle": True, "options": ["x^2", "-x^2", "|x|", "sin x", "exp x"]},
        {"id": "left", "type": "numeric", "title": "Left", "points": 2},
        {"id": "right", "type": "numeric", "title": "Right", "points": 2},
        {"id": "scale", "title": "Scale by your k", "points": 2, "parameters": {"k": {"choices": [2, 3, 4, 5],
                                                                                      "default": 2}}},
    ],
}
KEY = {"decay": "f ** T", "cube": "f ** 3", "convex": ["a", "c", "e"], "left": 1.5, "right": 2.5}
CODE_TEST = '''
import pytest

@pytest.mark.question("scale")
@pytest.mark.points(2)
def test_scale(submission, variant):
    k = variant["scale"]["k"]
    assert submission.scale(5) == 5 * k, "scale(5) is not 5 k for your k"
'''
REFERENCE = '''
P, order = variant["params"], variant["orders"]
decay = P["decay"]["f"] ** P["decay"]["T"]
def cube(f):
    return f ** 3
convex = ["abcde"[order.get("convex", "abcde").index(label)] for label in "ace"]
left, right = 1.5, 2.5
def scale(x):
    return P["scale"]["k"] * x
'''
HANDOUT = """# A quiz

Give f^T for f = {{ decay.f }} and T = {{ decay.T }}.

{{ options convex }}

<!-- question: left -->
Left: give 1.5.
<!-- end: left -->
<!-- question: right -->
Right: give 2.5.
<!-- end: right -->
"""


@pytest.fixture(scope="module")
def quiz(tmp_path_factory) -> spec.Assignment:
    return make_quiz(tmp_path_factory.mktemp("course"))


def make_quiz(root: Path, reference: str = REFERENCE) -> spec.Assignment:
    folder = root / "assignments" / "vquiz"
    (folder / "tests" / "hidden").mkdir(parents=True)
    (folder / "assignment.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    (folder / "tests" / "hidden" / "key.yaml").write_text(yaml.safe_dump(KEY))
    (folder / "tests" / "hidden" / "test_scale.py").write_text(CODE_TEST)
    (folder / "tests" / "hidden" / "variant_secret").write_text(SECRET)
    (folder / "handout.md").write_text(HANDOUT)
    (root / "solutions").mkdir()
    (root / "solutions" / "vquiz.py").write_text(reference)
    return spec.load(folder)


def two_students(assignment, differ=("decay", "cube", "scale")):
    """Two roster ids whose papers differ in every parameter named, the option order and the pool."""
    papers = [variants.generate(assignment, f"s{n:03d}") for n in range(200)]
    for a in papers:
        for b in papers:
            if (all(a.params[q] != b.params[q] for q in differ) and a.orders != b.orders and a.drawn != b.drawn
                    and a.params["decay"]["f"] ** a.params["decay"]["T"] != b.params["decay"]["f"] ** b.params["decay"]["T"]):
                return a, b
    raise AssertionError("no two papers differ")


def answers_for(assignment, variant) -> str:
    """A submission that answers every question right for `variant`'s paper."""
    key = variants.expected_answers(assignment, variant, load_key(assignment))
    lines = [f"{qid} = {value!r}" for qid, value in key.items() if qid != "cube"]
    return "\n".join(lines + ["def cube(f):\n    return f ** 3", f"def scale(x):\n    return {variant.params['scale']['k']} * x"])


def graded_as(assignment, tmp_path: Path, source: str, variant, name: str = "vquiz.py"):
    path = tmp_path / name
    path.write_text(source)
    result = grade(assignment, path, variant=variant)
    return result, {q.id: q.earned for q in result.questions}


def test_a_variant_is_the_same_for_the_same_secret_and_id_and_not_guessable_without_the_secret(quiz):
    first, again = variants.generate(quiz, "s1001"), variants.generate(quiz, "s1001")
    assert first == again and first.student == "s1001"
    other_secrets = [variants.generate(quiz, "s1001", f"another secret {n}".encode() * 2) for n in range(8)]
    assert any(v.params != first.params or v.orders != first.orders for v in other_secrets)
    assert {v.id for v in other_secrets} | {first.id} == {first.id, *(v.id for v in other_secrets)}
    assert len({v.id for v in other_secrets + [first]}) == 9  # the id follows the secret, not the roster id alone
    assert variants.Variant.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_parameters_are_drawn_as_declared_and_pools_draw_one_of_two(quiz):
    papers = [variants.generate(quiz, f"s{n}") for n in range(60)]
    assert {p.params["decay"]["f"] for p in papers} == {0.5, 0.6, 0.7, 0.8, 0.9}
    assert {p.params["decay"]["T"] for p in papers} == {5, 10, 20, 40}
    assert {p.params["cube"]["f1"] for p in papers} <= {0.2, 0.4, 0.6, 0.8}
    assert all(sorted(p.orders["convex"]) == list("abcde") for p in papers)
    assert all(("left" in p.drawn) != ("right" in p.drawn) for p in papers)  # exactly one of the pool
    assert {"left", "right"} <= {qid for p in papers for qid in p.drawn}       # and each of them for someone
    assert all(sum(q.points for q in variants.restrict(quiz, p).questions) == 12 for p in papers)
    plain = variants.plain(quiz)
    assert plain.params["decay"] == {"f": 0.9, "T": 10} and plain.orders == {} and "right" not in plain.drawn


def test_two_students_get_different_numbers_options_and_questions_and_each_earns_full_marks_on_their_own(quiz, tmp_path):
    a, b = two_students(quiz)
    for variant in (a, b):
        result, earned = graded_as(quiz, tmp_path, answers_for(quiz, variant), variant)
        assert earned == {q: 4 if q == "convex" else 2 for q in variant.drawn}, [t.message for t in result.tests]
        assert result.variant["id"] == variant.id and result.variant["params"] == variant.params
        assert not any("plain paper" in w for w in result.warnings)


def test_a_right_answer_for_one_paper_earns_nothing_on_another_where_the_values_differ(quiz, tmp_path):
    a, b = two_students(quiz)
    result, earned = graded_as(quiz, tmp_path, answers_for(quiz, a), b)
    assert earned["decay"] == 0 and earned["scale"] == 0
    cube = next(t for t in result.tests if t.question == "cube")
    assert cube.earned == 2  # a formula is right on every paper
    pooled = next(q for q in ("left", "right") if q in a.drawn)
    assert pooled not in earned and any(f"answers {pooled}, which is not on this student's paper" in w
                                        for w in result.warnings)


def test_option_labels_are_mapped_back_to_the_spec(quiz, tmp_path):
    a, b = two_students(quiz)
    right = [b.shown("convex", label) for label in "ace"]  # what student b sees for the spec's a, c, e
    assert right != ["a", "c", "e"]
    result, earned = graded_as(quiz, tmp_path, f"convex = {right!r}\n", b)
    assert earned["convex"] == 4
    result, earned = graded_as(quiz, tmp_path, "convex = ['a', 'c', 'e']\n", b)
    assert earned["convex"] < 4  # the spec's labels are not what b saw
    one_wrong = right[:2] + [b.shown("convex", "b")]  # per_option scoring is unchanged: (2 - 1) / 3
    result, earned = graded_as(quiz, tmp_path, f"convex = {one_wrong!r}\n", b)
    assert earned["convex"] == pytest.approx(4 / 3)


def test_a_student_who_rewrites_the_variant_in_the_file_gains_nothing(quiz, tmp_path):
    a, b = two_students(quiz)
    forged = (f"variant = {{'params': {a.params!r}, 'orders': {dict((q, ''.join(o)) for q, o in a.orders.items())!r}}}\n"
              f"variant_id = {a.id!r}\n" + REFERENCE)  # the reference, reading a's numbers from the forged variant
    result, earned = graded_as(quiz, tmp_path, forged, b)
    assert earned["decay"] == 0 and earned["scale"] == 0 and earned["convex"] < 4
    assert result.variant["id"] == b.id


def test_the_roster_names_the_owner_and_the_command_line_grades_their_paper(quiz, tmp_path):
    a, b = two_students(quiz)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"id,name,submission\n{a.student},Ada,ada_exam\n{b.student},Bob,bob_exam\n")
    assert variants.for_submission(quiz, roster, "bob_exam") == b
    with pytest.raises(CourseError, match="no student on the roster owns the submission 'eve_exam'"):
        variants.for_submission(quiz, roster, "eve_exam")
    (tmp_path / "bob_exam.py").write_text(answers_for(quiz, a))  # Bob hands in Ada's answers
    out = tmp_path / "bob.json"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(quiz.root), str(tmp_path / "bob_exam.py"),
                           "--roster", str(roster), "--json", str(out), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    result = json.loads(out.read_text())
    assert result["variant"]["student"] == b.student and result["score"] < 6
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(quiz.root), str(tmp_path / "bob_exam.py"),
                           "--roster", str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert done.returncode == 2 and "missing.csv" in done.stderr and "Traceback" not in done.stderr


def test_without_a_roster_the_plain_paper_is_graded_and_the_result_says_so(quiz, tmp_path):
    result, earned = graded_as(quiz, tmp_path, answers_for(quiz, variants.plain(quiz)), None)
    assert sum(earned.values()) == 12 and result.variant["id"] == variants.PLAIN
    assert any("graded as the plain paper" in w for w in result.warnings)


@pytest.mark.parametrize("change, problem", [
    (lambda s: s["variants"]["pools"][0].update(questions=["left", "convex"]), "must be worth the same points"),
    (lambda s: s["variants"]["pools"][0].update(draw=2), "draw must be a whole number from 1 to 1"),
    (lambda s: s["questions"][0]["parameters"]["f"].pop("default"), "parameters.f.default is required"),
    (lambda s: s["questions"][0]["parameters"].update(g={"range": [2, 1], "default": 2}), "range must be [low, high]"),
    (lambda s: s["questions"][1].update(inputs=[{"f": "nope"}]), "names 'nope', which is not a parameter"),
    (lambda s: s["questions"][0]["parameters"].update(g={"generated": True, "default": 1}), "variants.generator"),
])
def test_a_bad_variant_spec_is_named(change, problem, tmp_path):
    data = json.loads(json.dumps(SPEC))
    change(data)
    folder = tmp_path / "vquiz"
    folder.mkdir()
    with pytest.raises(SpecError, match=re.escape(problem)):
        spec.parse(data, folder)


def test_a_key_formula_is_evaluated_without_eval(quiz):
    assert variants.evaluate("sigmoid(0) * 2 + max(1, 2) ** 2", variants.FUNCTIONS) == 5.0
    for formula in ("__import__('os').system('true')", "f.__class__", "[x for x in (1,)]", "open('/etc/passwd')"):
        with pytest.raises(SpecError, match="is not allowed|is not a formula"):
            variants.evaluate(formula, {**variants.FUNCTIONS, "f": 0.5}, "key.yaml: decay")


def test_each_paper_renders_its_numbers_options_and_questions(quiz):
    a, b = two_students(quiz)
    page = render_handout(HANDOUT, quiz, a)
    assert f"f = {a.params['decay']['f']!r} and T = {a.params['decay']['T']}" in page and "{{" not in page
    shown = re.findall(r"^([a-e])\. (.+)$", page, re.MULTILINE)
    assert [text for _, text in shown] == [quiz.questions[2].options["abcde".index(label)] for label in a.orders["convex"]]
    assert ("Left: give 1.5." in page) == ("left" in a.drawn) and ("Right: give 2.5." in page) == ("right" in a.drawn)


def test_release_with_a_roster_writes_each_students_paper_and_the_manifest(quiz, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns001,Ada\ns002,Bob\n")
    papers, manifest = release_papers(quiz, roster, tmp_path / "out")
    rows = {row["student"]: row for row in json.loads(manifest.read_text())["variants"]}
    assert rows["s001"]["params"] == variants.generate(quiz, "s001").params and rows["s001"]["expected"]["decay"] > 0
    assert (papers / "s001" / "handout.md").read_text().count("**Your paper: " + rows["s001"]["id"]) == 1
    assert "s002" in manifest.with_suffix(".csv").read_text()


def test_the_midterm_papers_differ_and_the_plain_release_prints_the_plain_paper(tmp_path):
    midterm = spec.load("midterm")
    ada, bob = variants.generate(midterm, "s1001"), variants.generate(midterm, "s1002")
    assert ada.params != bob.params and ada.orders != bob.orders
    assert set(ada.orders) == {"heavy_ball_range", "heavy_ball_facts", "lr_schedule_rule", "ebm_facts"}
    key = load_key(midterm)
    assert variants.expected_answers(midterm, ada, key)["lstm_decay"] != variants.expected_answers(midterm, bob, key)["lstm_decay"]
    target = release(midterm, tmp_path)
    handout = (target / "handout.md").read_text()
    assert "{{" not in handout and "pre-activation is 2.0" in handout and "c_T, T = 40" in handout
    assert "    b. −1/2 < β < 1" in handout  # the plain paper keeps the spec's order
    assert not (target / "tests" / "hidden").exists() and not (target / "variants.py").exists()


def test_the_audit_fails_a_reference_that_answers_the_plain_paper_only(tmp_path):
    fixed = make_quiz(tmp_path, REFERENCE.replace('decay = P["decay"]["f"] ** P["decay"]["T"]', "decay = 0.9 ** 10"))
    report = audit_variants(fixed, count=3, jobs=2)
    assert len(report.results) == 3 and any("the reference loses points on decay" in p for p in report.problems())


def test_the_midterm_reference_earns_full_marks_on_every_paper_audited(tmp_path):
    midterm = spec.load("midterm")
    report = audit_variants(midterm, count=3, jobs=2)
    assert report.problems() == [] and len(report.results) == 3
    assert set(report.totals().values()) == {105}
    assert all(r.autograded_score == r.autograded_possible == 96 for r in report.results.values())
    assert {q for r in report.results.values() for q in r.variant["params"]} >= {"lstm_decay", "elbo_discrete"}
    spread = difficulty(report.results)
    assert all(share == 1.0 for versions in spread.values() for _, _, share in versions)


def test_feedback_shows_the_students_numbers_and_the_expected_values_once_released_and_the_review_app_the_paper(
        quiz, tmp_path):
    from grader.course.review.app import Review, create_app
    from grader.reports.feedback import to_feedback_html

    with_text = make_quiz(tmp_path / "course", REFERENCE)  # with a free-text question, for the review app
    spec_data = yaml.safe_load(with_text.spec_path.read_text())
    spec_data["questions"].append({"id": "why", "type": "free_text", "title": "Why?", "points": 1,
                                   "rubric": ["1 point: because"]})
    spec_data["hidden_results"] = "after_release"
    with_text.spec_path.write_text(yaml.safe_dump(spec_data, sort_keys=False))
    exam = spec.load(with_text.root)
    a, b = two_students(exam)
    source = answers_for(exam, a) + "\nwhy = 'the gap is a KL divergence'\n"
    path = tmp_path / "bob_exam.py"
    path.write_text(source)
    result = grade(exam, path, variant=b)
    held = to_feedback_html(result, [])
    shown_f = f"f = {b.params['decay']['f']!r}, T = {b.params['decay']['T']}"
    assert "Your paper: " + b.id in held and shown_f in held
    expected = json.dumps(result.variant["expected"]["decay"])
    assert expected not in held and "shown once the results are released" in held
    result.hidden_held_back = False
    released = to_feedback_html(result, [])
    assert expected in released and json.dumps(result.variant["answers"]["decay"]) in released
    grades = tmp_path / "grades"
    record(grades, str(exam.root), {"bob_exam": result})
    page = create_app(Review(exam, grades), "t").test_client().get("/t/q/why/0").get_data(as_text=True)
    assert "the gap is a KL divergence" in page and "paper: " + b.id in page and shown_f in page and expected in page


def test_answers_that_fit_another_students_paper_are_flagged(quiz, tmp_path):
    from grader.course.variant_keys import key_matches

    a, b = two_students(quiz)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"id,name,submission\n{a.student},Ada,ada_exam\n{b.student},Bob,bob_exam\n")
    (tmp_path / "class").mkdir()
    ada, _ = graded_as(quiz, tmp_path / "class", answers_for(quiz, a), a, "ada_exam.py")
    bob, _ = graded_as(quiz, tmp_path / "class", answers_for(quiz, a), b, "bob_exam.py")  # Ada's answer sheet
    matches = key_matches(quiz, {"ada_exam": ada, "bob_exam": bob}, roster)
    assert [(m.submission, m.paper.id) for m in matches if m.suspicious] == [("bob_exam", a.id)]
    assert "decay" in matches[0].questions and matches[0].numeric >= 1
    spread = difficulty({"ada_exam": ada, "bob_exam": bob})  # decay: Bob's version was the hardest
    assert [(count, share) for _, count, share in spread["decay"]] == [(1, 0.0), (1, 1.0)]
    assert json.loads(spread["decay"][0][0])["params"] == b.params["decay"]
    grades = tmp_path / "grades"
    record(grades, str(quiz.root), {"ada_exam": ada, "bob_exam": bob})
    from grader.cli import main
    assert main(["similarity", str(quiz.root), str(tmp_path / "class"), "--out", str(tmp_path / "sim"),
                 "--grades", str(grades), "--roster", str(roster)]) == 0
    rows = (tmp_path / "sim" / "variant-keys.csv").read_text().splitlines()
    assert rows[1].startswith(f"bob_exam,{a.id},{a.student},") and "decay" in rows[1]


def test_a_class_of_the_midterm_is_graded_as_each_owners_paper(tmp_path):
    midterm = spec.load("midterm")
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\ns1001,Ada Lovelace,ada@uni.edu\ns1002,Alan Turing,alan@uni.edu\n")
    ada, alan = variants.generate(midterm, "s1001"), variants.generate(midterm, "s1002")
    key = variants.expected_answers(midterm, ada, load_key(midterm))
    numbers = {qid: value for qid, value in key.items() if qid not in ("lstm_half_life", "elbo_gap")}
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "s1001.py").write_text((ROOT / "solutions" / "midterm.py").read_text())
    (folder / "s1002.py").write_text("".join(f"{qid} = {value!r}\n" for qid, value in numbers.items()))  # Ada's sheet
    done = subprocess.run([sys.executable, "-m", "grader", "grade", "midterm", str(folder), "--roster", str(roster),
                           "--out", str(tmp_path / "grades"), "-j", "2", "--quiet"], capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    first = json.loads((tmp_path / "grades" / "s1001.json").read_text())
    second = json.loads((tmp_path / "grades" / "s1002.json").read_text())
    assert first["variant"]["id"] == ada.id and first["autograded_score"] == 96
    assert second["variant"]["id"] == alan.id
    earned = {q["id"]: q["earned"] for q in second["questions"]}
    differ = [qid for qid in numbers if json.dumps(key[qid]) != json.dumps(second["variant"]["expected"][qid])]
    assert {"lstm_decay", "free_energy_values", "elbo_discrete"} <= set(differ)
    assert all(earned[qid] == 0 for qid in differ if midterm.question(qid).type == "numeric")


def test_gradescopes_autograder_grades_the_paper_of_who_gradescope_says_submitted(quiz, tmp_path):
    import shutil

    from grader import autograder

    a, b = two_students(quiz)
    shutil.copytree(quiz.root.parent.parent, tmp_path / "source")
    (tmp_path / "source" / "roster.csv").write_text(f"id,name,email\n{a.student},Ada,ada@uni.edu\n"
                                                    f"{b.student},Bob,bob@uni.edu\n")
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "vquiz.py").write_text(answers_for(quiz, b))
    metadata = tmp_path / "submission_metadata.json"
    for email, full in (("bob@uni.edu", True), ("ada@uni.edu", False)):
        metadata.write_text(json.dumps({"users": [{"email": email, "sid": "", "name": "?"}]}))
        assert autograder.main(["vquiz", str(tmp_path)]) == 0
        document = json.loads((tmp_path / "results" / "results.json").read_text())
        assert (document["score"] == 12) == full, document["score"]
    metadata.write_text(json.dumps({"users": [{"email": "eve@uni.edu"}]}))
    assert autograder.main(["vquiz", str(tmp_path)]) == 1


def test_validate_names_a_key_formula_that_fails_and_a_placeholder_that_names_nothing(tmp_path):
    from grader.validate import validate

    exam = make_quiz(tmp_path)
    exam.key_path.write_text(yaml.safe_dump({**KEY, "decay": "f ** T / (f - f)"}))
    assert any("decay: the formula 'f ** T / (f - f)' fails" in p for p in validate(exam))
    exam.key_path.write_text(yaml.safe_dump(KEY))
    (exam.root / "handout.md").write_text(HANDOUT + "{{ decay.g }}\n")
    assert any("{{ decay.g }} is not a parameter of the spec" in p for p in validate(exam))
