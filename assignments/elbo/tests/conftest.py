"""Helpers shared by the public and hidden tests of elbo. Everything here runs in the trusted
process and holds nothing secret.

- `grade_derivation(steps, goal)` runs grader.derivations.check on a student's steps, and
  `earn(graded, name)` gives a test the share of its points the derivation's credit is: the
  milestones it shows by steps that hold and follow from their rules (handout, "How derivations
  are graded").
- `ppca_model(rng)` draws a random PPCA model and an observation x.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from grader.derivations import Verdict, check
from grader.exam import PartialCredit

BOUND = ("log p(x)", ">=", "ELBO")
IDENTITY = ("log p(x)", "=", "ELBO + KL(q(z|x) || p(z|x))")


@dataclass
class Graded:
    verdict: Verdict
    credit: float
    message: str


def grade_derivation(steps, goal, seed: int = 0, instances: int = 40) -> Graded:
    verdict = check(steps, goal, seed=seed, instances=instances)
    return Graded(verdict, verdict.credit, f"{verdict.message()} (credit {verdict.credit:.3g})")


def earn(graded: Graded, name: str) -> None:
    """Pass with full credit, or fail with the share of the points the derivation's credit gives."""
    if graded.credit < 1:
        raise PartialCredit(graded.credit, f"{name}: {graded.message}")


@dataclass
class Model:
    """p(z) = N(0, I_k), p(x|z) = N(W z + mu, sigma2 I_D), and one observation x."""

    x: np.ndarray
    W: np.ndarray
    mu: np.ndarray
    sigma2: float

    @property
    def args(self):
        return self.x, self.W, self.mu, self.sigma2


def ppca_model(rng: np.random.Generator, D: int | None = None, k: int | None = None,
               sigma2: float | None = None) -> Model:
    D = int(rng.integers(2, 9)) if D is None else D
    k = int(rng.integers(1, D)) if k is None else k
    sigma2 = float(np.exp(rng.uniform(np.log(0.05), np.log(2.0)))) if sigma2 is None else sigma2
    W, mu = rng.normal(size=(D, k)), rng.normal(size=D)
    x = W @ rng.normal(size=k) + mu + np.sqrt(sigma2) * rng.normal(size=D)
    return Model(x, W, mu, sigma2)


@pytest.fixture(scope="session")
def elbo_tools():
    return SimpleNamespace(BOUND=BOUND, IDENTITY=IDENTITY, grade_derivation=grade_derivation, earn=earn,
                           ppca_model=ppca_model)
