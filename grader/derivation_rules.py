"""The rules a derivation's steps apply, and the machine check that a step is its rules applied.

A family declares a small vocabulary of rules (the definition of KL, Bayes' rule, the log of a
product, linearity of expectation, Jensen's inequality, ...). A step `a = b` follows from a set
of equality rules R when a and b are equal once R is applied everywhere in both, up to algebra:
the laws of + - * / and integer powers, with every other function (log, exp, E_q[...], KL) an
unknown function of its argument. A step `a >= b` follows from an inequality rule (Jensen:
log E_q[f] >= E_q[log f]; KL >= 0: a KL term dropped) applied once, at a place whose sign in its
expression is known, to a where that lowers a or to b where that raises b, then at most the
remaining equality rules; `<=` is the same read from b.

Equality up to algebra is decided exactly, without expanding anything: both sides are evaluated
modulo a large prime at a random point, each quantity of the family a random number (one per
value of z for the quantities that depend on z, at a few values of z), each unknown function a
random function (a keyed hash of its argument's value), each expectation a random weighted sum
over the values of z. Two expressions that differ as formulas then differ at the point except
with probability about size / 2^61 (Schwartz and Zippel), and the cost is linear in their size:
a hostile expression cannot make the algebra explode as a symbolic expansion can. The point is
drawn afresh for every check from the system's randomness, so it cannot be aimed at.

Rules act as follows, where they are among those applied: a definition or Bayes' rule replaces a
quantity by its formula (ELBO, p(x,z), ...); the definition of KL replaces KL(a || b) by
E_a[log a - log b]; the log of a product takes log through products, quotients, powers, sqrt and
exp; linearity makes an expectation a weighted sum; the expectation of a constant makes it the
constant wherever its argument does not depend on z (and the weights sum to one).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import combinations
from typing import Callable, Iterator

from grader.deadline import expire_if_due

MAX_RULES = 3        # rules one step may apply at once, algebra aside
PRIME = 2 ** 61 - 1
POINTS = 3           # values of z at which a quantity that depends on z is drawn
MAX_POWER = 64       # integer exponents up to this are algebra; larger ones an unknown function
MAX_PLACES = 16      # places of one step where an inequality rule is tried
KINDS = ("replace", "kl", "log", "linearity", "constant", "jensen", "kl_nonneg")


@dataclass(frozen=True)
class Rule:
    """One rule of a family's vocabulary: its name, what it says, the words of a step's reason that name
    it, and how it acts (`kind`, one of KINDS; a "replace" rule replaces quantities by formulas)."""

    name: str
    says: str
    aliases: tuple[str, ...]
    kind: str
    replaces: tuple[tuple[str, str], ...] = ()

    @property
    def inequality(self) -> bool:
        return self.kind in ("jensen", "kl_nonneg")

    def named_in(self, reason: str) -> bool:
        text = reason.lower()
        return any(alias in text for alias in (self.name.lower(),) + self.aliases)


@dataclass(frozen=True)
class Milestone:
    """A piece of reasoning a derivation of a goal must show: reached by a step that applies one of `rules`."""

    name: str
    rules: tuple[str, ...]


@dataclass
class Link:
    """The judgement of one step: the rules it applies (by name; empty for algebra alone), or why it earns
    nothing for the reasoning it skips."""

    rules: tuple[str, ...] = ()
    problem: str = ""


class Algebra:
    """Random valuations of a family's expressions modulo PRIME, under any set of its rules."""

    def __init__(self, family, parse: Callable[[str], object]):
        draw = random.SystemRandom()
        self._salt = draw.getrandbits(64)
        self._atoms = {name: tuple(draw.randrange(1, PRIME) for _ in range(POINTS)) if name in family.latent
                       else (draw.randrange(1, PRIME),) * POINTS for name in family.atoms}
        self._weights = {}
        for measure in family.measures:
            weights = [draw.randrange(1, PRIME) for _ in range(POINTS)]
            total = _inverse(sum(weights) % PRIME)
            self._weights[measure] = (tuple(weights), tuple(w * total % PRIME for w in weights))
        self._formulas = {(rule.name, atom): parse(text) for rule in family.rules for atom, text in rule.replaces}
        self._order = family.rules  # where two rules replace one quantity, the one the family declares first does
        self._memo: dict = {}

    def equal(self, a, b, rules: frozenset[Rule]) -> bool:
        return self.value(a, rules) == self.value(b, rules)

    def value(self, node, rules: frozenset[Rule]) -> tuple[int, ...]:
        key = (id(node), rules, "value")
        if key not in self._memo:
            self._memo[key] = (self._value(node, rules), node)  # the node kept alive: its id stays its own
        return self._memo[key][0]

    def _value(self, node, rules) -> tuple[int, ...]:
        kind, children = node.kind, node.children
        kinds = {rule.kind for rule in rules}
        if kind == "num":
            return (_number(node.value, self._hash),) * POINTS
        if kind == "atom":
            formula = self._formula(node.name, rules)
            return self._atoms[node.name] if formula is None else self.value(formula, rules)
        if kind == "log":
            return self.log(children[0], rules)
        if kind == "exp" and "log" in kinds and children[0].kind == "log":
            return self.value(children[0].children[0], rules)
        if kind == "E":
            return self._expect(node.name, self.value(children[0], rules), kinds)
        if kind == "KL":
            if "kl" not in kinds:
                return (self._hash("KL", node.first, node.other),) * POINTS
            first, other = self._log_atom(node.first, rules), self._log_atom(node.other, rules)
            return self._expect(node.name, tuple((a - b) % PRIME for a, b in zip(first, other)), kinds)
        values = [self.value(child, rules) for child in children]
        if kind == "neg":
            return tuple(-v % PRIME for v in values[0])
        if kind in ("+", "-", "*", "/"):
            return tuple(_ARITHMETIC[kind](a, b) for a, b in zip(*values))
        if kind == "^" and children[1].kind == "num" and _small_integer(children[1].value):
            exponent = int(children[1].value)
            return tuple(pow(a, exponent, PRIME) if exponent >= 0 else pow(_inverse(a), -exponent, PRIME)
                         for a in values[0])
        return tuple(self._hash(kind, *point) for point in zip(*values))  # exp, sqrt, any other power

    def relevant(self, rules: tuple[Rule, ...], *nodes) -> tuple[Rule, ...]:
        """The rules that can act somewhere in `nodes` or in the formulas rules substitute into them: a rule
        left out acts nowhere, so any set of rules gives the same values with it and without it."""
        reached = list(_walk(nodes, lambda node: [formula for (_, atom), formula in self._formulas.items()
                                                  if node.kind == "atom" and atom == node.name]))
        kinds, atoms = {node.kind for node in reached}, {node.name for node in reached if node.kind == "atom"}
        shapes = {(node.kind, node.children[0].kind) for node in _walk(nodes) if node.children}
        acts = {"replace": lambda rule: any(atom in atoms for atom, _ in rule.replaces),
                "kl": lambda rule: "KL" in kinds,
                "log": lambda rule: bool({"log", "exp", "KL"} & kinds),
                "linearity": lambda rule: bool({"E", "KL"} & kinds),
                "constant": lambda rule: bool({"E", "KL"} & kinds),
                "jensen": lambda rule: bool({("log", "E"), ("E", "log")} & shapes),  # where it is tried: as written
                "kl_nonneg": lambda rule: any(node.kind == "KL" for node in _walk(nodes))}
        return tuple(rule for rule in rules if acts[rule.kind](rule))

    def moved(self, rule: Rule, node, down: int) -> list:
        """The expressions an inequality rule makes of `node` (see `_moved`), computed once, each distinct up
        to algebra, at most MAX_PLACES of them (the first places, reading from the left)."""
        key = (id(node), rule, down)
        if key not in self._memo:
            distinct = {}
            for moved in _moved(rule, node, down):
                distinct.setdefault(self.value(moved, frozenset()), moved)
                if len(distinct) == MAX_PLACES:
                    break
            self._memo[key] = (list(distinct.values()), node)
        return self._memo[key][0]

    def log(self, node, rules: frozenset[Rule]) -> tuple[int, ...]:
        """The value of log(node): through products, quotients, powers, sqrt and exp where the log rule applies."""
        key = (id(node), rules, "log")
        if key not in self._memo:
            self._memo[key] = (self._log(node, rules), node)
        return self._memo[key][0]

    def _log(self, node, rules) -> tuple[int, ...]:
        kind, children = node.kind, node.children
        if "log" in {rule.kind for rule in rules}:
            if kind in ("*", "/"):
                a, b = self.log(children[0], rules), self.log(children[1], rules)
                return tuple((x + y if kind == "*" else x - y) % PRIME for x, y in zip(a, b))
            if kind == "^":
                exponent, base = self.value(children[1], rules), self.log(children[0], rules)
                return tuple(e * x % PRIME for e, x in zip(exponent, base))
            if kind == "sqrt":
                return tuple(x * _inverse(2) % PRIME for x in self.log(children[0], rules))
            if kind == "exp":
                return self.value(children[0], rules)
            if kind == "num" and node.value == 1:
                return (0,) * POINTS
            if kind == "atom" and self._formula(node.name, rules) is not None:
                return self.log(self._formula(node.name, rules), rules)
        return tuple(self._hash("log", v) for v in self.value(node, rules))

    def _log_atom(self, name: str, rules) -> tuple[int, ...]:
        formula = self._formula(name, rules)
        if formula is not None:
            return self.log(formula, rules)
        return tuple(self._hash("log", v) for v in self._atoms[name])

    def _formula(self, atom: str, rules):
        return next((self._formulas[rule.name, atom] for rule in self._order
                     if rule in rules and (rule.name, atom) in self._formulas), None)

    def _expect(self, measure: str, values: tuple[int, ...], kinds: set[str]) -> tuple[int, ...]:
        constant = "constant" in kinds and len(set(values)) == 1
        if "linearity" in kinds:
            weights = self._weights[measure]["constant" in kinds]
            return (sum(w * v for w, v in zip(weights, values)) % PRIME,) * POINTS
        return (values[0] if constant else self._hash("E", measure, *values),) * POINTS

    def _hash(self, *parts) -> int:
        digest = hashlib.blake2b(repr((self._salt,) + parts).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % PRIME


def _walk(roots, more: Callable = lambda node: ()) -> Iterator:
    """Every node under `roots` once, and under the nodes `more(node)` adds (the formulas an atom may become)."""
    seen, pending = set(), list(roots)
    while pending:
        node = pending.pop()
        if id(node) not in seen:
            seen.add(id(node))
            yield node
            pending.extend(node.children)
            pending.extend(more(node))


def _inverse(a: int) -> int:
    return pow(a, PRIME - 2, PRIME)  # 0 for 0: a quotient by 0 is a value like any other here


_ARITHMETIC = {"+": lambda a, b: (a + b) % PRIME, "-": lambda a, b: (a - b) % PRIME,
               "*": lambda a, b: a * b % PRIME, "/": lambda a, b: a * _inverse(b) % PRIME}


def _small_integer(value: float) -> bool:
    return float(value).is_integer() and abs(value) <= MAX_POWER


def _number(value: float, hash_: Callable[..., int]) -> int:
    """A decimal number as the field's element: 0.1 is exactly 1/10."""
    try:
        exact = Fraction(repr(float(value)))
    except (ValueError, OverflowError):  # inf from an overlong literal: a number like no other
        return hash_("num", repr(value))
    return exact.numerator % PRIME * _inverse(exact.denominator % PRIME) % PRIME


# ---------------------------------------------------------------------------- judging a step

def judge(algebra: Algebra, rules: tuple[Rule, ...], before, after, relation: str, named: tuple[Rule, ...]) -> Link:
    """Which rules (at most MAX_RULES, algebra aside) take `before` to `after` under `relation`: those the step
    names if they do, else the first such set found; or, where none does, why the step skips reasoning."""
    declared = [rule for rule in rules if rule.inequality] if relation != "=" else []
    rules = algebra.relevant(rules, before, after)
    equalities = [rule for rule in rules if not rule.inequality]
    inequalities = [rule for rule in declared if rule in rules]
    candidates = ([named] if named else []) + [
        subset for size in range(MAX_RULES + 1) for subset in combinations(equalities + inequalities, size)]
    for subset in candidates:
        expire_if_due()
        if len(subset) <= MAX_RULES and _gives(algebra, subset, before, after, relation):
            return Link(tuple(rule.name for rule in subset))
    needed = _needed(algebra, equalities, inequalities, before, after, relation)
    if needed is None:
        problem = "no rule of this derivation's vocabulary gives it, even several at once"
        if declared:
            problem += (f"; a '{relation}' step applies one of " + "; ".join(rule.says for rule in declared)
                        + ", to a term that counts positively in the larger side")
        return Link(problem=problem)
    return Link(problem=f"it applies {_listed([rule.name for rule in needed])} at once; show them in steps of at most "
                        f"{MAX_RULES} rules")


def _gives(algebra: Algebra, subset: tuple[Rule, ...], before, after, relation: str) -> bool:
    inequality = [rule for rule in subset if rule.inequality]
    if len(inequality) > 1 or (inequality and relation == "="):
        return False
    rest = frozenset(rule for rule in subset if not rule.inequality)
    if not inequality:
        return algebra.equal(before, after, rest)
    larger, smaller = (before, after) if relation == ">=" else (after, before)
    return (any(algebra.equal(lowered, smaller, rest) for lowered in algebra.moved(inequality[0], larger, 1)) or
            any(algebra.equal(larger, raised, rest) for raised in algebra.moved(inequality[0], smaller, -1)))


def _needed(algebra, equalities, inequalities, before, after, relation) -> list[Rule] | None:
    """A smallest-by-removal set of rules that gives the step with no limit on their number, or None (the
    rules declared last are the first tried for removal)."""
    for inequality in [None] + inequalities:
        chosen = equalities + ([inequality] if inequality else [])
        if not _gives(algebra, tuple(chosen), before, after, relation):
            continue
        for rule in reversed(list(chosen)):
            fewer = tuple(r for r in chosen if r is not rule)
            if rule is not inequality and _gives(algebra, fewer, before, after, relation):
                chosen = list(fewer)
        return chosen
    return None


def _moved(rule: Rule, node, down: int) -> Iterator:
    """`node` with the inequality rule applied once where it lowers the whole (down = 1) or raises it (-1):
    read forwards (log E_q[f] to E_q[log f]; a KL to 0) where the place counts with the sign `down`, and
    Jensen read backwards where it counts with the other sign. Each result shares every untouched
    sub-expression with `node`, so that their values are computed once."""
    for place, sign, path in _places(node, 1, ()):
        if rule.kind == "jensen" and sign == down and place.kind == "log" and place.children[0].kind == "E":
            expectation = place.children[0]  # log E_q[f] -> E_q[log f]
            yield _rebuilt(node, path, replace(expectation, children=(replace(place, children=expectation.children),)))
        elif rule.kind == "jensen" and sign == -down and place.kind == "E" and place.children[0].kind == "log":
            logarithm = place.children[0]    # E_q[log f] -> log E_q[f]
            yield _rebuilt(node, path, replace(logarithm, children=(replace(place, children=logarithm.children),)))
        elif rule.kind == "kl_nonneg" and sign == down and place.kind == "KL":
            yield _rebuilt(node, path, replace(place, kind="num", value=0.0, name="", first="", other=""))


def _places(node, sign: int, path: tuple[int, ...]) -> Iterator:
    """Every sub-expression, with the sign of its effect on the whole (1: increasing, -1, or 0: unknown) and
    the path of child indices to it."""
    yield node, sign, path
    kind, children = node.kind, node.children
    for index, child in enumerate(children):
        if kind in ("+", "E", "log", "exp", "sqrt") or (kind == "-" and index == 0):
            child_sign = sign
        elif kind == "neg" or (kind == "-" and index == 1):
            child_sign = -sign
        elif kind in ("*", "/") and children[1 - index].kind == "num" and (kind == "*" or index == 0):
            child_sign = sign * (1 if children[1 - index].value > 0 else -1 if children[1 - index].value < 0 else 0)
        else:
            child_sign = 0
        yield from _places(child, child_sign, path + (index,))


def _rebuilt(node, path: tuple[int, ...], new):
    """`node` with the sub-expression at `path` replaced by `new`."""
    if not path:
        return new
    children = list(node.children)
    children[path[0]] = _rebuilt(children[path[0]], path[1:], new)
    return replace(node, children=tuple(children))


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
