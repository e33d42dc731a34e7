"""The derivation checker: credit follows the reasoning. Every correct route through a goal's
milestones earns full credit, in any order and with extra true steps; a step that holds but applies
no rule of the family, or too many at once, earns nothing for what it skips, and the message names the
rules it would have to show; wrong steps are stopped at the first, with a counterexample; hostile
expressions are refused with a reason in bounded time."""

from __future__ import annotations

import time

import pytest

from grader.derivations import ELBO, DerivationError, check, parse

BOUND = ("log p(x)", ">=", "ELBO")
IDENTITY = ("log p(x)", "=", "ELBO + KL(q(z|x) || p(z|x))")
JENSEN = ["log p(x)", "= [marginalisation] log E_q[p(x,z) / q(z|x)]", ">= [Jensen] E_q[log(p(x,z) / q(z|x))]",
          "= [log of a quotient] E_q[log p(x,z) - log q(z|x)]", "= [definition of the ELBO] ELBO"]
IDENTITY_STEPS = ["log p(x)", "= [expectation of a constant] E_q[log p(x)]",
                  "= [Bayes' rule, log of a quotient] E_q[log p(x,z) - log p(z|x)]",
                  "= [algebra, linearity] E_q[log p(x,z) - log q(z|x)] + E_q[log q(z|x) - log p(z|x)]",
                  "= [definitions of the ELBO and of KL (2), (5)] ELBO + KL(q(z|x) || p(z|x))"]

