"""Derivations checked by machine: a chain of steps, each an expression in a small language, each
step checked in value on many random instances of a model family and as reasoning, the
application of a few of the family's rules to the step before (grader.derivation_rules).

A derivation is a list of strings: the first is an expression, every other one starts with its
relation to the previous step ("=", ">=" or "<="), then the rules it applies in brackets (free
text that names them: "[Jensen: log is concave]"). For example:

    ["log p(x)",
     "= [marginalisation] log E_q[p(x,z) / q(z|x)]",
     ">= [Jensen] E_q[log(p(x,z) / q(z|x))]"]

The language: decimal numbers; the quantities a family names (for the ELBO: p(x), p(z), p(x|z),
p(z|x), p(x,z), q(z|x), ELBO); + - * / ^, unary minus, parentheses; log, exp and sqrt, written
log(a) or, before a quantity, log p(x); expectations E_q[...] under the measures a family names;
and KL(a || b) between two of its distributions over the latent variable. Nothing else parses:
no attribute, no call of anything else, no name outside the family. Student text is parsed
here, by this module's own bounded parser, and evaluated by its own evaluator in floating point
(never `eval`), each node once, so a hostile expression costs little and fails with a reason.

A family draws instances (for the ELBO: a discrete latent variable, where every expectation
is an exact finite sum, and a Gaussian one, summed on a fine grid) and evaluates a quantity on
an instance as a number or as values over the latent grid; it declares its rules and the goals
it grades, each with its milestones. `check` tests every step on every instance and says which
step first fails, with the instance that shows it, which steps skip reasoning and the rules they
would have to show, which milestones the chain reaches, and whether it proves the goal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from grader.deadline import TookTooLong, deadline, expire_if_due
from grader.derivation_rules import Algebra, Link, Milestone, Rule, judge

MAX_STEPS = 40
MAX_CHARS = 2000       # of one step
MAX_TOKENS = 400       # of one step
MAX_REASON = 200       # characters of a step's reason in brackets
MAX_DEPTH = 40         # nesting of parentheses, brackets and operators
RELATIONS = ("=", ">=", "<=")
CHECK_SECONDS = 10.0   # a derivation checked for longer earns 0, "took too long"


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
class Goal:
    """A statement a family knows how to grade, and the milestones a derivation of it must reach."""

    statement: tuple[str, str, str]
    milestones: tuple[Milestone, ...]


@dataclass(frozen=True)
class Family:
    """The quantities a derivation may name, how to draw random instances of them, the rules a step may
    apply, and the goals whose derivations earn credit by milestones."""

    atoms: tuple[str, ...]
    measures: dict[str, str]            # E_<key> is the expectation under the distribution <value>
    distributions: tuple[str, ...]      # the atoms that are densities over the latent variable
    latent: tuple[str, ...]             # the atoms that depend on the latent variable
    draw: Callable[[np.random.Generator, int], Instance]
    rules: tuple[Rule, ...] = ()
    goals: tuple[Goal, ...] = ()


class _Evaluation:
    """The values of one expression's nodes on one instance, each node computed once (and its log once),
    so that evaluation is linear in the expression's size however the log-space path and the direct one
    call each other."""

    def __init__(self, instance: Instance):
        self.instance, self.values, self.logs = instance, {}, {}

    def value(self, node: Node):
        if id(node) not in self.values:
            self.values[id(node)] = self._value(node)
        return self.values[id(node)]

    def log(self, node: Node):
        if id(node) not in self.logs:
            self.logs[id(node)] = self._log(node)
        return self.logs[id(node)]

    def _value(self, node: Node):
        kind, instance = node.kind, self.instance
        if kind == "num":
            return node.value
        if kind == "atom":
            return np.exp(instance.logs[node.name]) if node.name in instance.logs else instance.numbers[node.name]
        if kind == "log":
            return self.log(node.children[0])
        if kind == "E":
            weights = instance.weights[node.name]
            return float(np.sum(weights * np.broadcast_to(self.value(node.children[0]), weights.shape)))
        if kind == "KL":
            log_ratio = instance.logs[node.first] - instance.logs[node.other]
            return float(np.sum(instance.weights[node.name] * log_ratio))
        return _OPERATIONS[kind](*(self.value(child) for child in node.children))

    def _log(self, node: Node):
        """log of a node's value, taken through products, quotients, powers, exp and expectations in log
        space (log-sum-exp), so that log(p(x,z) / q(z|x)) or log(E_q[p(x,z) / q(z|x)]) stays finite where the
        densities themselves underflow; where that is undefined (a negative factor), the log of the value."""
        kind, children, instance = node.kind, node.children, self.instance
        if kind == "atom" and node.name in instance.logs:
            return instance.logs[node.name]
        if kind == "exp":
            return self.value(children[0])
        if kind == "E":
            weights = instance.weights[node.name]
            inner = np.broadcast_to(self.log(children[0]), weights.shape)
            with np.errstate(divide="ignore"):
                logs = np.logaddexp.reduce(np.log(weights) + inner)
        elif kind in ("*", "/"):
            first, second = self.log(children[0]), self.log(children[1])
            logs = first + second if kind == "*" else first - second
        elif kind == "^" and children[1].kind == "num":
            logs = children[1].value * self.log(children[0])
        else:
            logs = np.nan
        if not np.any(np.isnan(logs)):
            return logs
        with np.errstate(divide="ignore", invalid="ignore"):
            direct = np.log(self.value(node))
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


ELBO_RULES = (
    Rule("definition of the ELBO", "ELBO = E_q[log p(x,z) - log q(z|x)]", ("elbo", "(2)"), "replace",
         (("ELBO", "E_q[log p(x,z) - log q(z|x)]"),)),
    Rule("definition of KL", "KL(a || b) = E_a[log a - log b]", ("definition of kl", "kl definition", "(5)"), "kl"),
    Rule("Bayes' rule", "p(x,z) = p(x|z) p(z) = p(z|x) p(x)", ("bayes", "product rule", "chain rule"), "replace",
         (("p(x,z)", "p(x|z) * p(z)"), ("p(z|x)", "p(x|z) * p(z) / p(x)"))),
    Rule("marginalisation", "p(x) = E_q[p(x,z) / q(z|x)] (the sum over z of the joint, as an expectation under q)",
         ("marginal", "importance", "sum over z"), "replace", (("p(x)", "E_q[p(x,z) / q(z|x)]"),)),
    Rule("log of a product", "log(a b) = log a + log b, log(a / b) = log a - log b, log(a ^ b) = b log a, "
         "log sqrt(a) = log(a) / 2, log exp(a) = a = exp(log a)", ("log of a", "log rule", "logarithm"), "log"),
    Rule("linearity of expectation", "E_q[a f + b g] = a E_q[f] + b E_q[g] for a, b that do not depend on z",
         ("linearity", "linear"), "linearity"),
    Rule("expectation of a constant", "E_q[c] = c for c that does not depend on z (q sums to one)",
         ("constant", "sums to one", "does not depend on z"), "constant"),
    Rule("the VAE form of the ELBO", "ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z))", ("vae", "reconstruction"),
         "replace", (("ELBO", "E_q[log p(x|z)] - KL(q(z|x) || p(z))"),)),
    Rule("Jensen", "log E_q[f] >= E_q[log f] (log is concave)", ("jensen", "concav"), "jensen"),
    Rule("KL >= 0", "a + KL(q(z|x) || b) >= a (Gibbs' inequality)", ("kl >= 0", "kl>=0", "gibbs", "non-negative"),
         "kl_nonneg"),
)
# The step to E_q[log p(x)] alone (the expectation of a constant) is no milestone: it is the empty step a
# restatement starts with. Reaching the goal with every step shown counts as one more (see `check`).
ELBO = Family(atoms=("p(x)", "p(z)", "p(x|z)", "p(z|x)", "p(x,z)", "q(z|x)", "ELBO"), measures={"q": "q(z|x)"},
              distributions=("q(z|x)", "p(z|x)", "p(z)"), latent=("p(z)", "p(x|z)", "p(z|x)", "p(x,z)", "q(z|x)"),
              draw=_draw_elbo, rules=ELBO_RULES, goals=(
                  Goal(("log p(x)", ">=", "ELBO"), (
                      Milestone("the joint p(x,z) brought in by Bayes' rule or marginalisation",
                                ("Bayes' rule", "marginalisation")),
                      Milestone("the inequality, by Jensen or KL >= 0", ("Jensen", "KL >= 0")))),
                  Goal(("log p(x)", "=", "ELBO + KL(q(z|x) || p(z|x))"), (
                      Milestone("the posterior p(z|x) brought in by Bayes' rule", ("Bayes' rule",)),
                      Milestone("the gap written as a KL by its definition", ("definition of KL",))))))
FAMILIES = {"elbo": ELBO}  # by the name an exam's derivation question gives


# ---------------------------------------------------------------------------- checking

@dataclass
class Verdict:
    """What a derivation proves: its steps, the first that fails (1-based, 0 if none) and why, the steps
    that skip reasoning and why, the milestones reached, whether the chain proves the goal, and the credit
    (1 in full)."""

    steps: list[str]
    first_bad: int = 0
    reason: str = ""
    skips: list[tuple[int, str]] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)
    unreached: list[str] = field(default_factory=list)
    reaches_goal: bool = False
    missing: str = ""
    credit: float = 0.0
    notes: list[str] = field(default_factory=list)
    stopped: str = ""   # why the check stopped before its end (its deadline)

    def message(self) -> str:
        if self.stopped:
            return self.stopped
        if self.reaches_goal:
            return "every step holds and follows from its rules: the derivation proves the statement"
        if self.first_bad:
            text = f"step {self.first_bad} does not hold: {self.reason}"
        elif self.skips:
            text = f"step {self.skips[0][0]} skips reasoning: {self.skips[0][1]}"
        else:
            text = f"every step holds and follows from its rules, but the derivation is not finished: {self.missing}"
        if self.reached or self.unreached:
            text += (f" (milestones reached: {'; '.join(self.reached) or 'none'}"
                     + (f"; not shown: {'; '.join(self.unreached)}" if self.unreached else "") + ")")
        return text


def check(steps, goal: tuple[str, str, str], family: Family = ELBO, instances: int = 40, seed: int = 0,
          rtol: float = 1e-7, atol: float = 1e-9, seconds: float = CHECK_SECONDS) -> Verdict:
    """Check a derivation (a list of steps) against `goal` = (left, relation, right), e.g.
    ("log p(x)", ">=", "ELBO"), on `instances` random instances of `family`.

    Every step must hold in value on every instance, and follow from the step before by at most
    MAX_RULES of the family's rules (algebra aside), those its reason names or, failing them, any. The
    chain proves the goal when every step holds and follows, it starts on the goal's left side and ends on
    its right side (as written, up to algebra), and its relations give the goal's.

    Credit: 1 for a proof. Otherwise, for a goal the family declares, the share of its milestones reached
    by steps that hold and follow, before the first step that fails and outside any detour that comes back
    to an expression it left (counting the proof itself as one more milestone); 0 for any other goal.

    The check runs under a deadline of `seconds`: past it, the verdict is credit 0, "took too long".
    """
    try:
        with deadline(seconds, "checking the derivation"):
            return _check(steps, goal, family, instances, seed, rtol, atol)
    except TookTooLong as error:
        return Verdict([], stopped=str(error))


def _check(steps, goal, family: Family, instances: int, seed: int, rtol: float, atol: float) -> Verdict:
    if not isinstance(steps, (list, tuple)) or not steps:
        return Verdict([], 1, "the derivation must be a non-empty list of steps")
    steps = [s if isinstance(s, str) else repr(s)[:200] for s in steps[:MAX_STEPS + 1]]
    verdict = Verdict(steps)
    if len(steps) > MAX_STEPS:
        verdict.first_bad, verdict.reason = MAX_STEPS + 1, f"a derivation has at most {MAX_STEPS} steps"
        return verdict
    left, relation, right = parse(goal[0], family), goal[1], parse(goal[2], family)
    chain, unreadable = _read(steps, family)
    if unreadable:
        verdict.first_bad, verdict.reason = unreadable.step, unreadable.detail
    algebra = Algebra(family, lambda text: parse(text, family))
    rng = np.random.default_rng(seed)
    drawn = [family.draw(rng, i) for i in range(instances)]
    links: list[Link] = []
    for index in range(1, len(chain)):
        expire_if_due()
        (before, _, _), (after, holds, named) = chain[index - 1], chain[index]
        failure = _first_failure(before, after, holds, drawn, rtol, atol)
        if failure:
            verdict.first_bad, verdict.reason = index + 1, f"{steps[index].strip()}: {failure}"
            break
        links.append(judge(algebra, family.rules, before, after, holds, named))
        _note_naming(verdict, index + 1, named, links[-1])
    verdict.skips = [(index + 2, link.problem) for index, link in enumerate(links) if link.problem]
    milestones = _milestones(family, (left, relation, right), algebra)
    shown = {rule for link in _without_detours([node for node, _, _ in chain[:len(links) + 1]], links, algebra)
             for rule in link.rules}
    verdict.reached = [m.name for m in milestones if shown & set(m.rules)]
    verdict.unreached = [m.name for m in milestones if not shown & set(m.rules)]
    if not verdict.first_bad and not verdict.skips:
        verdict.missing = _missing(chain, (left, relation, right), goal, algebra)
        verdict.reaches_goal = not verdict.missing
    verdict.credit = 1.0 if verdict.reaches_goal else len(verdict.reached) / (len(milestones) + 1)
    return verdict


class _StepError(DerivationError):
    def __init__(self, step: int, message: str):
        super().__init__(f"step {step}: {message}")
        self.step, self.detail = step, message


def _read(steps: list[str], family: Family) -> tuple[list[tuple[Node, str, tuple[Rule, ...]]], _StepError | None]:
    """Each step's expression, its relation to the one before ("" for the first) and the rules its reason
    names, up to the first step that cannot be read, and why that one cannot."""
    chain = []
    for number, text in enumerate(steps, start=1):
        relation, reason, body = "", "", text.strip()
        try:
            if number > 1:
                relation = next((r for r in (">=", "<=", "=") if body.startswith(r)), "")
                if not relation:
                    raise _StepError(number, "must start with =, >= or <=")
                reason, body = _split_reason(body[len(relation):], number)
            named = tuple(rule for rule in family.rules if rule.named_in(reason))
            chain.append((parse(body, family), relation, named))
        except _StepError as error:
            return chain, error
        except DerivationError as error:
            return chain, _StepError(number, str(error))
    return chain, None


def _split_reason(body: str, number: int) -> tuple[str, str]:
    """The reason in brackets at the step's start (which may hold brackets of its own), and the rest."""
    text = body.lstrip()
    if not text.startswith("["):
        return "", body
    depth = 0
    for index, char in enumerate(text[:MAX_REASON + 2]):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0:
            return text[1:index], text[index + 1:]
    raise _StepError(number, f"the reason in brackets at its start does not close within {MAX_REASON} characters")


