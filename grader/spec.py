"""The assignment spec (`assignments/<slug>/assignment.yaml`): load, validate, locate."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml


class SpecError(Exception):
    """An assignment spec is missing, unreadable or invalid; the message names file and key."""


@dataclass(frozen=True)
class Limits:
    call_timeout: float = 20.0
    call_timeouts: tuple[tuple[str, float], ...] = ()  # (function or method name, seconds): longer calls, e.g. train
    total_timeout: float = 600.0
    memory_mb: int = 2048
    processes: int = 16
    file_size_mb: int = 64
    disk_mb: int = 512        # the work folder and /tmp together, in MiB
    files: int = 10_000       # files and folders in them


QUESTION_TYPES = ("code", "numeric", "choice", "derivation", "free_text")
ANSWERED_TYPES = ("numeric", "choice", "derivation")  # graded by the grader from the key, with no test code
CHOICE_SCORING = ("all_or_nothing", "per_option")


@dataclass(frozen=True)
class Tolerance:
    """How close a numeric answer must be to the key: within any one of these bounds counts."""

    abs: float = 0.0
    rel: float = 0.0
    sigfigs: int = 0          # the answer agrees with the key when both are rounded to this many significant figures

    def bound(self, key: float) -> float:
        """The largest distance from `key` accepted."""
        figures = 0.5 * 10 ** (math.floor(math.log10(abs(key))) - self.sigfigs + 1) if self.sigfigs and key else 0.0
        return max(self.abs, self.rel * abs(key), figures)


@dataclass(frozen=True)
class RubricItem:
    """One item of a manual question's rubric: a stable id (grades refer to it), its points and what it asks."""

    id: str
    points: float
    text: str

    @property
    def label(self) -> str:
        """The item as the spec's plain form writes it: "2 points: derives the bound"."""
        return f"{self.points:g} point{'' if abs(self.points) == 1 else 's'}: {self.text}"


@dataclass(frozen=True)
class AuditSettings:
    """What `grader audit` requires (kill_rate) and grades: seeds besides the spec's, and the sample it grades
    by default and in CI (sample_*: None means all); `grader audit --full` grades every mutant and alternative."""

    kill_rate: float = 0.95
    seeds: int = 2
    sample_seeds: int = 1
    sample_mutants: int | None = 4
    sample_alternatives: int | None = 2


@dataclass(frozen=True)
class Parameter:
    """A value of a question drawn per student (grader.variants): from a range with a step, from a list of
    choices, or by the exam's generator; `default` is the plain paper's value."""

    name: str
    default: object
    range: tuple[float, float, float] | None = None  # (low, high, step), both ends included
    choices: tuple = ()
    generated: bool = False                          # set by the generator (variants.py) of the exam


@dataclass(frozen=True)
class Pool:
    """A part of an exam from which each student gets `draw` of the questions (equal points)."""

    draw: int
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    points: float
    manual: bool = False
    rubric: tuple[RubricItem, ...] = ()
    type: str = "code"
    options: tuple[str, ...] = ()                   # choice: labelled a, b, c, ... in this order
    multiple: bool = False                          # choice: several options may be right
    scoring: str = "all_or_nothing"                 # choice: or per_option (+1 right, -1 wrong, floored at 0)
    tolerance: Tolerance = Tolerance(rel=1e-6)      # numeric
    partial: tuple[Tolerance, float] | None = None  # numeric: a looser band, and the share of the points it earns
    inputs: tuple[tuple[tuple[str, float], ...], ...] = ()  # numeric formula: keyword arguments of each call
    family: str = ""                                # derivation: a family of grader.derivations
    goal: tuple[str, ...] = ()                      # derivation: (left, relation, right)
    parameters: tuple[Parameter, ...] = ()          # drawn per student (grader.variants)
    shuffle: bool = False                           # choice: options shown in an order drawn per student

    @property
    def labels(self) -> str:
        """The labels of a choice question's options."""
        return "abcdefghijklmnopqrstuvwxyz"[:len(self.options)]


