"""Questions answered with plain data (numeric, choice, derivation), graded by the grader itself.

An exam's spec declares each question's type (`grader.spec.Question`); the secret answers of
numeric and choice questions are in the key, `tests/hidden/key.yaml`, which release never
ships. The student's answer to question `q` is the value of the variable `q` in the submission
(a notebook's cell tagged `q`, or anywhere in a module); for a numeric formula, `q` is a
function the grader calls on the spec's inputs. The value is read through the sandbox like any
other result, so it is plain data, and every check here treats it as hostile: a string where a
number belongs, a choice outside the options, a derivation with a huge step each earn 0 for
that question alone, with a reason, and the grader's own work on one answer stops at a deadline
(`grader.deadline`) as long as one call of the student's code may take (the spec's
`limits.call_timeout`), past which that answer alone earns 0, "took too long".
Free-text answers are found in the submission's text by grader.answers (a cell tagged with the
question id, a marked comment block), or are a string variable named by the id.

The key's questions are collected by pytest as items of `key.yaml` (one per question, worth its
points, hidden), so they run, time out and report like any test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader import errors
from grader.answers import MAX_ANSWER_CHARS
from grader.deadline import TookTooLong, deadline
from grader.derivations import FAMILIES, check
from grader.notebook import Cell
from grader.spec import ANSWERED_TYPES, Assignment, Question, SpecError

PREVIEW = 60              # characters of a wrong answer quoted back
MAX_ANSWER_ENTRIES = 10_000
DERIVATION_INSTANCES = 40
UNANSWERED = "not answered"


class PartialCredit(AssertionError):
    """A test that earned `credit` (a share of its points, below 1) and says why not all of it."""

    def __init__(self, credit: float, message: str):
        super().__init__(message)
        self.credit = credit


def load_key(assignment: Assignment) -> dict:
    """The secret answers, checked against the spec: every numeric and choice question has one."""
    path = assignment.key_path
    try:
        key = yaml.safe_load(path.read_text()) if path.exists() else {}
    except (OSError, yaml.YAMLError) as error:
        raise SpecError(f"{path}: not readable YAML: {error}") from None
    if not isinstance(key, dict):
        raise SpecError(f"{path}: must map question ids to answers")
    for question in assignment.questions:
        if question.type in ("numeric", "choice") and question.id not in key:
            raise SpecError(f"{path}: no answer for question {question.id!r} ({question.type})")
        if question.type == "choice":
            right = key[question.id] if isinstance(key[question.id], list) else [key[question.id]]
            if not right or any(label not in question.labels for label in right):
                raise SpecError(f"{path}: {question.id}: the answer must be labels among {', '.join(question.labels)}")
        if question.type == "numeric" and question.inputs and not isinstance(key[question.id], str) and (
                not isinstance(key[question.id], list) or len(key[question.id]) != len(question.inputs)):
            raise SpecError(f"{path}: {question.id}: the answer must list one value per input ({len(question.inputs)}), "
                            "or be one formula of the arguments")
    unknown = sorted(set(key) - {q.id for q in assignment.questions if q.type in ANSWERED_TYPES})
    if unknown:
        raise SpecError(f"{path}: {unknown[0]!r} is not a numeric, choice or derivation question of the spec")
    return key


# ---------------------------------------------------------------------------- grading one answer

def grade_numeric(question: Question, answer, expected) -> tuple[float, str]:
    """Credit (1, the partial band's share, or 0) and the reason for a number or an array against the key."""
    value, problem = _as_numbers(answer)
    if problem:
        return 0.0, problem
    expected = np.asarray(expected, dtype=float)
    if value.shape != expected.shape:
        return 0.0, f"expected {_shape(expected)}, got {_shape(value)}"
    if not np.all(np.isfinite(value)):
        return 0.0, "the answer is not a finite number"
    distance = np.abs(value - expected)
    if _within(distance, expected, question.tolerance):
        return 1.0, ""
    worst = float(np.max(distance))
    if question.partial and _within(distance, expected, question.partial[0]):
        return question.partial[1], f"close, but not within the tolerance (off by {worst:.3g}): partial credit"
    if expected.ndim == 0:
        return 0.0, f"not the right value (off by {worst:.3g})"
    first = np.argwhere(distance > np.vectorize(question.tolerance.bound, otypes=[float])(expected))[0]
    return 0.0, f"not the right values: the first wrong entry is at index {tuple(int(i) for i in first)}"


def grade_formula(question: Question, outcomes: list[tuple[str, object]], expected: list) -> tuple[float, str]:
    """Credit for a function answer: the share of the spec's inputs on which it matches the key.

    `outcomes` holds, per input, (why the call failed, "" if it did not; the value it returned).
    """
    right, reasons = 0, []
    for (inputs, (problem, value)), wanted in zip(zip(question.inputs, outcomes), expected):
        if problem.startswith(UNANSWERED) or value is None and not problem:
            return 0.0, problem or f"{UNANSWERED}: {question.id}(...) returns None"
        credit, reason = (0.0, problem) if problem else grade_numeric(question, value, wanted)
        right += credit == 1.0
        if credit < 1.0:
            reasons.append(f"for {', '.join(f'{k}={v!r}' for k, v in inputs)}: {reason}")
    return right / max(1, len(question.inputs)), reasons[0] if reasons else ""


def grade_choice(question: Question, answer, right: list[str]) -> tuple[float, str]:
    """Credit for a label or a list of labels, by the question's scoring rule."""
    chosen = [answer] if isinstance(answer, str) else answer
    if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
        return 0.0, f"expected {'a list of labels' if question.multiple else 'a label'} ({_labels(question)}), got {_preview(answer)}"
    picked = {c.strip().strip("()").lower() for c in chosen[:MAX_ANSWER_ENTRIES]}
    outside = sorted(p for p in picked if p not in question.labels or len(p) != 1)
    if outside:
        return 0.0, f"{_preview(outside[0])} is not one of the options ({_labels(question)})"
    if not picked:
        return 0.0, "no option chosen"
    if not question.multiple and len(picked) > 1:
        return 0.0, f"choose one option, not {len(picked)}"
    right_set = set(right)
    if picked == right_set:
        return 1.0, ""
    if question.scoring == "all_or_nothing":
        return 0.0, "not the right choice" if not question.multiple else "not the right set of choices"
    hits, misses = len(picked & right_set), len(picked - right_set)
    credit = max(0, hits - misses) / len(right_set)
    return credit, f"{hits} of {len(right_set)} right options chosen, {misses} wrong one{'s' * (misses != 1)}"


def grade_derivation(question: Question, answer, seed: int, seconds: float = 10.0) -> tuple[float, str]:
    """Credit from the derivation checker, within `seconds`, for a list of steps that should prove the
    question's goal."""
    if not isinstance(answer, (list, tuple)) or not all(isinstance(step, str) for step in answer):
        return 0.0, f"expected a list of steps (strings), got {_preview(answer)}"
    verdict = check(list(answer), tuple(question.goal), FAMILIES[question.family], instances=DERIVATION_INSTANCES,
                    seed=seed, seconds=seconds)
    return verdict.credit, "" if verdict.credit >= 1 else verdict.message()


def beside_the_form(question: Question, answer, expected) -> str:
    """The student's answer next to the form the key takes (never the key's value), for a wrong answer's message."""
    if question.type == "numeric":
        tolerance = question.tolerance
        bounds = [f"{tolerance.abs:g} absolute" if tolerance.abs else "", f"{tolerance.rel:.3g} relative"
                  if tolerance.rel else "", f"{tolerance.sigfigs} significant figures" if tolerance.sigfigs else ""]
        within = " or ".join(bound for bound in bounds if bound)
        form = _shape(np.asarray(expected, dtype=float)) + (f", within {within}" if within else "")
    elif question.type == "choice":
        form = f"{'a list of labels' if question.multiple else 'one label'} among {_labels(question)}"
    else:
        form = "a list of steps (strings), each naming the rule it applies, ending at the goal"
    shown = repr(answer)[:10 * PREVIEW] if isinstance(answer, (int, float, str, list, tuple, np.ndarray)) else \
        f"a {type(answer).__name__}"
    return f"\nyour answer: {shown[:PREVIEW]}{'...' if len(shown) > PREVIEW else ''}\nexpected: {form}"


def _as_numbers(answer) -> tuple[np.ndarray | None, str]:
    if isinstance(answer, str):
        return None, f"expected a number, got text {_preview(answer)}"
    if isinstance(answer, bool) or answer is None:
        return None, f"expected a number, got {answer!r}"
    try:
        value = np.asarray(answer, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None, f"expected a number or an array of numbers, got {_preview(answer)}"
    if value.size > MAX_ANSWER_ENTRIES:
        return None, f"the answer has {value.size} entries; far more than asked"
    return value, ""


def _within(distance: np.ndarray, expected: np.ndarray, tolerance) -> bool:
    bounds = np.vectorize(tolerance.bound, otypes=[float])(expected) if expected.size else expected
    return bool(np.all(distance <= bounds * (1 + 1e-12)))


def _shape(value: np.ndarray) -> str:
    return "a single number" if value.ndim == 0 else f"an array of shape {tuple(value.shape)}"


def _labels(question: Question) -> str:
    return f"{question.labels[0]} to {question.labels[-1]}"


def _preview(value) -> str:
    text = value if isinstance(value, str) else repr(value) if isinstance(value, (int, float, list, tuple, dict)) else \
        f"a {type(value).__name__}"
    text = text[:10 * PREVIEW]
    shown = repr(text[:PREVIEW]) + ("..." if len(text) > PREVIEW else "")
    return shown + (f" ({len(value)} characters)" if isinstance(value, str) and len(value) > PREVIEW else "")


# ---------------------------------------------------------------------------- where answers are

def misplaced(cells: list[Cell], assignment: Assignment) -> list[str]:
    """Notes on answers given outside the cell tagged with their question (graded all the same)."""
    tagged = {tag for cell in cells for tag in cell.tags}
    notes = []
    for question in assignment.questions:
        if question.type not in ANSWERED_TYPES or question.id not in tagged:
            continue
        homes = [cell for cell in cells if question.id in _assigned_names(cell.source)]
        if homes and question.id not in homes[-1].tags:  # the last assignment is the answer graded
            notes.append(f"question {question.id}: answered in {homes[-1].label}, not in the cell tagged "
                         f"{question.id} (graded all the same)")
    return notes


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        for target in getattr(node, "targets", [getattr(node, "target", None)]):
            if isinstance(target, ast.Name):
                names.add(target.id)
    return names


def answer_variable(question: Question, submission) -> str:
    """A free-text answer given as a string variable named by the question's id (where no cell or comment holds it)."""
    if submission is None or not question.id.isidentifier():
        return ""
    try:
        value = submission.value(question.id)
    except errors.SubmissionError:
        return ""
    return value[:MAX_ANSWER_CHARS] if isinstance(value, str) else ""


# ---------------------------------------------------------------------------- as pytest items

class KeyFile(pytest.File):
    """`tests/hidden/key.yaml`: one item per numeric, choice and derivation question."""

    plugin = None  # the GraderPlugin that collected it

    def collect(self):
        key = self.plugin.key if self.plugin.key is not None else load_key(self.plugin.assignment)
        for question in self.plugin.assignment.questions:
            if question.type in ANSWERED_TYPES:
                yield AnswerItem.from_parent(self, name=question.id, question=question, expected=key.get(question.id))


class AnswerItem(pytest.Item):
    """The grading of one answered question: its points, all or in part, with the reason."""

    def __init__(self, *, question: Question, expected, **kwargs):
        super().__init__(**kwargs)
        self.question, self.expected = question, expected
        self.add_marker(pytest.mark.question(question.id))
        self.add_marker(pytest.mark.points(question.points))

    def runtest(self):
        plugin = self.parent.plugin
        side, question = plugin.submission_side(), self.question
        seconds = plugin.assignment.limits.call_timeout  # the grader's own work on the answer: as long as a call
        if question.type == "numeric" and question.inputs:
            outcomes = [_call(side, question.id, dict(i)) for i in question.inputs]
            plugin.answers[question.id] = [value for _, value in outcomes]
            credit, reason = _graded(question, lambda: grade_formula(question, outcomes, self.expected), seconds)
        else:
            answer = _read(side, question.id)
            plugin.answers[question.id] = None if answer is _UNANSWERED else answer
            if answer is _UNANSWERED:
                raise AssertionError(f"{UNANSWERED}: set {question.id} in the cell tagged {question.id}")
            credit, reason = _graded(question, lambda: self._grade(answer, plugin.assignment.seed, seconds), seconds)
        if credit < 1:
            raise PartialCredit(credit, f"{question.id}: {reason}") if credit > 0 else AssertionError(
                f"{question.id}: {reason}")

    def _grade(self, answer, seed: int, seconds: float) -> tuple[float, str]:
        """The credit and reason; a wrong answer's reason shows it beside the form the key takes."""
        question = self.question
        if question.type == "numeric":
            credit, reason = grade_numeric(question, answer, self.expected)
        elif question.type == "choice":
            right = self.expected if isinstance(self.expected, list) else [self.expected]
            credit, reason = grade_choice(question, answer, right)
        else:
            credit, reason = grade_derivation(question, answer, seed=seed, seconds=seconds)
        return credit, reason + (beside_the_form(question, answer, self.expected) if credit < 1 else "")

    def reportinfo(self):
        return self.path, None, f"{self.question.type} question {self.question.id}"


_UNANSWERED = object()  # what _read returns for a name that is None or not defined


def _graded(question: Question, grade, seconds: float) -> tuple[float, str]:
    """The credit and reason `grade()` gives, or 0 and "took too long" past `seconds`."""
    try:
        with deadline(seconds, f"grading the answer to {question.id}"):
            return grade()
    except TookTooLong as error:
        return 0.0, str(error)


def _read(side, name: str):
    try:
        value = side.value(name)
    except errors.MissingName:
        return _UNANSWERED
    return _UNANSWERED if value is None else value


def _call(side, name: str, inputs: dict) -> tuple[str, object]:
    """("", the function's value on `inputs`), or (why the call failed, None)."""
    try:
        return "", side.call(name, (), inputs)
    except errors.MissingName:
        return f"{UNANSWERED}: define the function {name}({', '.join(inputs)})", None
    except errors.SubmissionError as error:
        return f"the call failed: {error}", None


def is_key_file(path: Path, assignment: Assignment) -> bool:
    return path.resolve() == assignment.key_path.resolve()

