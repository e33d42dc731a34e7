"""Performance: the negative ELBO of a large batch, timed against the reference on the same fresh inputs.

Measured with `grader audit vae --speed-margins` on a 2-core machine (5 timings of each solution alone, then 3 and 5
with two CPU-bound processes beside): whole-tensor solutions took 0.5 to 1.9 times the reference's time, a loop over
the images 6.6 to 20 times (handing the inputs over, which both sides pay, is most of the reference's time, and a
busy machine narrows the ratio). At the former CPU budget of 5 the loop came within 1.5x of it under load; at 3.5
both sides keep that margin. The CUDA budget was not measured here (no GPU)."""

import pytest
import torch

pytestmark = pytest.mark.question("speed")

N, D = 4096, 8  # images in the batch, latent dimensions


def make_args(rng):
    x = torch.tensor(rng.random((N, 64)), dtype=torch.float32)
    logits = torch.tensor(rng.normal(0.0, 3.0, (N, 64)), dtype=torch.float32)
    mu = torch.tensor(rng.normal(0.0, 1.0, (N, D)), dtype=torch.float32)
    logvar = torch.tensor(rng.uniform(-4.0, 1.0, (N, D)), dtype=torch.float32)
    return x, logits, mu, logvar


@pytest.mark.points(8)
@pytest.mark.requirement("R7.1")
def test_negative_elbo_is_vectorised(submission, reference, speed):
    speed(submission.negative_elbo, reference.negative_elbo, make_args, budget={"cpu": 3.5, "cuda": 5.0},
          rtol=1e-4, atol=1e-4)