@dataclass(frozen=True)
class LatePolicy:
    """When work is due and what lateness costs (`late:` in the spec); an exam window is the same thing.

    A submission after `deadline` plus `grace` loses `amount` per started `per` (a fraction of the maximum
    score, or points), never below `floor` (a fraction of the maximum score, as Canvas's "lowest possible
    grade"); after `cutoff` (a time after the deadline) it scores 0 or, with `after_cutoff: refuse`, is
    refused. One before `opens` is flagged. An extension moves the deadline and the cutoff, not `opens`.
    """

    deadline: dt.datetime
    opens: dt.datetime | None = None
    grace: dt.timedelta = dt.timedelta(0)
    per: dt.timedelta = dt.timedelta(days=1)
    amount: float = 0.0
    in_points: bool = False          # amount in points, not a fraction of the maximum score
    floor: float = 0.0
    cutoff: dt.timedelta | None = None
    refuse: bool = False             # after the cutoff: refused (no grade), not scored 0
    zone: dt.tzinfo | None = None    # the course's zone, for times written without one (default: the deadline's)

    @property
    def course_zone(self) -> dt.tzinfo:
        return self.zone or self.deadline.tzinfo


@dataclass(frozen=True)
class Assignment:
    slug: str
    title: str
    version: str
    root: Path
    submission: tuple[str, ...]
    questions: tuple[Question, ...]
    limits: Limits = Limits()
    forbidden: tuple[str, ...] = ()
    forbidden_advisory: tuple[str, ...] = ()
    preload: tuple[str, ...] = ("numpy", "torch")
    seed: int = 0
    score_cap: float | None = None
    score_cap_bonus: bool = False     # the cap is an exam's explicit bonus: losses above it may stay invisible
    solution: Path | None = None
    late: LatePolicy | None = None
    kind: str = "assignment"   # or "exam": a cap below the total is the exam's declared bonus
    audit: AuditSettings = AuditSettings()
    hidden_results: str = "shown"   # or "after_release": hidden tests' names and messages held back until released
    pools: tuple[Pool, ...] = ()     # parts of which each student gets some questions (grader.variants)
    generator: str = ""              # a Python file of the assignment that draws parameters (grader.variants)
    isolation: str = "any"          # the least a grading may run under: "own_user" or "bubblewrap" (ISOLATION_LEVELS)

    @property
    def has_variants(self) -> bool:
        """Whether students get different papers: drawn parameters, shuffled options or question pools."""
        return bool(self.pools or self.generator or any(q.parameters or q.shuffle for q in self.questions))

    @property
    def key_path(self) -> Path:
        """The secret answers of numeric and choice questions (hidden, never released)."""
        return self.hidden_tests / "key.yaml"

    @property
    def spec_path(self) -> Path:
        return self.root / "assignment.yaml"

    @property
    def public_tests(self) -> Path:
        return self.root / "tests" / "public"

    @property
    def hidden_tests(self) -> Path:
        return self.root / "tests" / "hidden"

    @property
    def mutants_path(self) -> Path:
        return self.root / "tests" / "mutants.yaml"

    @property
    def equivalent_mutants_path(self) -> Path:
        return self.root / "tests" / "equivalent_mutants.yaml"

    @property
    def alternatives_folder(self) -> Path:
        return self.root / "tests" / "alternatives"

    @property
    def total_points(self) -> float:
        return sum(q.points for q in self.questions)

    @property
    def max_score(self) -> float:
        """The most a submission can score: the total, or the cap where it is lower."""
        return self.total_points if self.score_cap is None else min(self.score_cap, self.total_points)

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def starter(self, suffix: str = ".py") -> Path:
        return self.root / f"starter{suffix}"

    @property
    def starters(self) -> tuple[Path, ...]:
        """The starter module and notebook (those that exist are what a student starts from)."""
        return self.starter(".py"), self.starter(".ipynb")


