"""Assertions for assignment tests, with messages a student can act on.

Each check raises AssertionError naming what was wrong: the first mismatching index, the
expected and actual values and the relative error, never just "arrays differ".
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "as_array",
    "assert_all_close",
    "assert_close",
    "assert_distribution",
    "assert_dtype",
    "assert_finite",
    "assert_inputs_unchanged",
    "assert_shape",
    "check_gradient",
    "numerical_gradient",
]


def as_array(value, name: str = "value") -> np.ndarray:
    """Convert a returned value (array, tensor, number, nested list) to a numeric ndarray."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu()
        value = (value.float() if str(value.dtype) == "torch.bfloat16" else value).numpy()
    if value is None:
        raise AssertionError(f"{name}: expected a numeric array, got None (is the function implemented?)")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"{name}: expected a numeric array, got {_describe(value)} ({error})") from None
    if array.dtype == object or array.dtype.kind not in "biufc":
        raise AssertionError(f"{name}: expected a numeric array, got {_describe(value)}")
    return array


def assert_shape(value, shape: Sequence[int], name: str = "value") -> None:
    """Fail unless `value` has exactly `shape`."""
    array = as_array(value, name)
    if array.shape != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {array.shape}")


def assert_dtype(value, kind: str = "f", name: str = "value") -> None:
    """Fail unless `value`'s dtype is of `kind` ('f' float, 'i' int, 'b' bool, ...) or is `kind` itself."""
    array = as_array(value, name)
    if len(kind) == 1:
        ok = array.dtype.kind == kind or (kind == "i" and array.dtype.kind == "u")
    else:
        ok = array.dtype == np.dtype(kind)
    if not ok:
        raise AssertionError(f"{name}: expected dtype {kind!r}, got {array.dtype}")


def assert_finite(value, name: str = "value") -> None:
    """Fail if any element is NaN or infinite, naming the first one."""
    array = as_array(value, name)
    bad = ~np.isfinite(array)
    if bad.any():
        index = _index(np.argwhere(bad)[0])
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {array.size} elements are not finite; first at {index}: {array[index]!r}"
        )


