"""Performance: the forward pass, timed against the reference on the same fresh batches."""

import pytest

pytestmark = pytest.mark.question("speed")

LAYER_SIZES = [64, 128, 128, 10]
BATCH = 512


@pytest.mark.points(6)
def test_forward_is_vectorised(submission, reference, speed, rng):
    params = reference.init_params(LAYER_SIZES, int(rng.integers(2**31)))
    speed(submission.forward, reference.forward,
          lambda r: (r.standard_normal((BATCH, LAYER_SIZES[0])), params, "relu", "softmax"), budget=5.0)