def project_root() -> Path:
    """The folder holding assignments/ and solutions/: $GRADER_HOME, else the nearest ancestor of the cwd."""
    if os.environ.get("GRADER_HOME"):
        return Path(os.environ["GRADER_HOME"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "assignments").is_dir():
            return folder
    raise SpecError("no assignments/ folder found here or above; run from the course repository or from inside "
                    "the assignment's folder (its release bundle), or set GRADER_HOME to the course repository")


def _bundle(slug: str) -> Path | None:
    """The assignment's own folder (a release bundle) when the cwd is in it or just above it; None elsewhere."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        for candidate in (folder, folder / slug):
            if candidate.name == slug and (candidate / "assignment.yaml").is_file():
                return candidate
    return None


def load(slug_or_path: str | os.PathLike) -> Assignment:
    """Load an assignment by the path of its folder, or by slug: under $GRADER_HOME/assignments/ where that is
    set, else the bundle the cwd is in (or holds), else under the nearest assignments/ folder above the cwd."""
    path = Path(slug_or_path)
    if path.is_dir() and (path / "assignment.yaml").exists():
        folder = path
    else:
        slug = str(slug_or_path)
        bundle = None if os.environ.get("GRADER_HOME") else _bundle(slug)
        folder = bundle or project_root() / "assignments" / slug
    spec_path = folder / "assignment.yaml"
    if not spec_path.exists():
        known = sorted(p.parent.name for p in (folder.parent).glob("*/assignment.yaml"))
        raise SpecError(f"no assignment {slug_or_path!r}: {spec_path} does not exist (known: {', '.join(known) or 'none'})")
    try:
        data = yaml.safe_load(spec_path.read_text())
    except yaml.YAMLError as error:
        raise SpecError(f"{spec_path}: not valid YAML: {error}") from None
    return parse(data, folder.resolve())


def parse(data, root: Path) -> Assignment:
    """Validate the spec's mapping and build an Assignment; every error names the bad key."""
    where = root / "assignment.yaml"
    reader = _Reader(where, data if isinstance(data, dict) else _fail(where, "", "the file must hold a mapping"))
    slug = reader.str("slug")
    if slug != root.name:
        _fail(where, "slug", f"is {slug!r} but the folder is named {root.name!r}")
    limits_data = reader.mapping("limits", required=False)
    limits_reader = _Reader(where, limits_data, prefix="limits.")
    limits = Limits(
        call_timeout=limits_reader.number("call_timeout", Limits.call_timeout, positive=True),
        call_timeouts=_call_timeouts(limits_reader.mapping("call_timeouts", required=False), where),
        total_timeout=limits_reader.number("total_timeout", Limits.total_timeout, positive=True),
        memory_mb=int(limits_reader.number("memory_mb", Limits.memory_mb, positive=True)),
        processes=int(limits_reader.number("processes", Limits.processes, positive=True)),
        file_size_mb=int(limits_reader.number("file_size_mb", Limits.file_size_mb, positive=True)),
        disk_mb=int(limits_reader.number("disk_mb", Limits.disk_mb, positive=True)),
        files=int(limits_reader.number("files", Limits.files, positive=True)),
    )
    limits_reader.no_unknown()
    questions = []
    raw_questions = reader.list("questions")
    if not raw_questions:
        _fail(where, "questions", "needs at least one question")
    for i, raw in enumerate(raw_questions):
        q = _Reader(where, raw if isinstance(raw, dict) else _fail(where, f"questions[{i}]", "must be a mapping"), prefix=f"questions[{i}].")
        question = _question(q)
        q.no_unknown()
        if any(other.id == question.id for other in questions):
            _fail(where, f"questions[{i}].id", f"{question.id!r} is used twice")
        questions.append(question)
    submission = reader.list("submission")
    if not submission or not all(isinstance(s, str) and s.endswith((".py", ".ipynb")) for s in submission):
        _fail(where, "submission", "must list file names ending in .py or .ipynb")
    cap, cap_bonus = _score_cap(reader, where)
    kind = reader.choice("kind", ("assignment", "exam"), "assignment")
    assignment = Assignment(
        slug=slug,
        title=reader.str("title"),
        version=str(reader.get("version", "0")),
        root=root,
        submission=tuple(submission),
        questions=tuple(questions),
        limits=limits,
        forbidden=_forbidden(reader, where),
        forbidden_advisory=tuple(str(m) for m in reader.list("forbidden_advisory", required=False)),
        preload=tuple(str(m) for m in reader.get("preload", ["numpy", "torch"])),
        seed=int(reader.number("seed", 0)),
        score_cap=cap,
        score_cap_bonus=cap_bonus or kind == "exam",  # an exam's cap below its total is its declared bonus
        solution=root.parent.parent / "solutions" / f"{slug}.py",
        kind=kind,
        late=_late(reader.mapping("late", required=False), where),
        hidden_results=reader.choice("hidden_results", HIDDEN_RESULTS, HIDDEN_RESULTS[0]),
        isolation=reader.choice("isolation", ISOLATION_LEVELS, ISOLATION_LEVELS[0]),
        audit=_audit_settings(reader.mapping("audit", required=False), where),
        **_variants(reader.mapping("variants", required=False), questions, where),
    )
    reader.no_unknown()
    return assignment


def _question(q: "_Reader") -> Question:
    """One question of the spec, with what its type needs (options, tolerances, inputs, a goal) checked."""
    kind = q.choice("type", QUESTION_TYPES, "code")
    fields = dict(id=q.str("id"), title=q.str("title"), points=q.number("points", positive=True), type=kind,
                  manual=q.bool("manual") or kind == "free_text", rubric=_rubric(q.list("rubric", required=False), q.where, q.prefix + "rubric"))
    if fields["id"] and not fields["id"].isidentifier() and kind in ANSWERED_TYPES:
        _fail(q.where, q.prefix + "id", f"is {fields['id']!r}: an answered question's id names the variable "
                                        "holding the answer, so it must be a Python identifier")
    if kind == "choice":
        options = q.list("options")
        if not 2 <= len(options) <= 26 or not all(isinstance(o, str) and o.strip() for o in options):
            _fail(q.where, q.prefix + "options", "must list 2 to 26 options, each a non-empty string")
        multiple = q.bool("multiple")
        fields.update(options=tuple(options), multiple=multiple,
                      scoring=q.choice("scoring", CHOICE_SCORING, "per_option" if multiple else "all_or_nothing"),
                      shuffle=q.bool("shuffle"))
    elif kind == "numeric":
        tolerance = q.mapping("tolerance", required=False)
        fields["tolerance"] = _tolerance(q.where, q.prefix + "tolerance", tolerance) if tolerance else Question.tolerance
        band = dict(q.mapping("partial", required=False))
        if band:
            credit = band.pop("credit", None)
            if isinstance(credit, bool) or not isinstance(credit, (int, float)) or not 0 < credit < 1:
                _fail(q.where, q.prefix + "partial.credit", f"must be the share of the points earned, between 0 and 1, "
                                                            f"got {credit!r}")
            fields["partial"] = (_tolerance(q.where, q.prefix + "partial", band), float(credit))
        inputs = q.list("inputs", required=False)
        if not all(isinstance(i, dict) and all(isinstance(k, str) and k.isidentifier() for k in i) for i in inputs):
            _fail(q.where, q.prefix + "inputs", "must list mappings of argument names to values, one per call")
        fields["inputs"] = tuple(tuple(i.items()) for i in inputs)
    elif kind == "derivation":
        from grader.derivations import FAMILIES
        fields["family"] = q.choice("family", tuple(FAMILIES), "elbo")
        goal = q.list("goal")
        if len(goal) != 3 or not all(isinstance(g, str) for g in goal) or goal[1] not in ("=", ">=", "<="):
            _fail(q.where, q.prefix + "goal", "must be [left, relation, right] with the relation =, >= or <=")
        fields["goal"] = tuple(goal)
    fields["parameters"] = _parameters(q.mapping("parameters", required=False), q.where, q.prefix + "parameters")
    if kind == "numeric":
        names = {p.name for p in fields["parameters"]}
        for index, call in enumerate(fields["inputs"]):
            for argument, value in call:
                if isinstance(value, str) and value not in names:
                    _fail(q.where, f"{q.prefix}inputs[{index}].{argument}", f"names {value!r}, which is not a "
                                                                           "parameter of the question")
    return Question(**fields)


def _parameters(data: dict, where: Path, key: str) -> tuple[Parameter, ...]:
    """`{name: {range: [low, high], step: s, default: v}}`, `{name: {choices: [...], default: v}}` or
    `{name: {generated: true, default: v}}`: each parameter drawn per student, with the plain paper's value."""
    parameters = []
    for name, raw in data.items():
        at = f"{key}.{name}"
        if not isinstance(name, str) or not name.isidentifier():
            _fail(where, at, "must be named by a Python identifier (the key's formulas use the name)")
        reader = _Reader(where, raw if isinstance(raw, dict) else _fail(where, at, "must be a mapping"), prefix=at + ".")
        if "default" not in reader.data:
            _fail(where, at + ".default", "is required: the value of the plain paper (and of the handout as written)")
        default, kinds = reader.get("default"), [k for k in ("range", "choices", "generated") if k in reader.data]
        if len(kinds) != 1:
            _fail(where, at, "needs exactly one of range, choices or generated")
        parameter = Parameter(name, default)
        if kinds == ["range"]:
            bounds = reader.list("range")
            numbers = [*bounds, reader.get("step", 1)]
            if len(bounds) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers) \
                    or bounds[0] > bounds[1] or numbers[2] <= 0:
                _fail(where, at, "range must be [low, high] (numbers, low <= high) with a positive step (default 1)")
            parameter = Parameter(name, default, range=tuple(numbers))
        elif kinds == ["choices"]:
            choices = reader.list("choices")
            if not choices:
                _fail(where, at + ".choices", "must list at least one value")
            parameter = Parameter(name, default, choices=tuple(choices))
        else:
            parameter = Parameter(name, default, generated=reader.bool("generated"))
        reader.no_unknown()
        parameters.append(parameter)
    return tuple(parameters)


