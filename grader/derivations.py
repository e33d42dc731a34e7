"""Derivations checked by machine: a chain of steps, each an expression in a small language, each
relation between consecutive steps tested on many random instances of a model family.

A derivation is a list of strings: the first is an expression, every other one starts with its
relation to the previous step ("=", ">=" or "<="), optionally followed by a reason in brackets
that is shown back but never checked ("[Jensen]"). For example:

    ["log p(x)",
     "= log E_q[p(x,z) / q(z|x)]",
     ">= [Jensen] E_q[log p(x,z) - log q(z|x)]"]

The language: decimal numbers; the quantities a family names (for the ELBO: p(x), p(z), p(x|z),
p(z|x), p(x,z), q(z|x), ELBO); + - * / ^, unary minus, parentheses; log, exp and sqrt, written
log(a) or, before a quantity, log p(x); expectations E_q[...] under the measures a family names;
and KL(a || b) between two of its distributions over the latent variable. Nothing else parses:
no attribute, no call of anything else, no name outside the family. Student text is parsed
here, by this module's own bounded parser, and evaluated by its own evaluator in floating point
(never `eval`), so a hostile expression costs little and fails with a reason.

A family draws instances (for the ELBO: a discrete latent variable, where every expectation
is an exact finite sum, and a Gaussian one, summed on a fine grid) and evaluates a quantity on
an instance as a number or as values over the latent grid. `check` tests every step on every
instance and says which step first fails, with the instance that shows it, and whether the
chain proves the goal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

MAX_STEPS = 40
MAX_CHARS = 2000       # of one step
MAX_TOKENS = 400       # of one step
MAX_REASON = 200       # characters of a step's reason in brackets
MAX_DEPTH = 40         # nesting of parentheses, brackets and operators
RELATIONS = ("=", ">=", "<=")


class DerivationError(Exception):
    """A step that cannot be read: the message says where and why."""


# ---------------------------------------------------------------------------- the language

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
                    r"|(?P<density>[pq]\s*\([^()\[\]]*\))"    # p(x|z), q(z|x): a quantity, written as one
                    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<symbol>\|\||[-+*/^()\[\],]))")


@dataclass(frozen=True)
class Node:
    """An expression: kind is "num", "atom", "neg", "+", "-", "*", "/", "^", "log", "exp", "sqrt",
    "E" (an expectation under the measure `name`) or "KL" (of `first` from `other`)."""

    kind: str
    children: tuple["Node", ...] = ()
    value: float = 0.0
    name: str = ""      # an atom; the measure of an expectation or of a KL's first distribution
    first: str = ""     # KL's distributions
    other: str = ""


def _tokens(text: str) -> list[str]:
    if len(text) > MAX_CHARS:
        raise DerivationError(f"a step of {len(text)} characters is over the limit of {MAX_CHARS}")
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise DerivationError(f"unexpected {text[position:position + 12].strip()!r} at character {position + 1}")
        tokens.append(match.group(match.lastgroup).replace(" ", ""))
        position = match.end()
        if len(tokens) > MAX_TOKENS:
            raise DerivationError(f"a step of more than {MAX_TOKENS} symbols is over the limit")
    return tokens


class _Parser:
    """Recursive descent over the tokens, with the nesting bounded before Python's own stack is."""

    def __init__(self, tokens: list[str], family: "Family"):
        self.tokens, self.family, self.at, self.depth = tokens, family, 0, 0

    def parse(self) -> Node:
        if not self.tokens:
            raise DerivationError("the step is empty")
        node = self.sum()
        if self.at < len(self.tokens):
            raise DerivationError(f"unexpected {self.tokens[self.at]!r} after a complete expression")
        return node

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise DerivationError(f"expected {expected or 'more'}, got {token or 'the end of the step'}")
        self.at += 1
        return token

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise DerivationError(f"the expression is nested deeper than {MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def sum(self) -> Node:
        node = self.nested(self.product)
        while self.peek() in ("+", "-"):
            node = Node(self.take(), (node, self.nested(self.product)))
        return node

    def product(self) -> Node:
        node = self.nested(self.unary)
        while self.peek() in ("*", "/"):
            node = Node(self.take(), (node, self.nested(self.unary)))
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Node("neg", (self.nested(self.unary),))
        if self.peek() == "+":
            self.take()
            return self.nested(self.unary)
        return self.power()

    def power(self) -> Node:
        base = self.nested(self.primary)
        if self.peek() == "^":
            self.take()
            return Node("^", (base, self.nested(self.unary)))
        return base

    def primary(self) -> Node:
        token = self.take()
        if token == "(":
            node = self.nested(self.sum)
            self.take(")")
            return node
        if re.fullmatch(r"[\d.].*", token):
            return Node("num", value=float(token))
        if token in ("log", "exp", "sqrt"):
            if self.peek() == "(":
                self.take("(")
                argument = self.nested(self.sum)
                self.take(")")
            else:  # log p(x): a function applied to the quantity that follows
                argument = self.nested(self.power)
            return Node(token, (argument,))
        if token == "KL":
            return self.divergence()
        if token.startswith("E_"):
            measure = token[2:]
            if measure not in self.family.measures:
                raise DerivationError(f"no expectation {token}: the expectations here are "
                                      + ", ".join(f"E_{m}" for m in self.family.measures))
            self.take("[")
            argument = self.nested(self.sum)
            self.take("]")
            return Node("E", (argument,), name=measure)
        if token in self.family.atoms:
            return Node("atom", name=token)
        raise DerivationError(f"unknown name {token!r}: the quantities here are {', '.join(self.family.atoms)}")

    def divergence(self) -> Node:
        self.take("(")
        first = self.take()
        self.take("||")
        second = self.take()
        self.take(")")
        for name in (first, second):
            if name not in self.family.distributions:
                raise DerivationError(f"KL is taken between {', '.join(self.family.distributions)}, not {name!r}")
        measure = next((key for key, of in self.family.measures.items() if of == first), None)
        if measure is None:
            raise DerivationError(f"KL({first} || ...) needs an expectation under {first}, which this family lacks")
        return Node("KL", name=measure, first=first, other=second)


def parse(text: str, family: "Family") -> Node:
    """Parse one expression of the family's language; DerivationError says what is wrong and where."""
    if not isinstance(text, str):
        raise DerivationError(f"a step must be text, not {type(text).__name__}")
    return _Parser(_tokens(text), family).parse()


# ---------------------------------------------------------------------------- families of models

@dataclass
class Instance:
    """One random model: the log of each density, as a number or as values over the latent grid, the
    other quantities as numbers, each measure's weights on that grid, and a description of it."""

    logs: dict[str, float | np.ndarray]
    numbers: dict[str, float]
    weights: dict[str, np.ndarray]
    description: str


@dataclass(frozen=True)
class Family:
    """The quantities a derivation may name, and how to draw random instances of them."""

    atoms: tuple[str, ...]
    measures: dict[str, str]            # E_<key> is the expectation under the distribution <value>
    distributions: tuple[str, ...]      # the atoms that are densities over the latent variable
    draw: Callable[[np.random.Generator, int], Instance]


def _evaluate(node: Node, instance: Instance):
    kind = node.kind
    if kind == "num":
        return node.value
    if kind == "atom":
        return np.exp(instance.logs[node.name]) if node.name in instance.logs else instance.numbers[node.name]
    if kind == "log":
        return _log_of(node.children[0], instance)
    if kind == "E":
        weights = instance.weights[node.name]
        return float(np.sum(weights * np.broadcast_to(_evaluate(node.children[0], instance), weights.shape)))
    if kind == "KL":
        log_ratio = instance.logs[node.first] - instance.logs[node.other]
        return float(np.sum(instance.weights[node.name] * log_ratio))
    values = [_evaluate(child, instance) for child in node.children]
    return _OPERATIONS[kind](*values)


def _log_of(node: Node, instance: Instance):
    """log of a node's value, taken through products, quotients, powers, exp and expectations in log
    space (log-sum-exp), so that log(p(x,z) / q(z|x)) or log(E_q[p(x,z) / q(z|x)]) stays finite where the
    densities themselves underflow; where that is undefined (a negative factor), the log of the value."""
    kind, children = node.kind, node.children
    if kind == "atom" and node.name in instance.logs:
        return instance.logs[node.name]
    if kind == "exp":
        return _evaluate(children[0], instance)
    if kind == "E":
        weights = instance.weights[node.name]
        inner = np.broadcast_to(_log_of(children[0], instance), weights.shape)
        with np.errstate(divide="ignore"):
            logs = np.logaddexp.reduce(np.log(weights) + inner)
    elif kind in ("*", "/"):
        first, second = _log_of(children[0], instance), _log_of(children[1], instance)
        logs = first + second if kind == "*" else first - second
    elif kind == "^" and children[1].kind == "num":
        logs = children[1].value * _log_of(children[0], instance)
    else:
        logs = np.nan
    if not np.any(np.isnan(logs)):
        return logs
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log(_evaluate(node, instance))
    return np.where(np.isnan(logs), direct, logs) if np.ndim(logs) else direct


_OPERATIONS = {
    "neg": np.negative, "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
    "log": np.log, "exp": np.exp, "sqrt": np.sqrt,
}


def _elbo_instance(logs: dict, weights: np.ndarray, description: str) -> Instance:
    logs["p(x,z)"] = logs["p(z)"] + logs["p(x|z)"]
    elbo = float(np.sum(weights * (logs["p(x,z)"] - logs["q(z|x)"])))
    return Instance(logs, {"ELBO": elbo}, {"q": weights}, description)


def _discrete(rng: np.random.Generator) -> Instance:
    """A latent variable with K values: every expectation is an exact finite sum."""
    k = int(rng.integers(2, 7))
    log_prior = np.log(rng.dirichlet(np.full(k, 0.7)))
    log_likelihood = np.log(rng.uniform(0.02, 0.98, k))  # p(x|z) of the observed x
    q = rng.dirichlet(np.full(k, 0.7))
    log_evidence = float(np.logaddexp.reduce(log_prior + log_likelihood))
    logs = {"p(z)": log_prior, "p(x|z)": log_likelihood, "p(x)": log_evidence, "q(z|x)": np.log(q),
            "p(z|x)": log_prior + log_likelihood - log_evidence}
    return _elbo_instance(logs, q, f"a discrete latent z with {k} values, log p(x) = {log_evidence:.4g}")


def _log_normal(v, mean: float, sd: float):
    return -0.5 * ((v - mean) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))