# Correct routes, each to full credit: (steps, goal)
ROUTES = {
    "bound_through_jensen": (JENSEN, BOUND),
    "bound_through_jensen_old_reasons": (
        ["log p(x)", "= [q sums to one] log E_q[p(x,z) / q(z|x)]",
         ">= [Jensen: log is concave] E_q[log(p(x,z) / q(z|x))]", "= E_q[log p(x,z) - log q(z|x)]",
         "= [definition (2)] ELBO"], BOUND),
    "bound_through_jensen_with_written_out_densities": (
        ["log p(x)", "= [marginalisation, Bayes' rule] log E_q[p(x|z) * p(z) / q(z|x)]",
         ">= [Jensen] E_q[log(p(x|z) * p(z) / q(z|x))]", "= [log of a product] E_q[log p(z) + log p(x|z) - log q(z|x)]",
         "= [Bayes' rule, log of a product] E_q[log p(x,z) - log q(z|x)]", "= [definition of the ELBO] ELBO"], BOUND),
    "bound_through_kl": (IDENTITY_STEPS + [">= [KL >= 0] ELBO"], BOUND),
    "bound_through_kl_inside_the_chain": (
        ["log p(x)", "= [expectation of a constant] E_q[log p(x)]",
         "= [Bayes' rule, log of a quotient] E_q[log p(x,z) - log p(z|x)]",
         "= [linearity, definition of KL] E_q[log p(x,z) - log q(z|x)] + KL(q(z|x) || p(z|x))",
         ">= [KL >= 0] E_q[log p(x,z) - log q(z|x)]", "= [definition of the ELBO] ELBO"], BOUND),
    "bound_through_kl_in_the_vae_form": (
        ["log p(x)", "= [expectation of a constant] E_q[log p(x)]",
         "= [Bayes' rule, log of a product] E_q[log p(x|z) + log p(z) - log p(z|x)]",
         "= [linearity, definition of KL] E_q[log p(x|z)] + E_q[log p(z) - log q(z|x)] + KL(q(z|x) || p(z|x))",
         ">= [KL >= 0] E_q[log p(x|z)] + E_q[log p(z) - log q(z|x)]",
         "= [linearity, log of a product] E_q[log(p(x|z) * p(z)) - log q(z|x)]",
         "= [Bayes' rule, definition of the ELBO] ELBO"], BOUND),
    "bound_subtracting_the_kl_first": (
        ["log p(x)", ">= [KL >= 0] log p(x) - KL(q(z|x) || p(z|x))",
         "= [expectation of a constant, definition of KL] E_q[log p(x)] - E_q[log q(z|x) - log p(z|x)]",
         "= [linearity] E_q[log p(x) + log p(z|x) - log q(z|x)]",
         "= [Bayes' rule, log of a product] E_q[log p(x,z) - log q(z|x)]", "= [definition of the ELBO] ELBO"], BOUND),
    "bound_read_from_the_right": (
        ["ELBO", "= [definition of the ELBO] E_q[log p(x,z) - log q(z|x)]", "= [log of a quotient] E_q[log(p(x,z) / q(z|x))]",
         "<= [Jensen] log E_q[p(x,z) / q(z|x)]", "= [marginalisation] log p(x)"], ("ELBO", "<=", "log p(x)")),
    "bound_with_extra_true_steps": (
        ["log p(x)", "= [algebra] 2 * log p(x) - log p(x)", "= [algebra] log p(x)",
         "= [marginalisation] log E_q[p(x,z) / q(z|x)]", "= [log of a product] log(exp(1) ^ log E_q[p(x,z) / q(z|x)])",
         "= [log of a product] log E_q[p(x,z) / q(z|x)]", ">= [Jensen] E_q[log(p(x,z) / q(z|x))]",
         "= [log of a quotient] E_q[log p(x,z) - log q(z|x)] + 0", "= [definition of the ELBO] ELBO"], BOUND),
    "bound_without_named_rules": (
        ["log p(x)", "= log E_q[p(x,z) / q(z|x)]", ">= E_q[log(p(x,z) / q(z|x))]", "= E_q[log p(x,z) - log q(z|x)]",
         "= ELBO"], BOUND),
    "identity_through_the_posterior": (IDENTITY_STEPS, IDENTITY),
    "identity_adding_log_q_first": (
        ["log p(x)", "= [algebra] log p(x) + E_q[log q(z|x)] - E_q[log q(z|x)]",
         "= [expectation of a constant, linearity] E_q[log p(x) + log q(z|x) - log q(z|x)]",
         "= [Bayes' rule, log of a quotient] E_q[log p(x,z) - log p(z|x) + log q(z|x) - log q(z|x)]",
         "= [linearity] E_q[log q(z|x) - log p(z|x)] + E_q[log p(x,z) - log q(z|x)]",
         "= [definition of KL, definition of the ELBO] KL(q(z|x) || p(z|x)) + ELBO",
         "= [algebra] ELBO + KL(q(z|x) || p(z|x))"], IDENTITY),
    "identity_with_quotients_kl_first": (
        ["log p(x)", "= [constant] E_q[log p(x)]", "= [Bayes' rule] E_q[log(p(x,z) / p(z|x))]",
         "= [log of a quotient, linearity] E_q[log(q(z|x) / p(z|x))] + E_q[log(p(x,z) / q(z|x))]",
         "= [log of a quotient, definition of KL] KL(q(z|x) || p(z|x)) + E_q[log(p(x,z) / q(z|x))]",
         "= [log of a quotient, definition of the ELBO] ELBO + KL(q(z|x) || p(z|x))"], IDENTITY),
    "identity_with_a_detour": (
        IDENTITY_STEPS[:3] + ["= [Bayes' rule, log of a quotient] E_q[log p(x)]",
                              "= [Bayes' rule, log of a quotient] E_q[log p(x,z) - log p(z|x)]"] + IDENTITY_STEPS[3:],
        IDENTITY),
}

