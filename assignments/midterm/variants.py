"""The midterm's variants: the parameters drawn by code, and the functions the key's formulas call.

Run by the grader on the trusted side (grader.variants), never shipped to students. `generate(rng)`
draws the generated parameters of the spec; every other parameter is drawn from its range or choices.
"""

import math


def generate(rng):
    """2.10: ten validation losses, one a line of the handout: three epochs of clear progress from 5.0, then a
    plateau with noise (tenths), so that the schedule divides the rate a few times."""
    losses = [5.0]
    for epoch in range(1, 10):
        step = float(rng.choice([0.5, 0.6, 0.7] if epoch < 3 else [-0.3, -0.2, 0.1, 0.2, 0.3]))
        losses.append(round(losses[-1] - step, 1) if epoch < 3 else round(losses[2] - 0.3 + step, 1))
    return {"lr_schedule_trace": {"losses": losses}}


def schedule(losses, lr, lr_decay, nonmono):
    """The handout's fragment (2.9): the rate at the end of each epoch."""
    rates, seen = [], []
    for loss in losses:
        if len(seen) > nonmono and loss > min(seen[:-nonmono]):
            lr = lr / lr_decay
        seen.append(loss)
        rates.append(lr)
    return rates


def elbo_terms(p_z, p_x_given_z, q):
    """4.2: [log p(x), ELBO, KL(q(z|x) || p(z|x))] of a discrete latent variable."""
    evidence = sum(p * l for p, l in zip(p_z, p_x_given_z))
    elbo = sum(w * (math.log(p * l) - math.log(w)) for w, p, l in zip(q, p_z, p_x_given_z))
    return [math.log(evidence), elbo, math.log(evidence) - elbo]
