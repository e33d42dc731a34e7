"""Automatic mutants: each operator proposes the edits it should, ids are stable, no-ops and docstrings are skipped."""

from __future__ import annotations

import ast
import textwrap

import pytest

from grader.mutation import OPERATORS, SEMANTIC, generate, sample


def changes(source: str, operator: str | None = None) -> set[tuple[str, str]]:
    """(before, after) of every mutant of `source` (of one operator, where given)."""
    return {(m.before, m.after) for m in generate(textwrap.dedent(source)) if operator in (None, m.operator)}


@pytest.mark.parametrize(("source", "operator", "expected"), [
    ("y = a + b * c", "arith", {("a + b * c", "a - b * c"), ("b * c", "b / c")}),
    ("y = a / b\ny -= c", "arith", {("a / b", "a * b"), ("y -= c", "y += c")}),
    ("y = a < b", "compare", {("a < b", "a <= b"), ("a < b", "a > b")}),
    ("y = a >= b", "compare", {("a >= b", "a > b"), ("a >= b", "a <= b")}),
    ("y = a == b", "compare", {("a == b", "a != b")}),
    ("y = x[3]", "constant", {("3", "4"), ("3", "2")}),
    ("y = x.sum(axis=1, keepdims=True)", "axis", {("x.sum(axis=1, keepdims=True)", "x.sum(keepdims=True)")}),
    ("y = np.max(x, axis=0, keepdims=True)", "keepdims", {("np.max(x, axis=0, keepdims=True)", "np.max(x, axis=0)")}),
    ("y = W.T @ d", "transpose", {("W.T", "W")}),
    ("y = np.transpose(W) + W.t()", "transpose", {("np.transpose(W)", "W"), ("W.t()", "W")}),
    ("y = a + b - c", "term", {("a + b - c", "a + b"), ("a + b - c", "-c"), ("a + b", "a"), ("a + b", "b")}),
    ("y = f(a, b, c)", "swap_args", {("f(a, b, c)", "f(b, a, c)"), ("f(a, b, c)", "f(a, c, b)")}),
    ("y = x.mean(axis=0) + x.sum()", "reduction", {("x.mean(axis=0)", "x.sum(axis=0)"), ("x.sum()", "x.mean()")}),
    ("w = w - g\nv += g\nu = x.copy()", "inplace", {("w = w - g", "w -= g"), ("v += g", "v = v + g"), ("x.copy()", "x")}),
    ("def f(a, b):\n    h, c = a, b\n    return c, h", "tuple", {("h, c", "c, h"), ("c, h", "h, c")}),
])
def test_each_operator_proposes_the_expected_edits(source, operator, expected):
    assert operator in OPERATORS
    assert changes(source, operator) == expected


def test_a_mutant_changes_one_span_and_keeps_the_rest_of_the_file():
    source = "# a comment\ndef f(x):  # (1)\n    return x + 1  # note\n"
    mutant = next(m for m in generate(source) if m.operator == "arith")
    assert mutant.source == "# a comment\ndef f(x):  # (1)\n    return x - 1  # note\n"
    assert (mutant.id, mutant.function, mutant.description) == ("arith:3:11:0", "f", "line 3: `x + 1` -> `x - 1`")


def test_precedence_is_kept_with_parentheses_where_the_edit_needs_them():
    mutant = next(m for m in generate("y = a * (b - c)\n") if (m.operator, m.after) == ("term", "-c"))
    assert mutant.source == "y = a * (-c)\n"
    (m,) = [m for m in generate("y = 2 ** -x\n") if m.operator == "constant" and m.after == "1"]
    assert ast.dump(ast.parse(m.source)) == ast.dump(ast.parse("y = 1 ** -x\n"))


def test_ids_are_stable_and_name_operator_line_column_and_index():
    source = "def f(a, b):\n    return a < b\n"
    first, again = generate(source), generate(source)
    assert [m.id for m in first] == [m.id for m in again] == ["compare:2:11:0", "compare:2:11:1"]
    assert len({m.id for m in generate(textwrap.dedent(open(__file__).read()))}) == len(generate(open(__file__).read()))