# Chains that show little or no reasoning, each with the credit it earns now: (steps, goal, credit)
ATTACKS = {
    "empty_chain": ([], IDENTITY, 0),
    "single_expression": (["log p(x)"], IDENTITY, 0),
    "single_expression_of_the_bound": (["log p(x)"], BOUND, 0),
    "one_step_restatement_of_the_bound": (["log p(x)", ">= ELBO"], BOUND, 0),
    "one_step_restatement_by_value": (["log p(x)", ">= E_q[log p(x,z) - log q(z|x)]"], BOUND, 0),
    "one_step_restatement_of_the_identity": (["log p(x)", "= KL(q(z|x) || p(z|x)) + ELBO"], IDENTITY, 0),
    "empty_middle_step_identity": (
        ["log p(x)", "= [q sums to one] E_q[log p(x)]", "= ELBO + KL(q(z|x) || p(z|x))"], IDENTITY, 0),
    "empty_middle_step_bound": (["log p(x)", "= [q sums to one] E_q[log p(x)]", ">= [Jensen] ELBO"], BOUND, 0),
    "the_midterm_template_without_its_middle": (
        ["log p(x)", "= [q sums to one] E_q[log p(x)]", "= ELBO + KL(q(z|x) || p(z|x))"], IDENTITY, 0),
    "empty_algebra_steps": (
        ["log p(x)", "= log p(x) + 0", "= 1 * log p(x)", "= ELBO + KL(q(z|x) || p(z|x))"], IDENTITY, 0),
    "through_the_gap_by_algebra": (
        ["log p(x)", "= ELBO + (log p(x) - ELBO)", "= ELBO + KL(q(z|x) || p(z|x))"], IDENTITY, 0),
    "circular_chain": (
        ["log p(x)", "= [constant] E_q[log p(x)]", "= [Bayes' rule, log] E_q[log p(x,z) - log p(z|x)]",
         "= [Bayes' rule, log] E_q[log p(x)]", "= [constant] log p(x)", "= ELBO + KL(q(z|x) || p(z|x))"], IDENTITY, 0),
    "circular_chain_of_the_bound": (
        ["log p(x)", "= [marginalisation] log E_q[p(x,z) / q(z|x)]", "= [marginalisation] log p(x)", ">= ELBO"],
        BOUND, 0),
    "jensen_then_a_leap": (JENSEN[:2] + [">= [Jensen] E_q[log p(x|z)] - KL(q(z|x) || p(z))", "= ELBO"], BOUND, 1 / 3),
    "leap_then_jensen": (["log p(x)", "= log E_q[exp(log p(x,z) - log q(z|x))]", ">= [Jensen] E_q[log p(x,z) - "
                          "log q(z|x)]", "= [definition of the ELBO] ELBO"], BOUND, 1 / 3),
    "stops_after_the_posterior": (IDENTITY_STEPS[:3], IDENTITY, 1 / 3),
}


def credit(steps, goal) -> float:
    return check(steps, goal).credit


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_correct_route_earns_full_credit(name):
    steps, goal = ROUTES[name]
    verdict = check(steps, goal)
    assert verdict.reaches_goal and verdict.credit == 1.0, verdict.message()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_chains_that_skip_reasoning_earn_only_the_milestones_they_show(name):
    steps, goal, expected = ATTACKS[name]
    verdict = check(steps, goal)
    assert not verdict.reaches_goal and verdict.credit == pytest.approx(expected), verdict.message()


def test_a_leap_is_named_with_the_rules_it_would_have_to_show():
    verdict = check(ATTACKS["empty_middle_step_identity"][0], IDENTITY)
    assert verdict.skips[0][0] == 3 and verdict.message().startswith("step 3 skips reasoning: it applies ")
    for rule in ("definition of the ELBO", "definition of KL", "Bayes' rule", "linearity of expectation"):
        assert rule in verdict.message()
    assert "in steps of at most 3 rules" in verdict.message() and "not shown: the posterior" in verdict.message()
    restated = check(["log p(x)", ">= ELBO"], BOUND).message()
    assert "no rule of this derivation's vocabulary gives it" in restated and "log E_q[f] >= E_q[log f]" in restated


