"""Public tests: a few of the code questions on cases worked out by hand.

The hidden tests use random shapes and values, compare with torch's autograd and torch.optim,
and check that you leave your inputs unchanged; numeric and choice answers are checked against
a key that is not published. Passing these tests does not mean an answer is right everywhere.
"""

import numpy as np
import pytest

from grader.checks import assert_close, assert_shape


@pytest.mark.question("lstm_cell_jacobian")
@pytest.mark.points(1)
@pytest.mark.requirement("R1.1")
def test_jacobian_by_hand(submission):
    """Every weight and bias zero: f_t = i_t = 1/2 and g_t = 0 whatever c_{t-1}, so dc_t/dc_{t-1} = I / 2."""
    d, n = 3, 2
    params = {f"{kind}_{gate}": np.zeros(shape) for gate in "figo"
              for kind, shape in (("W", (d, d)), ("U", (d, n)), ("b", (d,)))}
    J = submission.cell_jacobian(np.ones(n), np.array([0.5, -1.0, 2.0]), np.full(d, 0.5), params)
    assert_shape(J, (d, d), name="cell_jacobian")
    assert_close(J, np.eye(d) / 2, name="cell_jacobian with every weight and bias zero")


@pytest.mark.question("gd_sgd")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.1")
def test_gd_step_by_hand(submission):
    """X = I (2 examples, 2 parameters), y = (1, 3), theta = 0: the gradient (6) is -(1, 3) / 2."""
    theta = submission.gd_step(np.zeros(2), np.eye(2), np.array([1.0, 3.0]), 0.5)
    assert_close(theta, [0.25, 0.75], name="gd_step(0, I, (1, 3), lr=0.5)")


@pytest.mark.question("info_nce")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.6")
def test_cosine_similarities_by_hand(submission):
    """Orthogonal, parallel and opposite vectors, of any length: cosines 0, 1 and -1."""
    S = submission.cosine_similarities(np.array([[2.0, 0.0], [0.0, 3.0]]), np.array([[5.0, 0.0], [0.0, -1.0]]))
    assert_close(S, [[1.0, 0.0], [0.0, -1.0]], name="cosine_similarities")
