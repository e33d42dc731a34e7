"""grader.checks: assertions whose messages a student can act on."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from grader.checks import (
    as_array,
    assert_all_close,
    assert_close,
    assert_distribution,
    assert_dtype,
    assert_finite,
    assert_shape,
    check_gradient,
    numerical_gradient,
)


class AlwaysEqual:
    """A hostile return value: equal to everything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


# ---------------------------------------------------------------------------- assert_close

@pytest.mark.parametrize("actual,expected", [
    (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])),
    (np.array([1.0 + 5e-7, 2.0]), [1.0, 2.0]),                 # within rtol=1e-6
    (np.array([5e-9]), np.array([0.0])),                        # within atol=1e-8
    ([[1, 2], [3, 4]], np.array([[1.0, 2.0], [3.0, 4.0]])),      # lists and ints are fine
    (torch.tensor([0.5, 1.5], requires_grad=True), np.array([0.5, 1.5])),
    (np.float32(0.1), 0.1),
    (np.array([1 + 1j]), np.array([1 + 1j])),
    (np.zeros((0, 3)), np.zeros((0, 3))),
    (np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf])),
])
def test_assert_close_passes_within_tolerance(actual, expected):
    assert_close(actual, expected)


def test_assert_close_respects_given_tolerances():
    assert_close([1.01], [1.0], rtol=0.02)
    with pytest.raises(AssertionError):
        assert_close([1.01], [1.0], rtol=0.005)
    assert_close([0.001], [0.0], atol=0.01)
    with pytest.raises(AssertionError):
        assert_close([0.001], [0.0], atol=1e-4)


def test_assert_close_message_names_first_bad_index_expected_got_and_relative_error():
    expected = np.arange(12, dtype=np.float64).reshape(3, 4)
    actual = expected.copy()
    actual[1, 2] = 7.0     # expected 6 -> relative error 1/6
    actual[2, 3] = 100.0   # a second, later mismatch
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, name="logits")
    message = str(info.value)
    assert message.startswith("logits:")
    assert "2 of 12 elements differ" in message
    assert "index (1, 2)" in message
    assert "expected 6" in message and "got 7" in message
    assert "relative error 0.166667" in message


def test_assert_close_message_for_zero_expected_and_scalars():
    with pytest.raises(AssertionError, match=r"expected 0, got 0\.5 \(relative error inf\)"):
        assert_close(np.array([0.0, 0.5]), np.array([0.0, 0.0]))
    with pytest.raises(AssertionError) as info:
        assert_close(2.0, 1.0, name="loss")
    assert "index" not in str(info.value) and "expected 1, got 2" in str(info.value)


def test_assert_close_shape_mismatch():
    with pytest.raises(AssertionError, match=r"out: expected shape \(3, 2\), got \(2, 3\)"):
        assert_close(np.zeros((2, 3)), np.zeros((3, 2)), name="out")
    with pytest.raises(AssertionError, match=r"expected shape \(3,\), got \(\)"):
        assert_close(0.0, np.zeros(3))  # no silent broadcasting