def _variants(data: dict, questions: list[Question], where: Path) -> dict:
    """`variants: {generator: variants.py, pools: [{draw: 1, questions: [a, b]}]}`: the Assignment's fields."""
    reader = _Reader(where, data, prefix="variants.")
    generator = str(reader.get("generator", ""))  # not shipped to students: validate checks that it is there
    if any(p.generated for q in questions for p in q.parameters) and not generator:
        _fail(where, "variants.generator", "is needed: a question has a generated parameter")
    by_id, pools, pooled = {q.id: q for q in questions}, [], set()
    for index, raw in enumerate(reader.list("pools", required=False)):
        at = f"variants.pools[{index}]"
        pool = _Reader(where, raw if isinstance(raw, dict) else _fail(where, at, "must be a mapping"), prefix=at + ".")
        ids, draw = pool.list("questions"), pool.number("draw", positive=True)
        pool.no_unknown()
        unknown = [qid for qid in ids if qid not in by_id]
        if unknown or len(set(ids)) != len(ids) or pooled & set(ids):
            _fail(where, at + ".questions", f"{unknown[0]!r} is not a question of the spec" if unknown else
                  "names a question twice, or one of another pool")
        if len({by_id[qid].points for qid in ids}) > 1:
            _fail(where, at + ".questions", "must be worth the same points, so that every student's total is the same")
        if draw != int(draw) or not 1 <= draw < len(ids):
            _fail(where, at + ".draw", f"must be a whole number from 1 to {len(ids) - 1} (fewer than the questions)")
        pooled.update(ids)
        pools.append(Pool(int(draw), tuple(ids)))
    reader.no_unknown()
    return {"pools": tuple(pools), "generator": generator}