def test_a_rule_the_reason_names_is_checked_and_a_wrong_name_noted():
    steps = ["log p(x)", "= [Bayes' rule] E_q[log p(x)]", "= [Bayes' rule, log of a quotient] "
             "E_q[log p(x,z) - log p(z|x)]"]
    verdict = check(steps, IDENTITY)
    assert verdict.notes == ["step 2 applies expectation of a constant, not Bayes' rule as its reason says"]
    assert verdict.credit == pytest.approx(1 / 3)  # the posterior by Bayes' rule: one milestone of two, and no proof


def test_an_inequality_rule_justifies_an_inequality_only_where_its_term_counts_positively():
    equality = check(["log p(x)", "= [marginalisation] log E_q[p(x,z) / q(z|x)]",
                      "= [Jensen] E_q[log(p(x,z) / q(z|x))]"], BOUND)
    assert equality.first_bad == 3  # false in value, whatever its reason
    negative = check(["-ELBO - KL(q(z|x) || p(z|x))", ">= [KL >= 0] -ELBO"], ("-log p(x)", ">=", "-ELBO"))
    assert negative.first_bad == 2  # dropping a KL with a minus sign makes the step larger, not smaller


# name: (steps, goal, first bad step (0: none), proves the goal)
DERIVATIONS = {
    "identity_with_the_prior_kl": (
        ["ELBO", "= [definition of the ELBO, Bayes' rule] E_q[log(p(x|z) * p(z)) - log q(z|x)]",
         "= [log of a product, linearity] E_q[log p(x|z)] + E_q[log p(z) - log q(z|x)]",
         "= [definition of KL] E_q[log p(x|z)] - KL(q(z|x) || p(z))"],
        ("ELBO", "=", "E_q[log p(x|z)] - KL(q(z|x) || p(z))"), 0, True),
    "exp_and_powers": (
        ["log p(x)", "= [log of a power] log(exp(1) ^ log p(x))", "= [log of a power] 2 * log sqrt(p(x))"],
        ("log p(x)", "=", "2 * log sqrt(p(x))"), 0, True),
    "inequality_the_wrong_way": (
        ["log p(x)", "= log E_q[p(x,z) / q(z|x)]", "<= E_q[log p(x,z) - log q(z|x)]"], BOUND, 3, False),
    "dropped_the_entropy_term": (
        ["log p(x)", "= log E_q[p(x,z) / q(z|x)]", ">= E_q[log p(x,z)]"], BOUND, 3, False),
    "posterior_where_the_prior_belongs": (
        ["log p(x)", "= ELBO + KL(q(z|x) || p(z))"], IDENTITY, 2, False),
    "sign_slip_in_the_identity": (
        ["log p(x)", "= E_q[log p(x,z) - log p(z|x)]", "= ELBO - KL(q(z|x) || p(z|x))"], IDENTITY, 3, False),
    "z_left_outside_an_expectation": (
        ["log p(x)", "= log p(x,z) - log p(z|x)"], IDENTITY, 2, False),
    "only_the_bound_where_the_identity_is_asked": (JENSEN, IDENTITY, 0, False),
    "stops_early": (JENSEN[:2], BOUND, 0, False),
    "starts_elsewhere": (["ELBO", "<= [Jensen] log p(x)"], BOUND, 0, False),
    "ends_on_the_elbo_by_value_only": (JENSEN[:4], BOUND, 0, False),
    "mixes_both_inequalities": (
        ["log p(x)", "= log E_q[p(x,z) / q(z|x)]", ">= E_q[log(p(x,z) / q(z|x))]", "<= log E_q[p(x,z) / q(z|x)]",
         ">= E_q[log(p(x,z) / q(z|x))]", "= E_q[log p(x,z) - log q(z|x)]", "= ELBO"], BOUND, 0, False),
    "a_step_without_relation": (["log p(x)", "log E_q[p(x,z) / q(z|x)]"], BOUND, 2, False),
    "a_step_that_does_not_parse": (["log p(x)", "= log E_q[p(x,z) / q(z|x)", ">= ELBO"], BOUND, 2, False),
}