def assert_close(actual, expected, rtol: float = 1e-6, atol: float = 1e-8, name: str = "value") -> None:
    """Fail unless `actual` matches `expected` elementwise within |a - e| <= atol + rtol * |e|.

    The message names the first mismatching index, the expected and actual values there
    and the relative error, plus how many elements are off.
    """
    expected = as_array(expected, f"{name} (expected)")
    actual = as_array(actual, name)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: expected shape {expected.shape}, got {actual.shape}")
    if actual.size == 0:
        return
    a = actual.astype(np.complex128 if np.iscomplexobj(actual) else np.float64)
    e = expected.astype(np.complex128 if np.iscomplexobj(expected) else np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    index = _index(np.argwhere(~close)[0])
    got, want = a[index], e[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = abs(got - want) / abs(want) if want != 0 else float("inf")
    where = f" at index {index}" if actual.ndim else ""
    raise AssertionError(
        f"{name}: {int((~close).sum())} of {actual.size} elements differ (rtol={rtol:g}, atol={atol:g}); "
        f"first{where}: expected {_num(want)}, got {_num(got)} (relative error {_num(relative)})"
    )


def assert_all_close(actual, expected, rtol: float = 1e-6, atol: float = 1e-8, name: str = "value") -> None:
    """assert_close through nested dicts, lists and tuples, naming the path of the first mismatch."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            keys = sorted(map(str, expected))
            raise AssertionError(f"{name}: expected a dict with keys {keys}, got {_describe_container(actual)}")
        for key in expected:
            assert_all_close(actual[key], expected[key], rtol, atol, f"{name}[{key!r}]")
    elif isinstance(expected, (list, tuple)) and not _is_numeric_sequence(expected):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            raise AssertionError(f"{name}: expected a sequence of {len(expected)} items, got {_describe_container(actual)}")
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_all_close(a, e, rtol, atol, f"{name}[{index}]")
    else:
        assert_close(actual, expected, rtol, atol, name)


def assert_inputs_unchanged(function: Callable, *args, **kwargs):
    """Call `function` (a submission's, the reference's, or a local one) and fail if it modified any of its
    arguments in place, naming the argument and the first change; return what it returned.

    A submission's function runs in its worker, which sends back the arguments as the call left them.
    """
    report = getattr(function, "call_reporting_arguments", None)
    if report is not None:
        result, args_after, kwargs_after = report(*args, **kwargs)
    else:
        args_after, kwargs_after = copy.deepcopy(args), copy.deepcopy(kwargs)
        result = function(*args_after, **kwargs_after)
    name = getattr(function, "_name", getattr(function, "__name__", "the function"))
    labels = [(f"argument {i + 1}", before, after) for i, (before, after) in enumerate(zip(args, args_after))]
    labels += [(f"argument {key!r}", kwargs[key], kwargs_after.get(key)) for key in kwargs]
    for label, before, after in labels:
        change = _first_change(before, after)
        if change:
            raise AssertionError(f"{name} modified its {label} in place ({change}); it must build new arrays and "
                                 "leave the ones it is given unchanged")
    return result


def _first_change(before, after, path: str = "") -> str | None:
    """Where `after` differs from `before` (exactly, NaN equal to NaN), or None."""
    if isinstance(before, dict):
        if not isinstance(after, dict) or set(after) != set(before):
            return f"the keys of {path or 'the dict'} changed"
        return next(filter(None, (_first_change(before[k], after[k], f"{path}[{k!r}]") for k in before)), None)
    if isinstance(before, (list, tuple)) and not _is_numeric_sequence(before):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return f"the length of {path or 'the sequence'} changed"
        return next(filter(None, (_first_change(b, a, f"{path}[{i}]") for i, (b, a) in enumerate(zip(before, after)))),
                    None)
    if hasattr(before, "grader_description"):  # an object that stays in the worker: nothing to compare here
        return None
    try:
        old, new = as_array(before), as_array(after)
    except AssertionError:
        return None if before == after else f"{path or 'it'} changed"
    if old.shape != new.shape:
        return f"the shape of {path or 'the array'} changed from {old.shape} to {new.shape}"
    same = old == new
    if old.dtype.kind in "fc" and new.dtype.kind in "fc":
        same |= np.isnan(old) & np.isnan(new)
    if not same.all():
        index = _index(np.argwhere(~same)[0])
        where = f"{path}[{', '.join(map(str, index))}]" if index else path or "the value"
        return f"{where} was {_num(old[index])}, now {_num(new[index])}"
    return None


def numerical_gradient(f: Callable[[np.ndarray], float], x, eps: float = 1e-6, indices=None) -> np.ndarray:
    """Central-difference gradient of scalar `f` at `x`, in float64.

    With `indices` (a list of index tuples) only those entries are estimated; the others are NaN.
    """
    x = np.array(as_array(x, "x"), dtype=np.float64)
    grad = np.full(x.shape, np.nan) if indices is not None else np.zeros(x.shape)
    for index in indices if indices is not None else np.ndindex(x.shape):
        index = tuple(index)
        original = x[index]
        x[index] = original + eps
        plus = float(f(x.copy()))
        x[index] = original - eps
        minus = float(f(x.copy()))
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def check_gradient(
    f: Callable[[np.ndarray], float],
    x,
    analytic,
    eps: float = 1e-6,
    tolerance: float = 1e-5,
    atol: float = 1e-8,
    max_entries: int | None = None,
    rng: np.random.Generator | None = None,
    name: str = "gradient",
) -> None:
    """Compare an analytic gradient with central differences of `f` at `x` (float64).

    An entry fails when both its absolute error |num - ana| exceeds `atol` (rounding noise
    of central differences on tiny entries) and its relative error |num - ana| / (|num| +
    |ana|) exceeds `tolerance`. With `max_entries`, a random subset of entries is checked
    (drawn from `rng`), which keeps checks of large parameters cheap.
    """
    x = np.asarray(as_array(x, "x"), dtype=np.float64)
    analytic = as_array(analytic, name)
    if analytic.shape != x.shape:
        raise AssertionError(f"{name}: expected shape {x.shape} (the shape of the input), got {analytic.shape}")
    indices = None
    if max_entries is not None and x.size > max_entries:
        rng = rng if rng is not None else np.random.default_rng(0)
        flat = rng.choice(x.size, size=max_entries, replace=False)
        indices = [np.unravel_index(i, x.shape) for i in flat]
    assert_finite(analytic, name)
    numeric = numerical_gradient(f, x, eps=eps, indices=indices)
    checked = ~np.isnan(numeric) if indices is not None else np.ones(x.shape, bool)
    if not np.isfinite(numeric[checked]).all():
        raise AssertionError(f"{name}: the function is not finite near x, so its gradient cannot be checked")
    num, ana = numeric[checked], analytic.astype(np.float64)[checked]
    difference = np.abs(num - ana)
    error = np.where(difference > atol, difference / np.maximum(np.abs(num) + np.abs(ana), 1e-300), 0.0)
    if error.size and error.max() > tolerance:
        worst = int(np.argmax(error))
        index = _index(np.argwhere(checked)[worst])
        raise AssertionError(
            f"{name}: relative error {error[worst]:.3g} > {tolerance:g} at index {index}: "
            f"numerical {_num(num[worst])}, analytic {_num(ana[worst])}"
        )


def assert_distribution(value, axis: int = -1, atol: float = 1e-6, name: str = "value") -> None:
    """Fail unless every slice along `axis` is non-negative and sums to 1."""
    array = as_array(value, name).astype(np.float64)
    assert_finite(array, name)
    if (array < -atol).any():
        index = _index(np.argwhere(array < -atol)[0])
        raise AssertionError(f"{name}: probabilities must be non-negative; at index {index} got {_num(array[index])}")
    sums = array.sum(axis=axis)
    off = np.abs(sums - 1) > atol
    if np.any(off):
        index = _index(np.argwhere(np.atleast_1d(off))[0])
        raise AssertionError(
            f"{name}: probabilities along axis {axis} must sum to 1; the slice at {index} sums to "
            f"{_num(np.atleast_1d(sums)[index])}"
        )


def _is_numeric_sequence(value) -> bool:
    return all(isinstance(v, (int, float, complex, np.number)) for v in value)


def _describe_container(value) -> str:
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return _describe(value)


def _index(position) -> tuple[int, ...]:
    return tuple(int(i) for i in position)


def _num(value) -> str:
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else repr(value.item() if hasattr(value, "item") else value)


def _describe(value) -> str:
    return getattr(value, "grader_description", None) or f"an object of type {type(value).__name__}"