def _tolerance(where: Path, key: str, data: dict) -> Tolerance:
    """A tolerance mapping {abs, rel, sigfigs}, at least one of them positive."""
    bounds = _Reader(where, data, prefix=key + ".")
    tolerance = Tolerance(abs=bounds.number("abs", 0.0), rel=bounds.number("rel", 0.0),
                          sigfigs=int(bounds.number("sigfigs", 0)))
    bounds.no_unknown()
    if min(tolerance.abs, tolerance.rel, tolerance.sigfigs) < 0 or not (tolerance.abs or tolerance.rel or tolerance.sigfigs):
        _fail(where, key, "needs at least one positive bound among abs, rel and sigfigs")
    return tolerance


def _score_cap(reader: "_Reader", where: Path) -> tuple[float | None, bool]:
    """`score_cap: 100`, or `score_cap: {points: 100, bonus: true}` where the cap is an exam's explicit bonus."""
    cap = reader.get("score_cap")
    if isinstance(cap, dict):
        cap_reader = _Reader(where, cap, prefix="score_cap.")
        points, bonus = cap_reader.number("points", positive=True), cap_reader.bool("bonus")
        cap_reader.no_unknown()
        return points, bonus
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 < cap < math.inf):
        _fail(where, "score_cap", f"must be a positive number, got {cap!r} (or {{points: n, bonus: true}})")
    return cap, False