def test_nan_equals_nan_but_not_a_number():
    assert_close(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    with pytest.raises(AssertionError, match=r"index \(1,\): expected nan, got 2"):
        assert_close(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    with pytest.raises(AssertionError, match=r"index \(0,\): expected 1, got nan"):
        assert_close(np.array([np.nan, 2.0]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("actual,pattern", [
    (None, r"result: expected a numeric array, got None"),
    (AlwaysEqual(), r"result: expected a numeric array, got an object of type AlwaysEqual"),
    ([AlwaysEqual(), AlwaysEqual()], r"result: expected a numeric array, got an object of type list"),
    ("1.0", r"result: expected a numeric array, got an object of type str"),
    (["1.0", "2.0"], r"result: expected a numeric array"),
    (b"\x00\x01", r"result: expected a numeric array"),
    ([[1.0, 2.0], [3.0]], r"result: expected a numeric array"),   # ragged
    ({"a": 1.0}, r"result: expected a numeric array, got an object of type dict"),
])
def test_assert_close_non_numeric_actual_fails_clearly(actual, pattern):
    with pytest.raises(AssertionError, match=pattern):
        assert_close(actual, np.array([1.0, 2.0]), name="result")


def test_assert_close_non_numeric_expected_names_it():
    with pytest.raises(AssertionError, match=r"value \(expected\): expected a numeric array, got None"):
        assert_close([1.0], None)


def test_always_equal_object_cannot_pass_any_check():
    for check in (lambda v: assert_close(v, 1.0), lambda v: assert_shape(v, ()), lambda v: assert_finite(v),
                  lambda v: assert_dtype(v, "f"), lambda v: assert_distribution(v)):
        with pytest.raises(AssertionError, match="expected a numeric array"):
            check(AlwaysEqual())


def test_as_array_converts_tensors_and_describes_remote_objects():
    array = as_array(torch.ones(2, requires_grad=True))
    assert type(array) is np.ndarray and array.dtype == np.float32

    class Remote:
        grader_description = "a Model object from the submission (not plain data)"

    with pytest.raises(AssertionError, match=r"got a Model object from the submission \(not plain data\)"):
        as_array(Remote())


def test_assert_close_accepts_bfloat16_tensors():
    assert_close(torch.tensor([1.0, 2.0], dtype=torch.bfloat16), [1.0, 2.0], rtol=1e-2)


# ---------------------------------------------------------------------------- check_gradient

def _f(x):
    return float(np.sum(x ** 3) + np.sum(np.sin(x)))


def _grad(x):
    return 3 * x ** 2 + np.cos(x)


def test_check_gradient_passes_for_correct_gradient():
    x = np.random.default_rng(0).normal(size=(3, 4))
    check_gradient(_f, x, _grad(x))
    check_gradient(_f, x.astype(np.float32), torch.from_numpy(_grad(x)))  # float32 input, tensor gradient


def test_numerical_gradient_is_central_difference_in_float64():
    x = np.array([0.3, -1.2], dtype=np.float32)
    numeric = numerical_gradient(_f, x)
    assert numeric.dtype == np.float64
    np.testing.assert_allclose(numeric, _grad(x.astype(np.float64)), rtol=1e-7)


def test_check_gradient_fails_for_a_wrong_entry_and_names_it():
    x = np.random.default_rng(1).normal(size=(3, 4))
    wrong = _grad(x)
    wrong[2, 1] *= 1.5
    with pytest.raises(AssertionError) as info:
        check_gradient(_f, x, wrong, name="dW")
    message = str(info.value)
    assert message.startswith("dW: relative error")
    assert "at index (2, 1)" in message
    assert "numerical" in message and "analytic" in message


def test_check_gradient_shape_mismatch():
    x = np.ones((2, 3))
    with pytest.raises(AssertionError, match=r"grad: expected shape \(2, 3\) \(the shape of the input\), got \(3, 2\)"):
        check_gradient(_f, x, np.ones((3, 2)), name="grad")


def test_check_gradient_sampling_evaluates_only_max_entries():
    calls = []

    def counting(x):
        calls.append(1)
        return _f(x)

    x = np.random.default_rng(2).normal(size=(20, 10))
    check_gradient(counting, x, _grad(x), max_entries=7, rng=np.random.default_rng(3))
    assert len(calls) == 2 * 7  # two evaluations (x+eps, x-eps) per sampled entry, not 2 * 200


def test_check_gradient_sampling_still_fails_a_wrong_gradient_and_names_a_sampled_index():
    x = np.random.default_rng(4).normal(size=(10, 10)) + 3.0
    wrong = 2 * _grad(x)  # wrong everywhere: every sampled entry has relative error 1/3
    with pytest.raises(AssertionError) as info:
        check_gradient(_f, x, wrong, max_entries=5, rng=np.random.default_rng(5))
    match = re.search(r"relative error ([\d.]+) > 1e-05 at index \((\d+), (\d+)\): numerical ([-\d.e+]+), "
                      r"analytic ([-\d.e+]+)", str(info.value))
    assert match, str(info.value)
    error, i, j, numerical, analytic = float(match[1]), int(match[2]), int(match[3]), float(match[4]), float(match[5])
    assert error == pytest.approx(1 / 3, rel=1e-2)  # printed to 3 significant digits
    assert numerical == pytest.approx(_grad(x)[i, j], rel=1e-5)
    assert analytic == pytest.approx(wrong[i, j], rel=1e-5)


def test_check_gradient_sampling_is_deterministic_given_rng():
    x = np.random.default_rng(6).normal(size=(50,))
    wrong = _grad(x) * np.linspace(1.1, 2.0, 50)  # a different error at each index

    def message(seed):
        with pytest.raises(AssertionError) as info:
            check_gradient(_f, x, wrong, max_entries=4, rng=np.random.default_rng(seed))
        return str(info.value)

    assert message(9) == message(9)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("analytic", [
    lambda g: np.full_like(g, np.nan),
    lambda g: np.where(np.arange(g.size).reshape(g.shape) == 0, np.nan, 10 * g),  # one NaN hides wrong entries
    lambda g: np.full_like(g, np.inf),
])
def test_check_gradient_fails_for_non_finite_analytic_gradient(analytic):
    x = np.linspace(0.5, 2.0, 6).reshape(2, 3)
    with pytest.raises(AssertionError):
        check_gradient(_f, x, analytic(_grad(x)))


# ---------------------------------------------------------------------------- shape, dtype, finite, distribution

def test_assert_shape():
    assert_shape(np.zeros((2, 3)), (2, 3))
    assert_shape(torch.zeros(4), [4])
    assert_shape(3.0, ())
    with pytest.raises(AssertionError, match=r"h: expected shape \(3, 2\), got \(2, 3\)"):
        assert_shape(np.zeros((2, 3)), (3, 2), name="h")
    with pytest.raises(AssertionError, match=r"expected shape \(1, 4\), got \(4,\)"):
        assert_shape(np.zeros(4), (1, 4))


def test_assert_dtype():
    assert_dtype(np.zeros(2, dtype=np.float32), "f")
    assert_dtype(np.zeros(2, dtype=np.int64), "i")
    assert_dtype(np.zeros(2, dtype=np.uint8), "i")  # unsigned counts as integer
    assert_dtype(np.zeros(2, dtype=bool), "b")
    assert_dtype(np.zeros(2, dtype=np.float64), "float64")
    with pytest.raises(AssertionError, match=r"y: expected dtype 'f', got int64"):
        assert_dtype(np.zeros(2, dtype=np.int64), "f", name="y")
    with pytest.raises(AssertionError, match=r"expected dtype 'float64', got float32"):
        assert_dtype(np.zeros(2, dtype=np.float32), "float64")
    with pytest.raises(AssertionError, match=r"expected dtype 'i', got float64"):
        assert_dtype([1.0], "i")


def test_assert_finite():
    assert_finite(np.array([1.0, -2.0, 1e300]))
    assert_finite(np.arange(3))
    with pytest.raises(AssertionError, match=r"loss: 2 of 6 elements are not finite; first at \(0, 2\): .*nan"):
        assert_finite(np.array([[1.0, 2.0, np.nan], [np.inf, 0.0, 1.0]]), name="loss")
    with pytest.raises(AssertionError, match=r"1 of 2 elements are not finite; first at \(1,\): .*-inf"):
        assert_finite(np.array([1.0, -np.inf]))


def test_assert_distribution_passes_for_probabilities():
    logits = np.random.default_rng(0).normal(size=(4, 5))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert_distribution(probs)
    assert_distribution(probs.T, axis=0)
    assert_distribution(np.array([0.0, 1.0, 0.0]))
    assert_distribution(torch.softmax(torch.from_numpy(logits), dim=-1))


def test_assert_distribution_fails_for_bad_sums_negatives_and_non_finite():
    with pytest.raises(AssertionError, match=r"p: probabilities along axis -1 must sum to 1; the slice at \(1,\) sums to 0\.9"):
        assert_distribution(np.array([[0.5, 0.5], [0.4, 0.5]]), name="p")
    with pytest.raises(AssertionError, match=r"non-negative; at index \(0, 1\) got -0\.5"):
        assert_distribution(np.array([[1.5, -0.5], [0.5, 0.5]]))
    with pytest.raises(AssertionError, match="not finite"):
        assert_distribution(np.array([np.nan, 1.0]))
    with pytest.raises(AssertionError, match="axis 0 must sum to 1"):
        # rows sum to 1, columns do not
        assert_distribution(np.array([[0.5, 0.5], [0.9, 0.1]]), axis=0)


def test_assert_all_close_walks_nested_results_and_names_the_path():
    expected = {"a": [np.zeros(2), np.ones((2, 2))], "loss": 1.5, "steps": (1, 2)}
    assert_all_close({"a": [np.zeros(2), np.ones((2, 2))], "loss": 1.5, "steps": (1, 2)}, expected)
    with pytest.raises(AssertionError, match=r"value\['a'\]\[1\]: 2 of 4 elements differ"):
        assert_all_close({"a": [np.zeros(2), np.eye(2)], "loss": 1.5, "steps": (1, 2)}, expected)
    with pytest.raises(AssertionError, match="expected a dict with keys"):
        assert_all_close([1.0], expected)
    with pytest.raises(AssertionError, match="expected a sequence of 2 items"):
        assert_all_close({"a": [np.zeros(2)], "loss": 1.5, "steps": (1, 2)}, expected)