def _note_naming(verdict: Verdict, number: int, named: tuple[Rule, ...], link: Link) -> None:
    """Say where a step's reason names no rule of the vocabulary, or rules other than those it applies."""
    names = tuple(rule.name for rule in named)
    if link.problem or names == link.rules or (not names and not link.rules):
        return
    applied = ", ".join(link.rules) or "algebra"
    verdict.notes.append(f"step {number} applies {applied}" +
                         (f", not {', '.join(names)} as its reason says" if names else ": name it in brackets"))


def _milestones(family: Family, goal: tuple[Node, str, Node], algebra: Algebra) -> tuple[Milestone, ...]:
    """The milestones of the family's goal that is this one (read either way round), or none."""
    left, relation, right = goal
    flipped = {">=": "<=", "<=": ">=", "=": "="}
    nothing = frozenset()
    for declared in family.goals:
        a, holds, b = parse(declared.statement[0], family), declared.statement[1], parse(declared.statement[2], family)
        if (holds == relation and algebra.equal(a, left, nothing) and algebra.equal(b, right, nothing)) or (
                flipped[holds] == relation and algebra.equal(a, right, nothing) and algebra.equal(b, left, nothing)):
            return declared.milestones
    return ()


def _without_detours(nodes: list[Node], links: list[Link], algebra: Algebra) -> list[Link]:
    """The links of the chain once every detour that comes back to an expression it left (up to algebra) is
    cut out: a circle shows no progress, whatever rules it applies on the way."""
    path: list[tuple[tuple[int, ...], Link | None]] = []
    for index, node in enumerate(nodes):
        value = algebra.value(node, frozenset())
        seen = [position for position, (earlier, _) in enumerate(path) if earlier == value]
        if seen:
            del path[seen[0] + 1:]
        else:
            path.append((value, links[index - 1] if index else None))
    return [link for _, link in path[1:]]


