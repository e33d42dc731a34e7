"""Public test for Part 4: a model trained on text from an order-2 Markov source comes
close to the source's entropy rate on held-out text."""

import pytest

from grader.checks import assert_shape

MARGIN = 0.08  # nats per character above the entropy rate (handout, Part 4)


@pytest.mark.question("training")
@pytest.mark.points(4)
@pytest.mark.requirement("R4.5")
def test_trained_model_approaches_the_entropy_rate(submission, rng, lm):
    source = lm.markov_source(rng)
    text = source.sample(200_000, rng)
    model = submission.train(text, lm.V, seed=0)
    held_out = source.sample(20_000, rng)
    logits = model.logits(held_out)
    assert_shape(logits, (len(held_out), lm.V), name="model.logits(held_out)")
    loss, rate, unigram = lm.model_loss(logits, held_out), source.entropy_rate, source.unigram_entropy
    assert loss <= rate + MARGIN, (f"held-out loss {loss:.3f} nats/char; the entropy rate is {rate:.3f} and the "
                                   f"letter frequencies alone give {unigram:.3f}: expected at most {rate + MARGIN:.3f}")