def _gaussian(rng: np.random.Generator) -> Instance:
    """z ~ N(0, 1), x | z ~ N(w z + b, s^2), q = N(m, t^2) near the posterior; expectations are sums over a
    fine grid that covers both q and the posterior (accurate far below the checks' tolerance)."""
    w, b, x = rng.normal(0, 1.5), rng.normal(0, 1), rng.normal(0, 2)
    s = math.exp(rng.uniform(math.log(0.03), math.log(2.0)))  # narrow posteriors too: densities above 1
    post_var = 1 / (1 + w * w / (s * s))
    post_mean, post_sd = post_var * w * (x - b) / (s * s), math.sqrt(post_var)
    m, t = post_mean + post_sd * rng.uniform(-1, 1), post_sd * rng.uniform(0.5, 2.0)
    low, high = min(m - 12 * t, post_mean - 12 * post_sd), max(m + 12 * t, post_mean + 12 * post_sd)
    z = np.linspace(low, high, 4001)
    log_q = _log_normal(z, m, t)
    logs = {"p(z)": _log_normal(z, 0, 1), "p(x|z)": _log_normal(x, w * z + b, s), "q(z|x)": log_q,
            "p(x)": float(_log_normal(x, b, math.sqrt(w * w + s * s))), "p(z|x)": _log_normal(z, post_mean, post_sd)}
    weights = np.exp(log_q) * (z[1] - z[0])
    return _elbo_instance(logs, weights / weights.sum(),
                          f"a Gaussian model: z ~ N(0,1), x|z ~ N({w:.3g} z + {b:.3g}, {s:.3g}^2), "
                          f"q = N({m:.3g}, {t:.3g}^2), x = {x:.3g}")