def _missing(chain, goal: tuple[Node, str, Node], text: tuple[str, str, str], algebra: Algebra) -> str:
    """What a chain whose every step holds and follows lacks to prove the goal, or "" if nothing."""
    (left, relation, right), nothing = goal, frozenset()
    starts, ends = algebra.equal(chain[0][0], left, nothing), algebra.equal(chain[-1][0], right, nothing)
    if not (starts and ends):
        return (f"it should go from {text[0]} to {text[2]}" + ("" if starts else "; it does not start there")
                + ("" if ends else "; it does not end there"))
    proved = _proved(chain)
    if proved == "mixed":
        return "it uses both >= and <=, so it proves no relation between its ends"
    if proved != relation:
        return f"it proves {text[0]} {proved} {text[2]}, but {text[0]} {relation} {text[2]} is asked"
    return ""


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
        value = np.asarray(_Evaluation(instance).value(node), dtype=float)
    if value.ndim:
        return "depends on z outside an expectation"
    if not np.isfinite(value):
        return f"is not finite ({float(value)})"
    return float(value)


def _proved(chain) -> str:
    """The relation a chain proves between its ends: = if every link is =, else the one inequality it uses."""
    inequalities = {relation for _, relation, _ in chain[1:] if relation != "="}
    if not inequalities:
        return "="
    return inequalities.pop() if len(inequalities) == 1 else "mixed"