def _audit_settings(data: dict, where: Path) -> AuditSettings:
    """`audit: {kill_rate: 0.95, seeds: 2, sample: {seeds: 1, mutants: 4, alternatives: 2}}`."""
    reader = _Reader(where, data, prefix="audit.")
    rate = reader.number("kill_rate", AuditSettings.kill_rate)
    if not 0 <= rate <= 1:
        _fail(where, "audit.kill_rate", f"must be a share between 0 and 1 (0.95 for 95%), got {rate!r}")
    seeds = _count(reader, "seeds", AuditSettings.seeds)
    sample = _Reader(where, reader.mapping("sample", required=False), prefix="audit.sample.")
    settings = AuditSettings(
        kill_rate=rate, seeds=seeds,
        sample_seeds=min(seeds, _count(sample, "seeds", AuditSettings.sample_seeds)),
        sample_mutants=_count(sample, "mutants", AuditSettings.sample_mutants, all_allowed=True),
        sample_alternatives=_count(sample, "alternatives", AuditSettings.sample_alternatives, all_allowed=True))
    sample.no_unknown()
    reader.no_unknown()
    return settings


def _count(reader: "_Reader", key: str, default: int | None, all_allowed: bool = False) -> int | None:
    """A whole number of things, at least 0; `all` (None) where allowed."""
    value = reader.get(key, "all" if default is None else default)
    if all_allowed and value == "all":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(reader.where, reader.prefix + key, f"must be a whole number, at least 0{' or all' if all_allowed else ''}, "
                                                 f"got {value!r}")
    return value


HIDDEN_RESULTS = ("shown", "after_release")  # the first is the default
# The least isolation a grading may run under, weakest first (the default): any; student code under a user of its
# own, which cannot read the grader's files (rlimits as root, or bubblewrap); bubblewrap's sandbox.
ISOLATION_LEVELS = ("any", "own_user", "bubblewrap")


def _call_timeouts(data: dict, where: Path) -> tuple[tuple[str, float], ...]:
    """Per-name call limits: `{train: 120}` gives calls of train (a function, or a method of a returned object) 120 s."""
    reader = _Reader(where, data, prefix="limits.call_timeouts.")
    for name in data:
        if not isinstance(name, str) or not name.isidentifier():
            _fail(where, f"limits.call_timeouts.{name}", "must be named by a function or method name")
    return tuple((name, float(reader.number(name, positive=True))) for name in data)


