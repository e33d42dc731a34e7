"""Exams that differ per student: drawn parameters, shuffled options and question pools.

A question of an exam's spec may declare `parameters` (each drawn from a range with a step, from a list
of choices, or by the exam's generator, a Python file of the assignment run here, on the trusted side),
a choice question may `shuffle` its options, and `variants.pools` let each student answer `draw` of a
part's questions. A student's **variant** is what their paper holds: the values of the parameters, the
order of the options of each shuffled question, and the questions drawn. It follows from a seed, the
HMAC-SHA256 of the student's roster id under the exam's secret, so it is the same every time it is
computed and cannot be worked out from the id alone. The secret is the file `tests/hidden/variant_secret`
(release never ships tests/hidden/; `grader release --roster` writes a fresh one where there is none).

The key (`tests/hidden/key.yaml`) gives a question with parameters a formula of them, a string such as
`"sigmoid(pre) ** steps"` (or a list of such), which is evaluated here for each variant with a small
evaluator of arithmetic, numbers, lists and calls of the functions of `FUNCTIONS` and of the generator;
a formula question's key is one formula of its arguments. A choice question's key stays the labels of the
options as the spec lists them; each variant shows them in its own order, and the key is mapped to the
labels that student saw. The plain paper (the handout as written, `grader release` without a roster)
is the variant with every default, every option in its place and the first questions of each pool.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import hmac
import importlib.util
import json
import math
import operator
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from grader import errors
from grader.notebook import Cell
from grader.spec import ANSWERED_TYPES, Assignment, Parameter, SpecError

SECRET_FILE = "variant_secret"
PLAIN = "plain"        # the id of the plain paper's variant


@dataclass(frozen=True)
class Variant:
    """One student's paper: parameter values per question, the order options are shown in, the questions drawn."""

    id: str
    student: str                               # the roster id; "" for the plain paper
    params: dict[str, dict[str, object]]       # question id -> parameter name -> value
    orders: dict[str, tuple[str, ...]]         # shuffled question id -> the spec's labels in the order shown
    drawn: tuple[str, ...]                     # the questions on this paper, in the spec's order

    def shown(self, qid: str, label: str) -> str:
        """The label a student of this variant saw for the option the spec labels `label`."""
        order = self.orders.get(qid)
        return label if order is None else "abcdefghijklmnopqrstuvwxyz"[order.index(label)]

    def to_dict(self) -> dict:
        return {"id": self.id, "student": self.student, "params": self.params,
                "orders": {qid: list(order) for qid, order in self.orders.items()}, "drawn": list(self.drawn)}

    @classmethod
    def from_dict(cls, data: dict) -> "Variant":
        return cls(str(data["id"]), str(data["student"]), dict(data["params"]),
                   {qid: tuple(order) for qid, order in data["orders"].items()}, tuple(data["drawn"]))


# ---------------------------------------------------------------------------- the seed

def secret_path(assignment: Assignment) -> Path:
    return assignment.hidden_tests / SECRET_FILE


def read_secret(assignment: Assignment) -> bytes:
    """The exam's secret; a SpecError where there is none."""
    path = secret_path(assignment)
    try:
        text = path.read_text().strip()
    except OSError:
        raise SpecError(f"{path}: no secret for the variants of {assignment.slug} (`grader release "
                        f"{assignment.slug} --roster roster.csv` writes one)") from None
    if len(text) < 16:
        raise SpecError(f"{path}: the secret must be at least 16 characters")
    return text.encode()


def ensure_secret(assignment: Assignment) -> bytes:
    """The exam's secret, written first (32 random bytes, hex) where there is none."""
    path = secret_path(assignment)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
    return read_secret(assignment)


def _digest(secret: bytes, assignment: Assignment, student: str) -> bytes:
    return hmac.new(secret, f"{assignment.slug}\0{student}".encode(), hashlib.sha256).digest()


# ---------------------------------------------------------------------------- drawing a variant

def plain(assignment: Assignment) -> Variant | None:
    """The plain paper: every default, the options in the spec's order, the first questions of each pool;
    None for an exam without variants."""
    if not assignment.has_variants:
        return None
    dropped = {qid for pool in assignment.pools for qid in pool.questions[pool.draw:]}
    return Variant(PLAIN, "", {q.id: {p.name: p.default for p in q.parameters} for q in assignment.questions
                               if q.parameters}, {},
                   tuple(q.id for q in assignment.questions if q.id not in dropped))


def generate(assignment: Assignment, student: str, secret: bytes | None = None) -> Variant:
    """The variant of the student with roster id `student`: the same for the same secret and id, every time."""
    digest = _digest(secret if secret is not None else read_secret(assignment), assignment, student)
    seed = digest.hex()
    params = {q.id: {p.name: _draw(p, f"{seed}:{q.id}:{p.name}") for p in q.parameters if not p.generated}
              for q in assignment.questions if q.parameters}
    for qid, values in _generated(assignment, int.from_bytes(digest[:8], "big")).items():
        params[qid].update(values)
    orders = {}
    for question in assignment.questions:
        if question.shuffle:
            order = list(question.labels)
            random.Random(f"{seed}:{question.id}:order").shuffle(order)
            orders[question.id] = tuple(order)
    dropped = set()
    for index, pool in enumerate(assignment.pools):
        kept = random.Random(f"{seed}:pool:{index}").sample(pool.questions, pool.draw)
        dropped.update(set(pool.questions) - set(kept))
    return Variant("v" + hmac.new(digest, b"id", hashlib.sha256).hexdigest()[:8], student, params, orders,
                   tuple(q.id for q in assignment.questions if q.id not in dropped))