def _draw_elbo(rng: np.random.Generator, index: int) -> Instance:
    return _discrete(rng) if index % 2 == 0 else _gaussian(rng)


ELBO = Family(atoms=("p(x)", "p(z)", "p(x|z)", "p(z|x)", "p(x,z)", "q(z|x)", "ELBO"), measures={"q": "q(z|x)"},
              distributions=("q(z|x)", "p(z|x)", "p(z)"), draw=_draw_elbo)
FAMILIES = {"elbo": ELBO}  # by the name an exam's derivation question gives


# ---------------------------------------------------------------------------- checking

@dataclass
class Verdict:
    """What a derivation proves: its steps, the first that fails (1-based, 0 if none) and why, whether
    the chain reaches the goal, and the credit that earns (1 in full)."""

    steps: list[str]
    first_bad: int = 0
    reason: str = ""
    reaches_goal: bool = False
    missing: str = ""
    credit: float = 0.0
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        if self.first_bad:
            return f"step {self.first_bad} does not hold: {self.reason}"
        if not self.reaches_goal:
            return f"every step holds, but the derivation is not finished: {self.missing}"
        return "every step holds and the derivation proves the statement"


def check(steps, goal: tuple[str, str, str], family: Family = ELBO, instances: int = 40, seed: int = 0,
          rtol: float = 1e-7, atol: float = 1e-9) -> Verdict:
    """Check a derivation (a list of steps) against `goal` = (left, relation, right), e.g.
    ("log p(x)", ">=", "ELBO"), on `instances` random instances of `family`.

    A link from the goal's left side as written (up to the order of terms and factors) straight to
    its right side (by value for an inequality; as written for an identity, whose sides are equal in
    value) asserts the statement rather than deriving it, and fails.

    Credit: 1 when every step holds and the chain proves the goal; 0.5 when every step holds but the
    chain proves less (other end points, or an inequality where the identity is asked); when step k
    of n first fails, 0.5 (k - 2) / (n - 1): the share of the relations that held before it.
    """
    if not isinstance(steps, (list, tuple)) or not steps:
        return Verdict([], 1, "the derivation must be a non-empty list of steps")
    steps = [s if isinstance(s, str) else repr(s)[:200] for s in steps[:MAX_STEPS + 1]]
    verdict = Verdict(steps)
    if len(steps) > MAX_STEPS:
        verdict.first_bad, verdict.reason = MAX_STEPS + 1, f"a derivation has at most {MAX_STEPS} steps"
        return verdict
    try:
        left, relation, right = parse(goal[0], family), goal[1], parse(goal[2], family)
        chain = _read(steps, family)
    except _StepError as error:
        verdict.first_bad, verdict.reason = error.step, error.detail
        verdict.credit = 0.5 * max(0, error.step - 2) / max(1, len(steps) - 1)
        return verdict
    rng = np.random.default_rng(seed)
    drawn = [family.draw(rng, i) for i in range(instances)]
    for index in range(1, len(chain)):
        (before, _), (after, holds) = chain[index - 1], chain[index]
        failure = _first_failure(before, after, holds, drawn, rtol, atol)
        if not failure and _restates((before, after), (left, right), relation, drawn, rtol, atol):
            failure = (f"it goes from {steps[index - 1].strip().lstrip('=<> ')} to {goal[2]} in one step: that is the "
                       "statement itself, not a derivation")
        if failure:
            verdict.first_bad, verdict.reason = index + 1, f"{steps[index].strip()}: {failure}"
            verdict.credit = 0.5 * (index - 1) / max(1, len(steps) - 1)
            return verdict
    proved = _proved(chain)
    starts = _same(chain[0][0], left, drawn, rtol, atol)
    # an identity's every step equals its right side in value, so its chain must end on that side as written
    ends = (_canonical(chain[-1][0]) == _canonical(right) if relation == "=" else
            _same(chain[-1][0], right, drawn, rtol, atol))
    if not (starts and ends):
        verdict.missing = (f"it should go from {goal[0]} to {goal[2]}" +
                           ("" if starts else "; it does not start there") + ("" if ends else "; it does not end there"))
    elif proved == "mixed":
        verdict.missing = "it uses both >= and <=, so it proves no relation between its ends"
    elif proved != relation:
        verdict.missing = f"it proves {goal[0]} {proved} {goal[2]}, but {goal[0]} {relation} {goal[2]} is asked"
    verdict.reaches_goal = not verdict.missing
    verdict.credit = 1.0 if verdict.reaches_goal else 0.5
    return verdict