@pytest.mark.parametrize("name", sorted(DERIVATIONS))
def test_each_derivation_is_judged_as_a_careful_grader_would(name):
    steps, goal, first_bad, proves = DERIVATIONS[name]
    verdict = check(steps, goal)
    assert verdict.first_bad == first_bad, verdict.message()
    assert verdict.reaches_goal == proves, verdict.message()
    if proves:
        assert verdict.credit == 1.0
    elif first_bad:
        assert verdict.credit < 1 and f"step {first_bad} does not hold" in verdict.message()
    else:
        assert verdict.credit < 1 and ("not finished" in verdict.message() or "skips" in verdict.message())


def test_densities_that_underflow_under_a_log_do_not_fail_a_correct_step():
    """Some Gaussian instances have log p(x) below -709, where p(x,z) itself rounds to 0: a log of a
    quotient, product or expectation of densities is taken in log space, so these correct steps hold on
    every instance of seeds 7, 15, 30 and 38, each of which draws such an instance."""
    steps = ["log p(x)", "= log(E_q[p(x,z) / q(z|x)])", ">= E_q[log(p(x|z) * p(z) / q(z|x))]",
             "= E_q[log p(x|z) + log p(z) - log q(z|x)]", "= E_q[log p(x,z) - log q(z|x)]", "= ELBO"]
    failed = {seed: check(steps, BOUND, seed=seed, instances=60).message() for seed in (7, 15, 30, 38)}
    assert {seed: m for seed, m in failed.items() if "proves the statement" not in m} == {}


def test_a_failed_step_names_a_counterexample():
    verdict = check(DERIVATIONS["dropped_the_entropy_term"][0], BOUND)
    assert "on a discrete latent z with" in verdict.reason or "on a Gaussian model" in verdict.reason
    assert "so '>=' does not hold" in verdict.reason


def test_credit_counts_the_milestones_shown_before_the_first_bad_step():
    steps = IDENTITY_STEPS[:3] + ["= ELBO"]
    verdict = check(steps, IDENTITY)
    assert verdict.first_bad == 4 and verdict.credit == pytest.approx(1 / 3)
    assert verdict.reached == ["the posterior p(z|x) brought in by Bayes' rule"]


