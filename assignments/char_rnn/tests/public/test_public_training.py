"""Public test for Part 4: the model trained on text from an order-2 Markov source comes
close to the source's entropy rate on held-out text. Here the source is a public one; in the
graded run it is the hidden tests' fresh source, and both judge the same trained model."""

import pytest

from grader.checks import assert_shape

MARGIN = 0.08  # nats per character above the entropy rate (handout, Part 4)


@pytest.mark.question("training")
@pytest.mark.points(4)
@pytest.mark.requirement("R4.5")
def test_trained_model_approaches_the_entropy_rate(trained, rng, lm):
    source = trained.source
    held_out = source.sample(20_000, rng)
    logits = trained.model.logits(held_out)
    assert_shape(logits, (len(held_out), lm.V), name="model.logits(held_out)")
    loss, rate, unigram = lm.model_loss(logits, held_out), source.entropy_rate, source.unigram_entropy
    assert loss <= rate + MARGIN, (f"held-out loss {loss:.3f} nats/char; the entropy rate is {rate:.3f} and the "
                                   f"letter frequencies alone give {unigram:.3f}: expected at most {rate + MARGIN:.3f}")