class _StepError(DerivationError):
    def __init__(self, step: int, message: str):
        super().__init__(f"step {step}: {message}")
        self.step, self.detail = step, message


def _read(steps: list[str], family: Family) -> list[tuple[Node, str]]:
    """Each step's expression and its relation to the one before ("" for the first)."""
    chain = []
    for number, text in enumerate(steps, start=1):
        relation, body = "", text.strip()
        if number > 1:
            relation = next((r for r in (">=", "<=", "=") if body.startswith(r)), "")
            if not relation:
                raise _StepError(number, "must start with =, >= or <=")
            body = _without_reason(body[len(relation):], number)
        try:
            chain.append((parse(body, family), relation))
        except DerivationError as error:
            raise _StepError(number, str(error)) from None
    return chain


def _without_reason(body: str, number: int) -> str:
    """The step after its reason in brackets (shown, never checked), which may hold brackets of its own."""
    text = body.lstrip()
    if not text.startswith("["):
        return body
    depth = 0
    for index, char in enumerate(text[:MAX_REASON + 2]):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0:
            return text[index + 1:]
    raise _StepError(number, f"the reason in brackets at its start does not close within {MAX_REASON} characters")


def _first_failure(before: Node, after: Node, relation: str, drawn: list[Instance], rtol: float, atol: float) -> str:
    for instance in drawn:
        a, b = _scalar(before, instance), _scalar(after, instance)
        if isinstance(a, str) or isinstance(b, str):
            return f"{'the previous step' if isinstance(a, str) else 'it'} {a if isinstance(a, str) else b}, on {instance.description}"
        tolerance = atol + rtol * max(abs(a), abs(b))
        holds = {"=": abs(a - b) <= tolerance, ">=": a >= b - tolerance, "<=": a <= b + tolerance}[relation]
        if not holds:
            return (f"on {instance.description}, the previous step is {a:.10g} and this one {b:.10g}, "
                    f"so '{relation}' does not hold")
    return ""


