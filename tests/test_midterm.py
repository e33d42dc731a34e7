"""The midterm exam graded end to end: the reference, a blank exam, one student's real answers, and
answers of every type that are wrong, partly right, malformed or hostile.

Five submissions are graded once, two at a time, and the tests read their results: each answer must
earn exactly what a careful grader gives it, with a message that names the problem. A few more
derivations are checked by the grader's own function for derivation answers, without a sandbox.
"""

from __future__ import annotations

import io

import nbformat
import pytest
from rich.console import Console

from grader import exam
from grader.batch import grade_batch
from grader.course.grades import read_grades
from grader.course.review.merge import merge
from grader.course.review.store import Store
from grader.notebook import from_percent_script
from grader.reports import terminal
from grader.reports.gradescope import to_gradescope

from conftest import ROOT, load

SUBMISSIONS = ROOT / "tests" / "submissions" / "midterm"
ANSWERED = ("lstm_decay", "lstm_half_life", "heavy_ball_range", "heavy_ball_facts", "heavy_ball_beta_min",
            "lr_schedule_rule", "lr_schedule_trace", "free_energy_values", "ebm_facts", "elbo_gap", "elbo_discrete")
FREE_TEXT = ("lstm_mitigate", "batch_noise")

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The folder of results (one JSON per submission, as `grader grade` writes a class) and the results."""
    folder = tmp_path_factory.mktemp("midterm")
    paths = {"reference": ROOT / "solutions" / "midterm.py", "blank": ROOT / "assignments" / "midterm" / "starter.ipynb",
             "seed_student": SUBMISSIONS / "seed_student.py",
             "hostile": SUBMISSIONS / "hostile.py", "wrong_partial": folder / "wrong_partial.ipynb"}
    nbformat.write(from_percent_script((SUBMISSIONS / "wrong_partial.py").read_text()), paths["wrong_partial"])
    batch = grade_batch(load("midterm"), paths, folder / "results", jobs=2, quiet=True)
    assert not batch.failures, batch.failures
    return folder / "results", batch.results


@pytest.fixture(scope="module")
def results(graded):
    return graded[1]


def earned(result) -> dict[str, float]:
    return {q.id: q.earned for q in result.questions if not q.manual}


def messages(result) -> dict[str, str]:
    found: dict[str, str] = {}
    for test in result.tests:
        if test.status != "passed":
            found[test.question] = (found.get(test.question, "") + f" | {test.name}: {test.message}").strip(" |")
    return found


def assert_graded(result, expected: dict[str, tuple[float, str]]):
    """Each question earns its points, and a question that lost points says why (the fragment given)."""
    got, said = earned(result), messages(result)
    for qid, (points, reason) in expected.items():
        assert got[qid] == pytest.approx(points), f"{qid}: earned {got[qid]}, expected {points}: {said.get(qid, '')}"
        assert reason in said.get(qid, ""), f"{qid}: the message does not say {reason!r}: {said.get(qid, '')!r}"


def test_the_reference_earns_every_point_shown_as_full_marks(graded):
    folder, results = graded
    midterm = load("midterm")
    reference = results["reference"]
    assert reference.lost_questions() == set(), messages(reference)
    assert (reference.score, reference.pending, reference.total_possible) == (96, 9, 105)
    assert reference.max_score == 100 and reference.capped_score == 96 and midterm.kind == "exam"
    store = Store(folder)  # a TA gives the reference's written answers every rubric item
    try:
        for question in (q for q in midterm.questions if q.type == "free_text"):
            for item in question.rubric:
                store.set_mark("reference", question.id, item.id, True, by="ta")
    finally:
        store.close()
    merge(midterm, folder)
    merged = read_grades(folder).results["reference"]
    assert (merged.score, merged.capped_score, merged.pending) == (105, 100, 0)
    console = Console(file=io.StringIO(), width=120)
    terminal.render(reference, console)
    assert "105 points, full marks at 100" in console.file.getvalue()
    assert "has 105 points and full marks at 100" in to_gradescope(reference)["output"]
    assert reference.question("lstm_mitigate").answer.startswith("The direct path through the cell")
    assert reference.question("batch_noise").answer.endswith("(the two scale together).")


def test_a_blank_exam_earns_nothing_and_names_each_unanswered_question(results):
    blank = results["blank"]
    assert blank.score == 0 and all(v == 0 for v in earned(blank).values())
    said = messages(blank)
    for qid in ANSWERED:  # the starter's formula is a function returning None
        assert "not answered" in said[qid], (qid, said[qid])
    assert "NotImplementedError" in said["adam_step"]
    assert all(blank.question(qid).answer in ("", f"{qid}: *Your answer here.*") for qid in FREE_TEXT)


# The seed's student, question by question: the points a careful grader gives, and why.
SEED_STUDENT = {
    "lstm_cell_jacobian": (6, "all_paths_match_autograd"),   # direct, f and i paths right (1+1+3+1); the candidate's path takes sigma' for tanh'
    "lstm_decay": (0, "not answered"),        # not asked in the student's exam
    "lstm_half_life": (0, "returns None"),     # likewise (the starter's function, returning None)
    "gd_sgd": (6, ""),                        # (a) and (b) are the right updates, mean over the (mini-)batch
    "heavy_ball_step": (2, ""),               # (g) writes the heavy ball correctly
    "heavy_ball_range": (0, "not the right choice"),  # argues [0, 1) for every step; for gamma a = 1 it is (-1/2, 1)
    "heavy_ball_facts": (0, "1 of 3 right"),  # "beta < 0 is standard GD" and "[0,1) always" are false: 1 - 2 floors at 0
    "heavy_ball_beta_min": (0, "off by 0.25"),  # their range starts at 0, the true one at h/2 - 1 = -0.25
    "rmsprop_step": (3, ""),                  # (h) RMSProp is right, epsilon outside the root
    "adam_step": (2, "at t = 1"),             # the moments are right (2); the update uses m_t, uncorrected (0 + 0)
    "lr_schedule_rule": (0, "not the right choice"),  # reads it as "worse than the best so far", missing the NONMONO window
    "lr_schedule_trace": (0, "not the right value"),  # that reading cuts the rate at epoch 3 already
    "gibbs": (3, ""),                         # (b) is the Gibbs distribution
    "free_energy": (3, ""),                   # (c) is the free energy
    "free_energy_values": (0, "not answered"),  # the zero-temperature limit is never given
    "nll_loss": (3, ""),                      # (d)'s loss L(w) is right
    "nll_grad": (0, "the sum of each row"),   # the negative phase added: the sign slip of (d)'s last line
    "info_nce": (2, "info_nce_loss"),         # cosine similarity right (1+1); the loss is NCE's, not InfoNCE's
    "ebm_facts": (2, "2 of 3 right"),         # K-means's energy and its k prototypes, nothing on sparse coding's L1 term
    "kmeans_sparse": (5, ""),                 # (f) both energies right
    "elbo_gap": (0, "not answered"),          # not asked in the student's exam
    "elbo_discrete": (0, "not answered"),     # likewise
    "mlp_backward": (0, "NotImplementedError"),  # likewise
}


def test_the_seed_student_earns_what_a_careful_grader_gives(results):
    student = results["seed_student"]
    assert set(SEED_STUDENT) == set(earned(student))
    assert_graded(student, SEED_STUDENT)
    assert student.score == sum(points for points, _ in SEED_STUDENT.values()) == 37
    assert student.pending == 9 and "additive" in student.question("lstm_mitigate").answer
    assert "classes K" in student.question("batch_noise").answer


def test_wrong_and_partly_right_answers_of_every_type_in_a_notebook(results):
    notebook = results["wrong_partial"]
    assert_graded(notebook, {
        "lstm_decay": (1.5, "partial credit"),              # numeric: in the 5 % band (in another question's cell)
        "lstm_half_life": (2 * 2 / 3, "for f=0.99"),        # formula: right on 2 of 3 inputs
        "heavy_ball_range": (0, "not the right choice"),    # single choice: wrong
        "heavy_ball_facts": (1, "2 of 3 right options chosen, 1 wrong"),  # multiple choice: (2 - 1) / 3
        "heavy_ball_beta_min": (3, ""),                     # numeric: within the absolute tolerance
        "lr_schedule_rule": (2, ""),                        # a label written loosely, " (B) "
        "lr_schedule_trace": (0, "expected an array of shape (10,), got an array of shape (9,)"),
        "free_energy_values": (2, "partial credit"),        # array in the 1 % band
        "ebm_facts": (0, "3 wrong ones"),                   # every option chosen: floored at 0
        "elbo_gap": (8 / 3, "step 4 does not hold"),        # Bayes' rule shown: one milestone of two, no proof
        "elbo_discrete": (0, "not the right value"),        # one entry 8 % off
    })
    assert any("lstm_decay" in w and "not in the cell tagged lstm_decay" in w for w in notebook.warnings)
    assert "<script>alert(1)</script>" in notebook.question("lstm_mitigate").answer  # kept as text for the TA


def test_malformed_and_hostile_answers_get_nothing_and_a_reason(results):
    hostile = results["hostile"]
    assert_graded(hostile, {
        "lstm_decay": (0, "(10000000 characters)"),
        "lstm_half_life": (0, "the call failed"),
        "heavy_ball_range": (0, "'z' is not one of the options (a to e)"),
        "heavy_ball_facts": (0, "expected a list of labels"),
        "heavy_ball_beta_min": (0, "not a finite number"),
        "lr_schedule_rule": (0, "choose one option, not 2"),
        "lr_schedule_trace": (0, "got an array of shape (10, 1)"),
        "free_energy_values": (0, "expected a number, got text '0.445, 0.999, 1.0'"),
        "ebm_facts": (0, "'zz' is not one of the options (a to f)"),
        "elbo_gap": (0, "over the limit"),
        "elbo_discrete": (0, "expected a number or an array of numbers"),
    })
    assert all(len(m) < 4000 for m in messages(hostile).values())  # a 10 MB answer is not quoted back
    text = hostile.question("lstm_mitigate").answer
    assert len(text) <= 50_100 and "\x1b" not in text and "\u202e" not in text and "\\x1b[2J" in text
    assert hostile.question("batch_noise").answer == ""  # a number is not a free-text answer


@pytest.mark.parametrize("steps, credit, reason", [
    (["log p(x)", "= E_q[log p(x)] + __import__('os').system('id')"], 0, "step 2 does not hold: unexpected"),
    (["log p(x)", "= ELBO + KL(q(z|x) || p(z|x))"], 0, "step 2 skips reasoning"),
    (["log p(x)", "= log p(x) + 0"], 0, "not finished"),
    (["log p(x)", "= log p(x) + 0", "= ELBO + KL(q(z|x) || p(z|x))"], 0, "step 3 skips reasoning"),
    (["log p(x)", "= ELBO + (log p(x) - ELBO)", "= ELBO + KL(q(z|x) || p(z|x))"], 0, "step 3 skips reasoning"),
    (["log p(x)", "= [q sums to one] E_q[log p(x)]", "= ELBO + KL(q(z|x) || p(z|x))"], 0, "step 3 skips reasoning"),
    (["log p(x)", "= [q sums to one] E_q[log p(x)]", "= [Bayes' rule] E_q[log p(x,z) - log p(z|x)]",
      "= KL(q(z|x) || p(z|x)) + E_q[log p(x|z)] - KL(q(z|x) || p(z))", "= ELBO + KL(q(z|x) || p(z|x))"], 1 / 3,
     "step 4 skips reasoning: it applies definition of KL, Bayes' rule, log of a product and linearity"),
    ("log p(x) = ELBO + KL", 0, "expected a list of steps"),
    (["log p(x)", "= " + "(" * 50 + "log p(x)" + ")" * 50], 0, "nested deeper"),
], ids=["unreadable", "states-the-result", "never-leaves-log-p", "restates-after-adding-zero",
        "restates-through-the-gap", "the-old-template-without-its-middle", "bayes-then-a-leap", "not-a-list",
        "deep-nesting"])
def test_more_derivations_of_the_gap(steps, credit, reason):
    question = load("midterm").question("elbo_gap")
    got, message = exam.grade_derivation(question, steps, seed=load("midterm").seed)
    assert got == pytest.approx(credit) and reason in message, (got, message)


@pytest.mark.parametrize("submitted, grant, status", [
    ("2026-04-01 10:30", None, "on time"),
    ("2026-04-01 10:54", None, "on time"),                  # within the 5 minutes of grace
    ("2026-04-01 11:10", None, "refused"),                  # after the window closed
    ("2026-04-01 11:10", "1 hour", "on time"),              # an accommodation of an hour
    ("2026-04-01 08:30", "1 hour", "early"),                # before the window opened: flagged, never moved
    (None, None, "no time"),                                # reported, never assumed on time
])
def test_the_exam_window_flags_refuses_and_extends(submitted, grant, status):
    from grader.course.late import assess
    from grader.spec import parse_duration, parse_time
    window = load("midterm").late
    verdict = assess(window, 100, submitted and parse_time(submitted, window.deadline.tzinfo),
                     grant and parse_duration(grant))
    assert verdict.status == status, verdict.reason