def _draw(parameter: Parameter, seed: str):
    draw = random.Random(seed)
    if parameter.choices:
        return draw.choice(parameter.choices)
    low, high, step = parameter.range
    value = low + step * draw.randint(0, int(math.floor((high - low) / step + 1e-9)))
    return value if all(isinstance(v, int) for v in parameter.range) else round(value, 12)


def _generated(assignment: Assignment, seed: int) -> dict[str, dict[str, object]]:
    """The generator's `generate(rng)`: question id -> parameter name -> plain value, for the generated ones."""
    wanted = {q.id: {p.name for p in q.parameters if p.generated} for q in assignment.questions}
    wanted = {qid: names for qid, names in wanted.items() if names}
    if not wanted:
        return {}
    import numpy as np  # here: grading imports this module before its sandboxes start

    module = generator_module(assignment)
    where = assignment.root / assignment.generator
    values = module.generate(np.random.default_rng(seed))
    if not isinstance(values, dict) or any(set(values.get(qid) or {}) != names for qid, names in wanted.items()):
        raise SpecError(f"{where}: generate(rng) must return {{question id: {{parameter: value}}}} with exactly the "
                        f"generated parameters ({json.dumps({q: sorted(n) for q, n in wanted.items()})})")
    try:
        return json.loads(json.dumps({qid: values[qid] for qid in wanted}))  # plain data only
    except (TypeError, ValueError) as error:
        raise SpecError(f"{where}: generate(rng) returned a value that is not plain data: {error}") from None


_MODULES: dict[Path, object] = {}


def generator_module(assignment: Assignment):
    """The exam's generator module (instructor's code, imported here on the trusted side), or None."""
    if not assignment.generator:
        return None
    path = (assignment.root / assignment.generator).resolve()
    if path not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"_variants_{assignment.slug}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # the instructor's file: say where it broke, as a spec error
            raise SpecError(f"{path}: the generator does not load: {type(error).__name__}: {error}") from None
        _MODULES[path] = module
    return _MODULES[path]


# ---------------------------------------------------------------------------- the paper and its key

def restrict(assignment: Assignment, variant: Variant) -> Assignment:
    """The assignment as this variant's paper: its questions only, options in the order shown, formula inputs
    that name parameters replaced by their values."""
    questions = []
    for question in assignment.questions:
        if question.id not in variant.drawn:
            continue
        values = variant.params.get(question.id, {})
        changes = {"inputs": tuple(tuple((name, values[v] if isinstance(v, str) else v) for name, v in call)
                                   for call in question.inputs)}
        order = variant.orders.get(question.id)
        if order:
            changes["options"] = tuple(question.options[question.labels.index(label)] for label in order)
        questions.append(dataclasses.replace(question, **changes))
    return dataclasses.replace(assignment, questions=tuple(questions))


def expected_answers(assignment: Assignment, variant: Variant, key: dict) -> dict:
    """The key of this variant's answered questions: formulas evaluated on its parameters, choice labels as shown."""
    functions = {**FUNCTIONS, **_public_functions(generator_module(assignment))}
    paper = restrict(assignment, variant)
    answers = {}
    for question in paper.questions:
        if question.type not in ANSWERED_TYPES or question.id not in key:
            continue
        value, names = key[question.id], {**functions, **variant.params.get(question.id, {})}
        where = f"{assignment.key_path}: {question.id}"
        if question.type == "choice":
            answers[question.id] = [variant.shown(question.id, label) for label in
                                    (value if isinstance(value, list) else [value])]
        elif question.type == "numeric" and question.inputs and isinstance(value, str):
            answers[question.id] = [evaluate(value, {**names, **dict(call)}, where) for call in question.inputs]
        elif question.type == "numeric":
            answers[question.id] = _evaluated(value, names, where)
        else:
            answers[question.id] = value
    return answers


def _evaluated(value, names: dict, where: str):
    if isinstance(value, str):
        return evaluate(value, names, where)
    if isinstance(value, list):
        return [_evaluated(v, names, where) for v in value]
    return value


def _public_functions(module) -> dict:
    return {name: f for name, f in vars(module).items() if callable(f) and not name.startswith("_")} if module else {}


def _sigmoid(a):
    return 0.5 * (1.0 + math.tanh(0.5 * a))


def _logsumexp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


