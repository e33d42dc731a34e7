"""Automatic mutants of a reference solution: small edits of its AST that resemble a student's slips.

Operator-level edits (an operator, a constant, an argument) and semantic ones, each breaking one rule a handout
states the way students break it (`SEMANTIC`: a mean for a sum, another axis, a detach(), the global random
state for a generator, another clipping rule, the last element of an accumulation).

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
    "reduction": "a reduction's mean for its sum and back (.mean and .sum, np.mean and np.sum, reduction='mean' and 'sum')",
    "inplace": "an in-place update and its copying form exchanged, or a copy dropped",
    "tuple": "two elements of a returned or unpacked tuple swapped",
    # semantic operators: a rule of the handout broken in one place, as students break it
    "dim": "the axis or dim a reduction or softmax runs over changed",
    "detach": "a detach() inserted, cutting the gradient of a returned or assigned tensor",
    "generator": "a draw from the global random state instead of a generator of its own",
    "clip": "clip_grad_value_ or per-tensor norms instead of clipping by the global norm",
    "last": "the last element of an accumulation kept instead of all of them (total = x for total += x)",
}
SEMANTIC = frozenset({"reduction", "dim", "detach", "generator", "clip", "last"})

_ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_COMPARE = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
            ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
            ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}
_REDUCTIONS = {"sum", "mean", "max", "min", "prod", "std", "var", "argmax", "argmin", "any", "all", "logsumexp",
               "cumsum", "norm", "amax", "amin", "nansum", "nanmean", "median"}
_AXIS_KEYWORDS = {"axis", "dim"}
_KEEPDIMS_KEYWORDS = {"keepdims", "keepdim"}
_SWAPPED_REDUCTIONS = {"mean": "sum", "sum": "mean"}
_DIM_METHODS = _REDUCTIONS | {"softmax", "log_softmax"}
_GENERATOR_FACTORIES = {"default_rng", "Generator", "RandomState"}
_GLOBAL_NAMES = {"integers": "randint", "random": "random_sample"}  # a Generator's method -> the global one
_CONSTRUCTORS = {"as_tensor", "tensor", "from_numpy", "arange", "zeros", "ones", "empty", "full", "eye", "zeros_like",
                 "ones_like", "randn", "rand", "randint", "randperm", "asarray", "array", "manual_seed",
                 *_GENERATOR_FACTORIES}  # values a detach() cannot cut from a gradient


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
        self.context = _Context(torch=_imports(tree, "torch"), generators=_generator_names(tree))
        self._visit(tree, None, (), [], loop=False, graph=True)
        return self.sites

    def _visit(self, node: ast.AST, parent: ast.AST | None, path: tuple, scope: list[str], loop: bool,
               graph: bool) -> None:
        if _skipped(node):
            return
        if isinstance(node, ast.stmt) or isinstance(node, ast.expr):
            function = ".".join(scope) or "<module>"
            where = _Place(loop, graph and self.context.torch)
            for operator, replacements in [*_proposals(node, parent), *_semantic_proposals(node, where, self.context)]:
                if replacements:
                    self.sites.append(_Site(node, path, operator, function, replacements))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = [*scope, node.name]
            loop, graph = False, not _no_grad(node.decorator_list)
        elif isinstance(node, (ast.With, ast.AsyncWith)) and _no_grad([item.context_expr for item in node.items]):
            graph = False
        for field, value in ast.iter_fields(node):
            if field in ("returns", "annotation", "type_comment", "decorator_list", "type_params"):
                continue
            inner = loop or (isinstance(node, (ast.For, ast.While)) and field == "body")
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST) and not (i == 0 and _is_docstring_of(node, child, field)):
                        self._visit(child, node, (*path, (field, i)), scope, inner, graph)
            elif isinstance(value, ast.AST):
                self._visit(value, node, (*path, (field, None)), scope, inner, graph)


@dataclass(frozen=True)
class _Context:
    """What the semantic operators need to know of the whole module."""

    torch: bool                      # it imports torch: detach() applies
    generators: dict[str, ast.AST]   # names bound to a random generator -> the global module it came from


@dataclass(frozen=True)
class _Place:
    """Where a node is: inside a loop's body or not, and where autograd records or not (torch, outside no_grad)."""

    loop: bool
    graph: bool


def _semantic_proposals(node: ast.AST, where: _Place, context: _Context) -> Iterator[tuple[str, list[ast.AST]]]:
    """(operator, replacement nodes) for the semantic operators that apply to `node`."""
    if isinstance(node, ast.Call):
        yield from _semantic_call_proposals(node, context)
    if isinstance(node, ast.Return) and where.graph and node.value is not None:
        values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
        yield "detach", [_detached_return(node, i) for i, v in enumerate(values) if _may_be_tensor(v)]
    elif (isinstance(node, ast.Assign) and where.graph and len(node.targets) == 1
          and isinstance(node.targets[0], ast.Name) and isinstance(node.value, (ast.BinOp, ast.Call))
          and not (isinstance(node.value, ast.Call) and _called_name(node.value) in _CONSTRUCTORS)):
        yield "detach", [_with(node, value=_detach(node.value))]
    if (isinstance(node, ast.AugAssign) and where.loop and isinstance(node.target, ast.Name)
            and isinstance(node.op, (ast.Add, ast.Sub)) and not isinstance(node.value, ast.Constant)):
        value = node.value if isinstance(node.op, ast.Add) else ast.UnaryOp(ast.USub(), node.value)
        yield "last", [ast.Assign([node.target], value, lineno=0)]