_PLAIN_ITEM = re.compile(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s+points?\s*:\s*(.+)", re.DOTALL)


def _rubric(raw: list, where: Path, key: str) -> tuple[RubricItem, ...]:
    """Rubric items, each `{id, points, text}` or a plain string "2 points: text".

    A plain string's id is derived from its text (not its points), so editing the points keeps the id
    and the grades given with it; ids must be unique within the question.
    """
    items = []
    for index, entry in enumerate(raw):
        if isinstance(entry, str):
            match = _PLAIN_ITEM.fullmatch(entry)
            if not match:
                _fail(where, f"{key}[{index}]", f"must read '<points> points: <text>' or be a mapping "
                                                f"{{id, points, text}}, got {entry!r}")
            text = match.group(2).strip()
            item = RubricItem("r-" + hashlib.sha256(text.encode()).hexdigest()[:8], float(match.group(1)), text)
        elif isinstance(entry, dict):
            reader = _Reader(where, entry, prefix=f"{key}[{index}].")
            item_id = reader.str("id")
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", item_id):
                _fail(where, f"{key}[{index}].id", f"must be letters, digits, '_', '.' or '-', got {item_id!r}")
            item = RubricItem(item_id, float(reader.number("points")), reader.str("text").strip())
            reader.no_unknown()
        else:
            _fail(where, f"{key}[{index}]", f"must be a string or a mapping {{id, points, text}}, got {entry!r}")
        if any(other.id == item.id for other in items):
            _fail(where, f"{key}[{index}]", f"repeats the id {item.id!r} of another item (the same text twice?)")
        items.append(item)
    return tuple(items)


def _forbidden(reader: "_Reader", where: Path) -> tuple[str, ...]:
    """Forbidden packages are removed from the sandbox's view, so only whole top-level packages can be."""
    modules = tuple(str(m) for m in reader.list("forbidden", required=False))
    for index, module in enumerate(modules):
        if not module.isidentifier():
            _fail(where, f"forbidden[{index}]", f"is {module!r}: only a whole top-level package can be forbidden (it is "
                                                "removed from the sandbox); list a part of a package under "
                                                "forbidden_advisory, which the static scan reports but cannot enforce")
    return modules


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?) *(minutes?|min|m|hours?|h|days?|d|weeks?|w)", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta:
    """'15 minutes', '2 h', '3 days', '1 week' as a timedelta; ValueError for anything else."""
    match = _DURATION.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration such as '15 minutes', '2 hours' or '3 days'")
    return dt.timedelta(**{_UNITS[match[2][0].lower()]: float(match[1])})


_DATE_ONLY = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}")


def has_zone(value) -> bool:
    """Whether a time as written carries its own offset or zone name (else it is read in the course's zone)."""
    try:
        parse_time(value)
    except ValueError as error:
        return "has no time zone" not in str(error)
    return True


