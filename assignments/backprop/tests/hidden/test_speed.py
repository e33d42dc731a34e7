"""Performance: the forward pass, timed against the reference on the same fresh batches.

The sizes separate what the question teaches: many examples through narrow layers, so that the
reference's time is small per example while a Python loop pays its overhead on every one. Timed
on one thread on a loaded machine (load 15 on 2 cores), the reference took 12 ms per call on a
4096 x 16 batch through [16, 16, 16, 4]; the tightest loop over the examples (one matrix-vector
product per example and layer) took 17.1x and 17.6x that time, while correct vectorised
variants took 1.6x to 2.4x (einsum instead of @) and 0.6x to 2.3x (a loop over the 16 neurons of
a layer, each a product over the whole batch). At the former sizes (512 examples through
[64, 128, 128, 10]) the tightest loop took 4.4x to 4.9x, under the 5x budget.
"""

import pytest

pytestmark = pytest.mark.question("speed")

LAYER_SIZES = [16, 16, 16, 4]
BATCH = 4096


@pytest.mark.points(6)
def test_forward_is_vectorised(submission, reference, speed, rng):
    params = reference.init_params(LAYER_SIZES, int(rng.integers(2**31)))
    speed(submission.forward, reference.forward,
          lambda r: (r.standard_normal((BATCH, LAYER_SIZES[0])), params, "relu", "softmax"), budget=5.0)