def _semantic_call_proposals(node: ast.Call, context: _Context) -> Iterator[tuple[str, list[ast.AST]]]:
    name = _called_name(node)
    yield "reduction", [_with(node, keywords=[_with(k, value=ast.Constant(_SWAPPED_REDUCTIONS[k.value.value]))
                                              if k is keyword else k for k in node.keywords])
                        for keyword in node.keywords if keyword.arg == "reduction"
                        and isinstance(keyword.value, ast.Constant) and keyword.value.value in _SWAPPED_REDUCTIONS]
    yield "dim", _other_dims(node, name)
    yield "generator", _global_draws(node, name, context)
    if name == "clip_grad_norm_" and len(node.args) >= 2 and isinstance(node.func, ast.Attribute):
        by_value = _with(node, func=_with(node.func, attr="clip_grad_value_"))
        each = ast.Name("_p", ast.Load())
        per_tensor = ast.ListComp(_with(node, args=[ast.List([each], ast.Load()), *node.args[1:]]),
                                  [ast.comprehension(ast.Name("_p", ast.Store()), node.args[0], [], 0)])
        yield "clip", [by_value, per_tensor]


def _other_dims(node: ast.Call, name: str | None) -> list[ast.AST]:
    """The call with its axis/dim (a keyword, or a reduction method's one positional argument) set to another."""
    found = []
    for keyword in node.keywords:
        if keyword.arg in _AXIS_KEYWORDS and _int_of(keyword.value) is not None:
            other = _other_axis(_int_of(keyword.value))
            found.append(_with(node, keywords=[_with(k, value=other) if k is keyword else k for k in node.keywords]))
    if (name in _DIM_METHODS and isinstance(node.func, ast.Attribute) and len(node.args) == 1
            and _int_of(node.args[0]) is not None):
        found.append(_with(node, args=[_other_axis(_int_of(node.args[0]))]))
    return found


def _global_draws(node: ast.Call, name: str | None, context: _Context) -> list[ast.AST]:
    """The call drawing from the global random state: its generator= dropped, torch.Generator().manual_seed(s)
    turned into torch.manual_seed(s) (which seeds and returns the global generator), rng.f(...) into
    np.random.f(...) for a generator rng."""
    found = [_with(node, keywords=[k for k in node.keywords if k is not keyword])
             for keyword in node.keywords if keyword.arg == "generator"]
    func = node.func
    if (name == "manual_seed" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and _called_name(func.value) == "Generator" and isinstance(func.value.func, ast.Attribute)):
        found.append(_with(node, func=_with(func, value=func.value.func.value)))
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in context.generators:
        found.append(_with(node, func=ast.Attribute(context.generators[func.value.id],
                                                    _GLOBAL_NAMES.get(func.attr, func.attr), ast.Load())))
    return found


def _imports(tree: ast.Module, package: str) -> bool:
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) and any(
        (a.name if isinstance(n, ast.Import) else n.module or "").split(".")[0] == package for a in n.names)
        for n in ast.walk(tree))


def _generator_names(tree: ast.Module) -> dict[str, ast.AST]:
    """Names assigned a random generator (rng = np.random.default_rng(seed)), each with the module whose global
    state the same draws would use (np.random)."""
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call) and _called_name(node.value) in _GENERATOR_FACTORIES
                and isinstance(node.value.func, ast.Attribute)):
            found[node.targets[0].id] = node.value.func.value
    return found


def _no_grad(expressions: list[ast.AST]) -> bool:
    """Decorators or context managers that stop autograd (torch.no_grad()), where a detach() changes nothing."""
    return any("no_grad" in ast.unparse(e) or "inference_mode" in ast.unparse(e) for e in expressions)


def _may_be_tensor(node: ast.AST) -> bool:
    return not isinstance(node, (ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.ListComp, ast.DictComp,
                                 ast.JoinedStr, ast.Compare, ast.BoolOp))


def _detach(node: ast.AST) -> ast.AST:
    return ast.Call(ast.Attribute(node, "detach", ast.Load()), [], [])


def _detached_return(node: ast.Return, index: int) -> ast.Return:
    if isinstance(node.value, ast.Tuple):
        elts = list(node.value.elts)
        elts[index] = _detach(elts[index])
        return _with(node, value=_with(node.value, elts=elts))
    return _with(node, value=_detach(node.value))


def _int_of(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _int_of(node.operand) is not None:
        return -_int_of(node.operand)
    return None


def _other_axis(axis: int) -> ast.AST:
    """Another axis: the first for the last (or any other), the last for the first."""
    return ast.UnaryOp(ast.USub(), ast.Constant(1)) if axis == 0 else ast.Constant(0)


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