def _scalar(node: Node, instance: Instance) -> float | str:
    """The step's value on the instance, or why it has none."""
    with np.errstate(all="ignore"):
        value = np.asarray(_evaluate(node, instance), dtype=float)
    if value.ndim:
        return "depends on z outside an expectation"
    if not np.isfinite(value):
        return f"is not finite ({float(value)})"
    return float(value)


def _same(a: Node, b: Node, drawn: list[Instance], rtol: float, atol: float) -> bool:
    return _first_failure(a, b, "=", drawn, rtol, atol) == ""


def _restates(link: tuple[Node, Node], goal: tuple[Node, Node], relation: str, drawn: list[Instance],
              rtol: float, atol: float) -> bool:
    """Whether a link asserts the statement rather than deriving it. For an inequality: from the goal's left
    side as written to its right side in value. For an identity, whose every step equals both sides in
    value: to its right side as written, from its left side as written or, where the right side takes an
    expectation or a KL, from any expression of the goal's own quantities that takes none
    (`log p(x) + 0`, `ELBO + (log p(x) - ELBO)`)."""
    (before, after), (left, right) = link, goal
    if relation == "=":  # from the left side, or an expression of the goal's own quantities alone, to the right side
        sides = _atoms(left) | _atoms(right)
        plain = _has_work(right) and not _has_work(before) and _atoms(before) <= sides
        return (_canonical(before) == _canonical(left) or plain) and _canonical(after) == _canonical(right)
    return _canonical(before) == _canonical(left) and _same(after, right, drawn, rtol, atol)


def _atoms(node: Node) -> set[str]:
    return ({node.name} if node.kind == "atom" else set()).union(*(_atoms(c) for c in node.children))


def _has_work(node: Node) -> bool:
    """Whether an expression takes an expectation or a KL divergence: where a derivation's work is done."""
    return node.kind in ("E", "KL") or any(_has_work(c) for c in node.children)


def _canonical(node: Node):
    """The node as a comparable value, with the operands of + and * in a fixed order."""
    if node.kind in ("+", "*"):
        operands = []
        for child in node.children:  # flatten a + b + c
            operands += [_canonical(c) for c in child.children] if child.kind == node.kind else [_canonical(child)]
        return (node.kind, tuple(sorted(operands, key=repr)))
    return (node.kind, node.value, node.name, node.first, node.other, tuple(_canonical(c) for c in node.children))


def _proved(chain: list[tuple[Node, str]]) -> str:
    """The relation a chain proves between its ends: = if every link is =, else the one inequality it uses."""
    inequalities = {relation for _, relation in chain[1:] if relation != "="}
    if not inequalities:
        return "="
    return inequalities.pop() if len(inequalities) == 1 else "mixed"