HOSTILE = {
    "very_long": ("1 + " * 1000 + "1", "characters is over the limit"),
    "many_symbols": ("+".join(["1"] * 300), "symbols is over the limit"),
    "deeply_nested": ("(" * 100 + "1" + ")" * 100, "nested deeper than"),
    "nested_functions": ("log(" * 60 + "p(x)" + ")" * 60, "nested deeper than"),
    "huge_exponent": ("9 ^ 9 ^ 9 ^ 9 ^ 9", None),
    "attribute_access": ("p(x).__class__", "unexpected"),
    "a_call_of_anything_else": ("__import__(os)", "unknown name"),
    "python_code": ("[x for x in ().__class__.__bases__]", "unexpected"),
    "a_name_outside_the_family": ("log r(x)", "unknown name 'r'"),
    "a_lambda": ("lambda: 0", "unexpected ': 0' at character 7"),
    "an_expectation_under_another_measure": ("E_p[log p(x)]", "no expectation E_p"),
    "kl_of_unknown_distributions": ("KL(p(x) || q(z|x))", "KL is taken between"),
    "a_string": ("'log p(x)'", "unexpected"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_expressions_are_refused_or_contained_in_bounded_time(name):
    text, reason = HOSTILE[name]
    started = time.monotonic()
    if reason is None:
        verdict = check(["log p(x)", f"= {text}"], BOUND)
        assert verdict.first_bad == 2 and "not finite" in verdict.reason
    else:
        with pytest.raises(DerivationError, match=reason):
            parse(text, ELBO)
        assert check(["log p(x)", f"= {text}"], BOUND).first_bad == 2
    assert time.monotonic() - started < 2


def nested_logs(depth: int) -> str:
    """A log of a product nested `depth` deep, each level's factor again a log: its log-space value is
    undefined at every level, so an evaluator without memory computes each level twice."""
    text = "E_q[p(x,z)]"
    for _ in range(depth):
        text = f"log({text}*3)"
    return text


def test_evaluation_is_linear_in_the_size_of_the_expression():
    from grader import derivations

    counts = {}
    for depth in (4, 8):
        calls = []
        original = derivations._Evaluation._value
        derivations._Evaluation._value = lambda self, node, original=original: calls.append(1) or original(self, node)
        try:
            check(["log p(x)", "= " + nested_logs(depth)], ("log p(x)", "=", "log p(x)"), instances=2)
        finally:
            derivations._Evaluation._value = original
        counts[depth] = len(calls)
    assert counts[8] <= 2.2 * counts[4], counts  # twice the size, about twice the work (was 2^depth)


# The largest true steps allowed, each a leap of five rules from the one before: every rule set is tried.
LEAPS = ["+".join(["log p(x)"] * 8)] + ["= " + "+".join(["KL(q(z|x) || p(z|x)) + E_q[log(p(x,z) / q(z|x))]"] * 8),
                                       "= " + "+".join(["log p(x)"] * 8)] * 19


# True inequalities between sums of many KL terms: an inequality rule is tried at each of their places.
MANY_PLACES = ["+".join([f"{k} * KL(q(z|x) || p(z|x))" for k in range(1, 31)]) + " + 100"] + [
    ">= " + "+".join([f"{k} * KL(q(z|x) || p(z|x))" for k in range(1, 16)]),
    "<= " + "+".join([f"{k} * KL(q(z|x) || p(z|x))" for k in range(1, 31)]) + " + 100"] * 19


@pytest.mark.parametrize("steps", [
    ["log p(x)"] + ["= " + nested_logs(7)] * 39,                                        # the deepest logs allowed
    LEAPS,
    ["log p(x)"] + [f"= {'log p(x) + ' * 30}" + f"{'(' * 8}p(x){')' * 8}" + " - log p(x)" * 30] * 39,
    MANY_PLACES,
], ids=["deep-logs", "largest-leaps", "long-and-nested", "many-places"])
def test_the_largest_derivations_end_in_bounded_time(steps):
    started = time.monotonic()
    verdict = check(steps, IDENTITY, seconds=4)
    assert verdict.credit == 0 and time.monotonic() - started < 6, (verdict.message(), time.monotonic() - started)


def test_a_check_past_its_deadline_earns_nothing_and_says_so():
    started = time.monotonic()
    verdict = check(LEAPS, IDENTITY, seconds=0.2)
    assert time.monotonic() - started < 1.5
    assert verdict.credit == 0 and verdict.message() == "checking the derivation took too long (over 0.2 s): stopped"


@pytest.mark.parametrize("steps", [[], "log p(x)", [None], ["log p(x)"] * 100, [{"step": 1}]])
def test_malformed_derivations_fail_with_a_reason(steps):
    verdict = check(steps, BOUND)
    assert verdict.credit == 0 and verdict.message()


def test_a_reason_may_hold_brackets_and_must_close():
    steps = ["log p(x)", "= [marginalisation] log E_q[p(x,z) / q(z|x)]",
             ">= [Jensen: log E_q[f] >= E_q[log f]] E_q[log p(x,z) - log q(z|x)]", "= [ELBO = E_q[...]] ELBO"]
    assert check(steps, BOUND).reaches_goal
    verdict = check(["log p(x)", "= [never closed " + "x" * 300 + " p(x)"], BOUND)
    assert verdict.first_bad == 2 and verdict.message().startswith(
        "step 2 does not hold: the reason in brackets at its start does not close within 200 characters")