FUNCTIONS = {"log": math.log, "exp": math.exp, "sqrt": math.sqrt, "tanh": math.tanh, "sigmoid": _sigmoid,
             "logsumexp": _logsumexp, "min": min, "max": max, "abs": abs, "sum": sum, "len": len, "pi": math.pi}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def evaluate(formula: str, names: dict, where: str = "formula"):
    """The value of a key's formula: numbers, names, + - * / // % **, lists, indexing and calls of `names`."""
    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](value(node.operand))
        if isinstance(node, (ast.List, ast.Tuple)):
            return [value(element) for element in node.elts]
        if isinstance(node, ast.Subscript):
            return value(node.value)[value(node.slice)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and callable(names.get(node.func.id)):
            return names[node.func.id](*map(value, node.args), **{k.arg: value(k.value) for k in node.keywords})
        raise SpecError(f"{where}: {ast.unparse(node)!r} is not allowed in the formula {formula!r} (numbers, the "
                        "question's parameters, arithmetic, lists and the functions " + ", ".join(sorted(
                            n for n, f in names.items() if callable(f))) + ")")
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError:
        raise SpecError(f"{where}: {formula!r} is not a formula") from None
    try:
        result = value(tree.body)
    except (ArithmeticError, ValueError, TypeError, IndexError) as error:
        raise SpecError(f"{where}: the formula {formula!r} fails: {error}") from None
    return [float(v) for v in result] if isinstance(result, list) else float(result)


def prelude(variant: Variant) -> Cell:
    """The cell run before a submission's code: `variant`, its paper's parameters and option orders (what the
    handout already shows), {"params": {question id: {name: value}}, "orders": {question id: the spec's labels in
    the order shown}}, so that the reference computes every variant's answers. Grading never reads it back: a
    submission that changes it changes nothing but its own code's values."""
    shown = {"params": variant.params, "orders": {qid: "".join(order) for qid, order in variant.orders.items()}}
    return Cell(label="variant (set by the grader)", source=f"variant = {json.loads(json.dumps(shown))!r}\n")


# ---------------------------------------------------------------------------- grading one paper

MAX_KEPT_ANSWER = 2000  # characters of JSON: an answer longer than this is not kept in the result


@dataclass
class Paper:
    """What grading one submission takes from its variant: the paper (the assignment restricted to it), its key
    and the prelude cell; for an exam without variants, the assignment itself and nothing else."""

    assignment: Assignment
    spec: Assignment                  # the exam as the spec has it, every question
    variant: Variant | None = None
    key: dict | None = None
    prelude: Cell | None = None
    owned: bool = False               # the variant is its owner's (found on the roster), not the plain paper

    @classmethod
    def of(cls, assignment: Assignment, variant: Variant | None) -> "Paper":
        paper = variant or plain(assignment)
        if paper is None:
            return cls(assignment, assignment)
        from grader.exam import load_key

        key = expected_answers(assignment, paper, load_key(assignment)) if assignment.key_path.exists() else None
        return cls(restrict(assignment, paper), assignment, paper, key, prelude(paper), owned=variant is not None)

    def record(self, result, answers: dict, submission) -> None:
        """Write the variant into the result (parameters, option orders, questions drawn, expected values and the
        answers read), and say whose paper it was graded as and which answers of other papers earned nothing."""
        if self.variant is None:
            return
        result.variant = {**self.variant.to_dict(), "expected": self.key,
                          "answers": {qid: kept for qid, kept in ((q, _kept(v)) for q, v in answers.items())
                                      if kept is not None}}
        if not self.owned and not result.public_only:
            result.warnings.append(f"graded as the plain paper of {self.spec.slug}: no roster named its owner "
                                   f"(grader grade --roster roster.csv grades each student's own variant)")
        others = [q.id for q in self.spec.questions if q.id not in self.variant.drawn and q.type in ANSWERED_TYPES
                  and _answered(submission, q.id)]
        if others:
            result.warnings.append(f"answers {', '.join(others)}, which {'is' if len(others) == 1 else 'are'} not on "
                                   f"this student's paper (variant {self.variant.id}): graded as the student's own "
                                   f"variant, where {'it earns' if len(others) == 1 else 'they earn'} nothing")


def _answered(submission, name: str) -> bool:
    if submission is None:
        return False
    try:
        return submission.value(name) is not None
    except errors.SubmissionError:
        return False


def _kept(value):
    """An answer as plain JSON data where it is short, else None."""
    value = value.tolist() if hasattr(value, "tolist") else value
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return None
    return json.loads(text) if len(text) <= MAX_KEPT_ANSWER else None


# ---------------------------------------------------------------------------- whose paper a submission is

def for_submission(assignment: Assignment, roster: Path, submission: str) -> Variant | None:
    """The variant of the student who owns the submission named `submission` (a file's stem or a folder's name,
    as a class folder names it), found on the roster CSV; None for an exam without variants. Nothing in the
    submission is read: its owner is who the roster says. A CourseError where no student owns it."""
    if not assignment.has_variants:
        return None
    from grader.course.roster import read_roster  # a course's roster file; read only to find the owner's id
    from grader.course.tables import CourseError

    student = read_roster(roster).find(submission)
    if student is None:
        raise CourseError(f"{roster}: no student on the roster owns the submission {submission!r}, so its variant "
                          f"of {assignment.slug} is unknown (add its name to the student's row, column submission)")
    return generate(assignment, student.id)
