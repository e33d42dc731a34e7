"""Automatic mutants of a reference solution: small edits of its AST that resemble a student's slips.

Each mutant changes one expression or statement of the source and nothing else (the rest of the
file, comments and line numbers included, is kept), has a stable id `operator:line:column:index`
and a description such as "line 42: `a + b` -> `a - b`". Edits that leave the program unchanged
(the same AST) are skipped, as are docstrings, annotations and `if __name__ == "__main__":` blocks
(never run when a module is graded).
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
from dataclasses import dataclass
from typing import Iterator

OPERATORS = {
    "arith": "an arithmetic operator swapped (+ and -, * and /)",
    "compare": "a comparison flipped (< and >) or its boundary moved (< and <=)",
    "constant": "an integer constant off by one",
    "axis": "a reduction over every axis instead of the one named",
    "keepdims": "keepdims dropped from a reduction",
    "transpose": "a transpose dropped",
    "term": "a term of a sum or difference dropped",
    "swap_args": "two adjacent arguments of a call swapped",
    "reduction": ".mean and .sum swapped",
    "inplace": "an in-place update and its copying form exchanged, or a copy dropped",
    "tuple": "two elements of a returned or unpacked tuple swapped",
}

_ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_COMPARE = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
            ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
            ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}
_REDUCTIONS = {"sum", "mean", "max", "min", "prod", "std", "var", "argmax", "argmin", "any", "all", "logsumexp",
               "cumsum", "norm", "amax", "amin", "nansum", "nanmean", "median"}
_AXIS_KEYWORDS = {"axis", "dim"}
_KEEPDIMS_KEYWORDS = {"keepdims", "keepdim"}
_SWAPPED_REDUCTIONS = {"mean": "sum", "sum": "mean"}


@dataclass(frozen=True)
class AutoMutant:
    """One automatic mutant: where it is, what it changes, and the whole mutated source."""

    id: str
    operator: str
    line: int
    column: int
    function: str      # the enclosing function's qualified name, or "<module>"
    before: str
    after: str
    source: str

    @property
    def description(self) -> str:
        return f"line {self.line}: `{_short(self.before)}` -> `{_short(self.after)}`"


def generate(source: str) -> list[AutoMutant]:
    """Every automatic mutant of `source`, in order of position; raises SyntaxError if it does not parse."""
    return list(_generate(source))


@functools.lru_cache(maxsize=4)
def _generate(source: str) -> tuple[AutoMutant, ...]:
    tree = ast.parse(source)
    original = ast.dump(tree)
    offsets = _line_offsets(source)
    encoded = source.encode()
    seen = {original}
    counts: dict[str, int] = {}
    mutants = []
    for site in _Sites().collect(tree):
        start = offsets[site.node.lineno - 1] + site.node.col_offset
        end = offsets[site.node.end_lineno - 1] + site.node.end_col_offset
        before = encoded[start:end].decode()
        for replacement in site.replacements:
            expected = ast.dump(_replaced(tree, site.path, replacement))
            if expected in seen:
                continue  # a no-op, or the same program as an earlier mutant
            text = ast.unparse(replacement)
            bare = [text[1:-1]] if isinstance(replacement, ast.Tuple) and replacement.elts else []  # h, c not (h, c)
            after = _splice(encoded, start, end, [*bare, text, f"({text})"], expected)
            if after is None:
                continue
            seen.add(expected)
            place = f"{site.operator}:{site.node.lineno}:{site.node.col_offset}"  # nested nodes may share a start
            index = counts[place] = counts.get(place, -1) + 1
            mutants.append(AutoMutant(
                id=f"{place}:{index}", operator=site.operator,
                line=site.node.lineno, column=site.node.col_offset, function=site.function, before=before,
                after=after[1], source=after[0]))
    return tuple(sorted(mutants, key=lambda m: (m.line, m.column, m.operator)))  # stable: ids in order


def sample(mutants: list[AutoMutant], count: int | None, exclude: frozenset[str] = frozenset()) -> list[AutoMutant]:
    """A fixed sample of `count` mutants (all when None), the same on every run: those whose ids hash lowest.

    Ranking by a hash of the id keeps a mutant in the sample while unrelated parts of the reference change."""
    eligible = [m for m in mutants if m.id not in exclude]
    if count is None or count >= len(eligible):
        return eligible
    chosen = set(sorted((hashlib.sha256(m.id.encode()).hexdigest(), m.id) for m in eligible)[:count])
    return [m for m in eligible if (hashlib.sha256(m.id.encode()).hexdigest(), m.id) in chosen]


@dataclass
class _Site:
    node: ast.AST
    path: tuple[tuple[str, int | None], ...]    # (field, index) steps from the module to the node
    operator: str
    function: str
    replacements: list[ast.AST]


class _Sites:
    """Walks a module in source order and proposes the replacements of each operator at each node."""

    def collect(self, tree: ast.Module) -> list[_Site]:
        self.sites: list[_Site] = []
        self._visit(tree, None, (), [])
        return self.sites

    def _visit(self, node: ast.AST, parent: ast.AST | None, path: tuple, scope: list[str]) -> None:
        if _skipped(node):
            return
        if isinstance(node, ast.stmt) or isinstance(node, ast.expr):
            function = ".".join(scope) or "<module>"
            for operator, replacements in _proposals(node, parent):
                if replacements:
                    self.sites.append(_Site(node, path, operator, function, replacements))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = [*scope, node.name]
        for field, value in ast.iter_fields(node):
            if field in ("returns", "annotation", "type_comment", "decorator_list", "type_params"):
                continue
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST) and not (i == 0 and _is_docstring_of(node, child, field)):
                        self._visit(child, node, (*path, (field, i)), scope)
            elif isinstance(value, ast.AST):
                self._visit(value, node, (*path, (field, None)), scope)


def _proposals(node: ast.AST, parent: ast.AST | None) -> Iterator[tuple[str, list[ast.AST]]]:
    """(operator, replacement nodes) for every operator that applies to `node` (a child of `parent`)."""
    if isinstance(node, ast.BinOp) and not _is_text(node):
        if type(node.op) in _ARITH:
            yield "arith", [_with(node, op=_ARITH[type(node.op)]())]
        if isinstance(node.op, ast.Add):
            yield "term", [node.left, node.right]
        elif isinstance(node.op, ast.Sub):
            yield "term", [node.left, ast.UnaryOp(ast.USub(), node.right)]
    elif isinstance(node, ast.AugAssign):
        if type(node.op) in _ARITH and not _is_text(node.value):
            yield "arith", [_with(node, op=_ARITH[type(node.op)]())]
        if isinstance(node.target, ast.Name) and not isinstance(node.value, ast.Constant):  # not a counter
            load = ast.Name(node.target.id, ast.Load())
            yield "inplace", [ast.Assign([node.target], ast.BinOp(load, node.op, node.value), lineno=0)]
    elif isinstance(node, ast.Assign):
        target, value = node.targets[0], node.value
        if (len(node.targets) == 1 and isinstance(target, ast.Name) and isinstance(value, ast.BinOp)
                and isinstance(value.left, ast.Name) and value.left.id == target.id and type(value.op) in _ARITH):
            yield "inplace", [ast.AugAssign(target, value.op, value.right)]
    elif isinstance(node, ast.Tuple) and (isinstance(node.ctx, ast.Store) or isinstance(parent, ast.Return)):
        yield "tuple", [_with(node, elts=elts) for elts in _adjacent_swaps(node.elts)]  # unpacked or returned
    elif isinstance(node, ast.Compare):
        yield "compare", [_with(node, ops=[*node.ops[:i], new(), *node.ops[i + 1:]])
                          for i, op in enumerate(node.ops) for new in _COMPARE.get(type(op), ())]
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield "constant", [ast.Constant(node.value + 1), ast.Constant(node.value - 1)]
    elif isinstance(node, ast.Attribute) and node.attr in ("T", "mT") and isinstance(node.ctx, ast.Load):
        yield "transpose", [node.value]
    elif isinstance(node, ast.Call):
        yield from _call_proposals(node)


def _call_proposals(node: ast.Call) -> Iterator[tuple[str, list[ast.AST]]]:
    name = _called_name(node)
    method = isinstance(node.func, ast.Attribute)
    if name in _REDUCTIONS:
        yield "axis", [_with(node, keywords=[k for k in node.keywords if k is not keyword])
                       for keyword in node.keywords if keyword.arg in _AXIS_KEYWORDS]
        yield "keepdims", [_with(node, keywords=[k for k in node.keywords if k is not keyword])
                           for keyword in node.keywords if keyword.arg in _KEEPDIMS_KEYWORDS]
    if name in _SWAPPED_REDUCTIONS and method:
        yield "reduction", [_with(node, func=_with(node.func, attr=_SWAPPED_REDUCTIONS[name]))]
    if name in ("transpose", "t") and method and not node.args and not node.keywords:
        yield "transpose", [node.func.value]
    elif name == "transpose" and len(node.args) == 1 and not node.keywords:
        yield "transpose", [node.args[0]]
    if name in ("copy", "clone") and method and not node.args and not node.keywords:
        yield "inplace", [node.func.value]
    elif name == "copy" and len(node.args) == 1 and not node.keywords:
        yield "inplace", [node.args[0]]
    if not any(isinstance(a, ast.Starred) for a in node.args):
        yield "swap_args", [_with(node, args=args) for args in _adjacent_swaps(node.args)]


def _adjacent_swaps(items: list[ast.AST]) -> list[list[ast.AST]]:
    swaps = []
    for i in range(len(items) - 1):
        if not any(isinstance(x, ast.Starred) for x in items[i:i + 2]):
            swaps.append([*items[:i], items[i + 1], items[i], *items[i + 2:]])
    return swaps


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def _with(node: ast.AST, **fields) -> ast.AST:
    """A shallow copy of `node` with some fields replaced (the original tree is never changed)."""
    new = copy.copy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _is_text(node: ast.AST) -> bool:
    """An expression built of string literals (concatenation, not arithmetic)."""
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)))


def _skipped(node: ast.AST) -> bool:
    """`if __name__ == "__main__":` blocks never run when a module is graded."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _is_docstring_of(parent: ast.AST, child: ast.AST, field: str) -> bool:
    return (field == "body" and isinstance(parent, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and isinstance(child, ast.Expr) and isinstance(child.value, ast.Constant)
            and isinstance(child.value.value, str))


def _replaced(tree: ast.Module, path: tuple, replacement: ast.AST) -> ast.Module:
    """A copy of `tree` with the node at `path` replaced (only the nodes along the path are copied)."""
    root = copy.copy(tree)
    parent = root
    for depth, (field, index) in enumerate(path):
        last = depth == len(path) - 1
        value = getattr(parent, field)
        if index is None:
            child = replacement if last else copy.copy(value)
            setattr(parent, field, child)
        else:
            value = list(value)
            child = replacement if last else copy.copy(value[index])
            value[index] = child
            setattr(parent, field, value)
        parent = child
    return root


def _splice(encoded: bytes, start: int, end: int, texts: list[str], expected: str) -> tuple[str, str] | None:
    """The source with bytes [start, end) replaced by the first of `texts` that gives the expected tree (the
    others add parentheses where precedence needs them), and that text; None when none does."""
    for candidate in texts:
        source = (encoded[:start] + candidate.encode() + encoded[end:]).decode()
        try:
            if ast.dump(ast.parse(source)) == expected:
                return source, candidate
        except SyntaxError:
            continue
    return None


def _line_offsets(source: str) -> list[int]:
    """Byte offset of the start of each line (ast's columns count UTF-8 bytes)."""
    offsets, total = [], 0
    for line in source.encode().splitlines(keepends=True):
        offsets.append(total)
        total += len(line)
    return offsets + [total]


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
