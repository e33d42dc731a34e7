"""The assignment spec (`assignments/<slug>/assignment.yaml`): load, validate, locate."""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path

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
class Question:
    id: str
    title: str
    points: float
    manual: bool = False
    rubric: tuple[str, ...] = ()


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
    audit: AuditSettings = AuditSettings()

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


def project_root() -> Path:
    """The folder holding assignments/ and solutions/: $GRADER_HOME, else the nearest ancestor of the cwd."""
    if os.environ.get("GRADER_HOME"):
        return Path(os.environ["GRADER_HOME"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "assignments").is_dir():
            return folder
    raise SpecError("no assignments/ folder found here or above; run from the course repository or set GRADER_HOME")


def load(slug_or_path: str | os.PathLike) -> Assignment:
    """Load an assignment by slug (looked up under assignments/) or by the path of its folder."""
    path = Path(slug_or_path)
    folder = path if path.is_dir() and (path / "assignment.yaml").exists() else project_root() / "assignments" / str(slug_or_path)
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
        rubric = q.list("rubric", required=False)
        question = Question(
            id=q.str("id"),
            title=q.str("title"),
            points=q.number("points", positive=True),
            manual=q.bool("manual"),
            rubric=tuple(str(r) for r in rubric),
        )
        q.no_unknown()
        if any(other.id == question.id for other in questions):
            _fail(where, f"questions[{i}].id", f"{question.id!r} is used twice")
        questions.append(question)
    submission = reader.list("submission")
    if not submission or not all(isinstance(s, str) and s.endswith((".py", ".ipynb")) for s in submission):
        _fail(where, "submission", "must list file names ending in .py or .ipynb")
    cap, cap_bonus = _score_cap(reader, where)
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
        score_cap_bonus=cap_bonus,
        solution=root.parent.parent / "solutions" / f"{slug}.py",
        audit=_audit_settings(reader.mapping("audit", required=False), where),
    )
    reader.no_unknown()
    return assignment


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


def _call_timeouts(data: dict, where: Path) -> tuple[tuple[str, float], ...]:
    """Per-name call limits: `{train: 120}` gives calls of train (a function, or a method of a returned object) 120 s."""
    reader = _Reader(where, data, prefix="limits.call_timeouts.")
    for name in data:
        if not isinstance(name, str) or not name.isidentifier():
            _fail(where, f"limits.call_timeouts.{name}", "must be named by a function or method name")
    return tuple((name, float(reader.number(name, positive=True))) for name in data)


def _forbidden(reader: "_Reader", where: Path) -> tuple[str, ...]:
    """Forbidden packages are removed from the sandbox's view, so only whole top-level packages can be."""
    modules = tuple(str(m) for m in reader.list("forbidden", required=False))
    for index, module in enumerate(modules):
        if not module.isidentifier():
            _fail(where, f"forbidden[{index}]", f"is {module!r}: only a whole top-level package can be forbidden (it is "
                                                "removed from the sandbox); list a part of a package under "
                                                "forbidden_advisory, which the static scan reports but cannot enforce")
    return modules


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