def parse_time(value, zone: dt.tzinfo | None = None) -> dt.datetime:
    """An ISO 8601 time with its offset ('2026-03-01T23:59+01:00', 'Z', Gradescope's '2026-03-01 23:59:00 -0800')
    or followed by a zone name ('2026-03-01 23:59 Europe/Zurich'); a time without either is read in `zone`
    and is a ValueError without one."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        raise ValueError(f"{value} is a date without a time of day")
    if not isinstance(value, dt.datetime):
        text = str(value).strip()
        if _DATE_ONLY.fullmatch(text):
            raise ValueError(f"{text} is a date without a time of day (write the time too, e.g. {text} 23:59)")
        head, _, name = text.rpartition(" ")
        if "/" in name or name.upper() == "UTC":
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{name!r} is not a known time zone") from None
            text = head
        text = re.sub(r" ?([+-])([0-9]{2}):?([0-9]{2})$", r"\1\2:\3", re.sub(r"Z$", "+00:00", text))
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{str(value)!r} is not a time such as 2026-03-01T23:59:00+01:00") from None
    if value.tzinfo is None:
        if zone is None:
            raise ValueError(f"{value.isoformat()} has no time zone: add an offset (+01:00) or a zone (Europe/Zurich)")
        value = value.replace(tzinfo=zone)
    return value


def _late(data: dict, where: Path) -> LatePolicy | None:
    """The `late:` mapping: deadline (required), opens, grace, penalty {per, fraction or points, floor}, cutoff."""
    if not data:
        return None
    reader = _Reader(where, data, prefix="late.")

    def read(key, parse, default=None):
        value = reader.get(key)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as error:
            _fail(where, f"late.{key}", str(error))

    zone = read("zone", _zone)
    deadline = read("deadline", lambda v: parse_time(v, zone)) or _fail(where, "late.deadline",
                                                                         "is required (a time with its zone)")
    zone = zone or deadline.tzinfo
    opens = read("opens", lambda v: parse_time(v, zone))
    if opens is not None and _utc(opens) >= _utc(deadline):
        _fail(where, "late.opens", f"is {opens.isoformat()}, not before the deadline {deadline.isoformat()}")
    cutoff = read("cutoff", lambda v: parse_duration(v) if _DURATION.fullmatch(str(v).strip())
                  else _utc(parse_time(v, zone)) - _utc(deadline))
    if cutoff is not None and cutoff < dt.timedelta(0):
        _fail(where, "late.cutoff", "is before the deadline")
    after = reader.get("after_cutoff", "zero")
    if after not in ("zero", "refuse"):
        _fail(where, "late.after_cutoff", f"must be zero or refuse, got {after!r}")
    penalty = _Reader(where, reader.mapping("penalty", required=False), prefix="late.penalty.")
    per = penalty.get("per", "day")
    if per not in ("day", "hour"):
        _fail(where, "late.penalty.per", f"must be day or hour, got {per!r}")
    if "fraction" in penalty.data and "points" in penalty.data:
        _fail(where, "late.penalty", "takes fraction or points, not both")
    in_points = "points" in penalty.data
    amount = penalty.number("points" if in_points else "fraction", 0)
    floor = penalty.number("floor", 0)
    for key, value, top in (("fraction", amount, 1), ("floor", floor, 1), ("points", amount, math.inf)):
        if key in penalty.data and not 0 <= value <= top:
            _fail(where, f"late.penalty.{key}", f"must be between 0 and {top}, got {value!r}")
    penalty.no_unknown()
    policy = LatePolicy(deadline=deadline, opens=opens, grace=read("grace", parse_duration, dt.timedelta(0)),
                        per=dt.timedelta(days=1) if per == "day" else dt.timedelta(hours=1), amount=amount,
                        in_points=in_points, floor=floor, cutoff=cutoff, refuse=after == "refuse", zone=zone)
    reader.no_unknown()
    return policy


def _zone(name) -> dt.tzinfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known time zone (a name such as Europe/Zurich)") from None


def _utc(time: dt.datetime) -> dt.datetime:
    return time.astimezone(dt.timezone.utc)


class _Reader:
    """Reads keys of one mapping, remembering which were seen, failing with file and key."""

    def __init__(self, where: Path, data, prefix: str = ""):
        self.where, self.data, self.prefix, self.seen = where, data or {}, prefix, set()

    def get(self, key, default=None):
        self.seen.add(key)
        return self.data.get(key, default)

    def str(self, key) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value.strip():
            _fail(self.where, self.prefix + key, f"must be a non-empty string, got {value!r}")
        return value

    def number(self, key, default=None, positive=False) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                positive and value <= 0):
            _fail(self.where, self.prefix + key, f"must be a {'positive ' if positive else ''}number, got {value!r}")
        return value

    def choice(self, key, allowed: tuple[str, ...], default: str) -> str:
        value = self.get(key, default)
        if value not in allowed:
            _fail(self.where, self.prefix + key, f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def bool(self, key, default=False) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            _fail(self.where, self.prefix + key, f"must be true or false, got {value!r}")
        return value

    def list(self, key, required=True) -> list:
        value = self.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            _fail(self.where, self.prefix + key, f"must be a list, got {value!r}")
        return value

    def mapping(self, key, required=True) -> dict:
        value = self.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            _fail(self.where, self.prefix + key, f"must be a mapping, got {value!r}")
        return value

    def no_unknown(self):
        unknown = sorted(map(str, set(self.data) - self.seen))
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(self.seen), n=1)
            _fail(self.where, self.prefix + unknown[0], "is not a known key" + (f" (did you mean {close[0]}?)" if close else ""))


def _fail(where: Path, key: str, message: str):
    raise SpecError(f"{where}: {key + ' ' if key else ''}{message}")