def test_no_op_edits_docstrings_annotations_and_main_blocks_give_no_mutant():
    source = '''
        """Module docstring 1 + 2."""
        def f(a: int = 1) -> list[int]:
            """Docstring with x < y."""
            return g(a, a)
        if __name__ == "__main__":
            print(f(1) + 2)
    '''
    assert changes(source) == {("1", "2"), ("1", "0")}  # the default only: g(a, a) swapped is the same call


def test_mutants_that_give_the_same_program_are_kept_once():
    mutants = generate("y = a - b\n")  # term drops b (a) ...; no two mutants are the same program
    assert len({ast.dump(ast.parse(m.source)) for m in mutants}) == len(mutants)


def test_the_sample_is_fixed_and_leaves_out_what_is_excluded():
    mutants = generate("def f(a, b, c):\n    return a + b * c - 3 < a / 2\n")
    chosen = sample(mutants, 4)
    assert len(chosen) == 4 and [m.id for m in chosen] == [m.id for m in sample(generate(
        "def f(a, b, c):\n    return a + b * c - 3 < a / 2\n"), 4)]
    excluded = frozenset(m.id for m in chosen[:2])
    assert not excluded & {m.id for m in sample(mutants, 4, exclude=excluded)}
    assert sample(mutants, None) == mutants


def test_a_reference_that_does_not_parse_is_a_syntax_error():
    with pytest.raises(SyntaxError):
        generate("def f(:\n")


def test_nested_expressions_that_start_at_the_same_place_get_distinct_ids():
    mutants = generate("y = a * b * c\n")
    assert [(m.id, m.after) for m in mutants if m.operator == "arith"] == [
        ("arith:1:4:0", "a * b / c"), ("arith:1:4:1", "a / b")]


TORCH_MODULE = """
import numpy as np
import torch

def f(a, seed):
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    h = a * 2
    return h + rng.integers(3), torch.randn(2, generator=g)

@torch.no_grad()
def g(a):
    return a * 2
"""


@pytest.mark.parametrize(("source", "operator", "expected"), [
    ("y = x.sum(axis=-1) + np.max(z, axis=0) + t.softmax(1)", "dim",
     {("x.sum(axis=-1)", "x.sum(axis=0)"), ("np.max(z, axis=0)", "np.max(z, axis=-1)"), ("t.softmax(1)", "t.softmax(0)")}),
    (TORCH_MODULE, "detach", {("h = a * 2", "h = (a * 2).detach()"),
                              ("return h + rng.integers(3), torch.randn(2, generator=g)",
                               "return ((h + rng.integers(3)).detach(), torch.randn(2, generator=g))"),
                              ("return h + rng.integers(3), torch.randn(2, generator=g)",
                               "return (h + rng.integers(3), torch.randn(2, generator=g).detach())")}),
    ("def f(a):\n    h = a * 2\n    return h", "detach", set()),  # no torch: nothing to detach
    (TORCH_MODULE, "generator", {("rng.integers(3)", "np.random.randint(3)"),
                                 ("torch.Generator().manual_seed(seed)", "torch.manual_seed(seed)"),
                                 ("torch.randn(2, generator=g)", "torch.randn(2)")}),
    ("torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)", "clip",
     {("torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)",
       "torch.nn.utils.clip_grad_value_(model.parameters(), max_norm)"),
      ("torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)",
       "[torch.nn.utils.clip_grad_norm_([_p], max_norm) for _p in model.parameters()]")}),
    ("total = 0\nfor x in xs:\n    total += x * 2\n    n += 1\ntotal += 3 * y\n", "last", {("total += x * 2", "total = x * 2")}),
    ("loss = F.cross_entropy(z, y, reduction='mean')", "reduction",
     {("F.cross_entropy(z, y, reduction='mean')", "F.cross_entropy(z, y, reduction='sum')")}),
])
def test_each_semantic_operator_proposes_the_expected_edits(source, operator, expected):
    assert operator in SEMANTIC
    assert changes(source, operator) == expected
