"""Prove an assignment's tests strong and fair.

Every requirement its handout states is checked by a test that says so (grader.requirements).

The reference earns full marks (as a module under several seeds, and as a notebook), the starter
almost nothing, each hand-written mutant (tests/mutants.yaml) loses exactly the questions it names,
each alternative correct solution (tests/alternatives/) earns full marks but for the questions it
declares, automatic mutants of the reference (grader.mutation) are killed at the rate the spec
requires, and no mutant that loses points keeps the reference's capped score. Every variant is
graded as a student's submission is: through grade_batch, one sandboxed grader process each.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import yaml

from grader.batch import grade_batch
from grader.mutation import SEMANTIC, AutoMutant, generate, sample
from grader.notebook import from_percent_script
from grader.requirements import Coverage, collect
from grader.results import GradeResult
from grader.spec import Assignment, SpecError

if TYPE_CHECKING:
    from grader.speed_margins import SpeedMargins

STARTER_SHARE = 0.05
SPEED_REPEATS = 5             # timings of each solution in a full audit's speed margins
UNREACHED = "(no question)"   # the survivors of functions in which no question kills a mutant


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    replace: tuple[tuple[str, str], ...]
    loses: frozenset[str]


@dataclass(frozen=True)
class Variant:
    """One submission the audit grades, and what it must score."""

    name: str
    source: str
    suffix: str                      # ".py" or ".ipynb"
    expect: str                      # "full", "starter", "mutant" (hand-written), "alternative" or "auto"
    loses: frozenset[str] = frozenset()
    description: str = ""
    file: Path | None = None         # an alternative is graded as the file it is, byte for byte

    def write(self, folder: Path) -> Path:
        path = folder / f"{self.name}{self.suffix}"
        if self.file is not None:
            path.write_bytes(self.file.read_bytes())
        elif self.suffix == ".ipynb":
            nbformat.write(from_percent_script(self.source), path)
        else:
            path.write_text(self.source)
        return path

    def verdict(self, result: GradeResult) -> str | None:
        """None when the result is as expected, else what is wrong (automatic mutants are judged together)."""
        lost = result.lost_questions()
        if self.expect == "full" and lost:
            return f"the reference loses points on {', '.join(sorted(lost))}" + _failing_tests(result, lost)
        if self.expect == "starter" and result.score > STARTER_SHARE * result.autograded_possible:
            return f"the starter earns {result.score:g} of {result.autograded_possible:g} points (more than {STARTER_SHARE:.0%})"
        if self.expect in ("mutant", "alternative") and lost != self.loses:
            missing, extra = self.loses - lost, lost - self.loses
            parts = [f"keeps full marks on {', '.join(sorted(missing))}" if missing else "",
                     f"{'also ' if self.expect == 'mutant' else ''}loses {', '.join(sorted(extra))}" if extra else ""]
            tests = _failing_tests(result, extra) if self.expect == "alternative" else ""
            return "; ".join(p for p in parts if p) + tests
        return None


def _failing_tests(result: GradeResult, questions: set[str]) -> str:
    """The tests that took the points of `questions`, each with the first line of its message."""
    failing = [t for t in result.tests if t.question in questions and t.status != "passed"]
    return "".join(f"\n  {t.name}: {(t.message.strip().splitlines() or [''])[0][:200]}" for t in failing)


@dataclass(frozen=True)
class Plan:
    """What one audit grades: the seeds, how many automatic mutants and alternatives (None: all), and the seeds
    of the automatic mutants (all of them in a full audit; the spec's alone in a sample, which keeps CI short)."""

    seeds: tuple[int, ...]
    mutants: int | None
    alternatives: int | None
    mutant_seeds: tuple[int, ...]
    operators: frozenset[str] | None = None   # the automatic mutants' operators graded (None: every one)
    speed_repeats: int = 0                     # timings of each solution for the speed margins (0: not measured)
    load: int = 0                              # CPU-bound processes running beside those timings


def plan(assignment: Assignment, full: bool = False, **overrides) -> Plan:
    """The spec's sample (or everything, when `full`), with `seeds`, `mutants` or `alternatives` overridden."""
    settings = assignment.audit
    others = overrides.get("seeds", settings.seeds if full else settings.sample_seeds)
    seeds = tuple(assignment.seed + k for k in range(others + 1))
    return Plan(seeds=seeds, mutants=overrides.get("mutants", None if full else settings.sample_mutants),
                alternatives=overrides.get("alternatives", None if full else settings.sample_alternatives),
                mutant_seeds=seeds if full else seeds[:1], operators=overrides.get("operators"),
                speed_repeats=overrides.get("speed_repeats", SPEED_REPEATS if full else 0),
                load=overrides.get("load", 0))


def load_mutants(assignment: Assignment) -> list[Mutant]:
    """Read tests/mutants.yaml; every replacement must apply to the reference exactly once."""
    path = assignment.mutants_path
    raw = _yaml_list(path)
    source = assignment.solution.read_text()
    mutants = []
    for i, entry in enumerate(raw):
        where = f"{path}: [{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SpecError(f"{where} needs a name")
        replace = entry.get("replace")
        if not isinstance(replace, list) or not replace:
            raise SpecError(f"{where} ({entry['name']}).replace must be a non-empty list of {{old, new}}")
        pairs = []
        for j, pair in enumerate(replace):
            if not isinstance(pair, dict) or not isinstance(pair.get("old"), str) or not isinstance(pair.get("new"), str):
                raise SpecError(f"{where} ({entry['name']}).replace[{j}] needs the strings old and new")
            count = source.count(pair["old"])
            if count != 1:
                raise SpecError(f"{where} ({entry['name']}).replace[{j}].old occurs {count} times in "
                                f"{assignment.solution.name} (it must occur exactly once)")
            pairs.append((pair["old"], pair["new"]))
        loses = _loses(assignment, entry.get("loses"), f"{where} ({entry['name']}).loses", required=True)
        mutants.append(Mutant(entry["name"], str(entry.get("description", "")), tuple(pairs), loses))
    _unique([m.name for m in mutants], path, "mutant names")
    return mutants


def load_alternatives(assignment: Assignment) -> list[Variant]:
    """Every tests/alternatives/<name>.py or .ipynb, with what tests/alternatives/alternatives.yaml says of it
    (`{name, description, loses: [question ids]}`: questions it should lose by design)."""
    folder = assignment.alternatives_folder
    if not folder.is_dir():
        return []
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in (".py", ".ipynb") and p.is_file()}
    _unique([p.stem for p in sorted(folder.iterdir()) if p.suffix in (".py", ".ipynb")], folder,
            "alternative names (a .py and a .ipynb of the same name)")
    path = folder / "alternatives.yaml"
    declared = {}
    for i, entry in enumerate(_yaml_list(path)):
        where = f"{path}: [{i}]"
        if not isinstance(entry, dict) or entry.get("name") not in files:
            raise SpecError(f"{where}.name must name a file of {folder.name}/ without its suffix "
                            f"(known: {', '.join(files) or 'none'})")
        if entry["name"] in declared:
            raise SpecError(f"{where}.name: {entry['name']!r} is listed twice")
        unknown = set(entry) - {"name", "description", "loses"}
        if unknown:
            raise SpecError(f"{where}.{sorted(unknown)[0]} is not a known key (name, description, loses)")
        declared[entry["name"]] = (str(entry.get("description", "")),
                                   _loses(assignment, entry.get("loses"), f"{where}.loses", required=False))
    found = []
    for name, file in files.items():
        description, loses = declared.get(name, ("", frozenset()))
        found.append(Variant(f"alternative_{name}", "", file.suffix, "alternative", loses, description, file=file))
    return found


def load_equivalents(assignment: Assignment) -> dict[str, str]:
    """tests/equivalent_mutants.yaml: `{id, reason}` for automatic mutants the author judges equivalent."""
    path = assignment.equivalent_mutants_path
    equivalents = {}
    for i, entry in enumerate(_yaml_list(path)):
        if (not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not isinstance(entry.get("reason"), str)
                or not entry["reason"].strip()):
            raise SpecError(f"{path}: [{i}] needs an id (operator:line:column:index) and a reason")
        if entry["id"] in equivalents:
            raise SpecError(f"{path}: [{i}].id {entry['id']!r} is listed twice")
        equivalents[entry["id"]] = entry["reason"]
    return equivalents


def automatic_mutants(assignment: Assignment, operators: frozenset[str] | None = None) -> list[AutoMutant]:
    """The automatic mutants of the reference (of the given operators, or all)."""
    try:
        found = generate(assignment.solution.read_text())
    except SyntaxError as error:
        raise SpecError(f"{assignment.solution}: the reference does not parse: {error}") from None
    return [m for m in found if operators is None or m.operator in operators]


def variants(assignment: Assignment, run: Plan | None = None) -> list[tuple[Variant, tuple[int, ...]]]:
    """Every variant the audit grades under the plan, each with its seeds: the reference module and the
    alternatives under all of them, the automatic mutants under the plan's mutant seeds, the notebook,
    starter and hand-written mutants under the spec's seed."""
    run = run or plan(assignment)
    first = run.seeds[:1]
    if assignment.solution is None or not assignment.solution.exists():
        raise SpecError(f"{assignment.solution}: no reference solution, and the audit grades its variants")
    reference = assignment.solution.read_text()
    found = [(Variant("reference", reference, ".py", "full"), run.seeds),
             (Variant("reference_notebook", reference, ".ipynb", "full"), first)]
    if assignment.starter(".py").exists():
        found.append((Variant("starter", assignment.starter(".py").read_text(), ".py", "starter"), first))
    for mutant in load_mutants(assignment):
        source = reference
        for old, new in mutant.replace:
            source = source.replace(old, new)
        found.append((Variant(f"mutant_{mutant.name}", source, ".py", "mutant", mutant.loses, mutant.description), first))
    alternatives = load_alternatives(assignment)
    found += [(v, run.seeds) for v in alternatives[:run.alternatives]]
    equivalents = load_equivalents(assignment)
    everything = automatic_mutants(assignment, run.operators)
    # the full set grades the equivalent ones too, to catch a claim the tests refute; a sample leaves them out
    chosen = everything if run.mutants is None else sample(everything, run.mutants, exclude=frozenset(equivalents))
    found += [(_auto_variant(m), run.mutant_seeds) for m in chosen]
    return found


def _auto_variant(mutant: AutoMutant) -> Variant:
    return Variant(auto_name(mutant.id), mutant.source, ".py", "auto", description=mutant.description)


def auto_name(mutant_id: str) -> str:
    """The variant (and file) name of an automatic mutant: "auto_arith_42_8_0"."""
    return "auto_" + mutant_id.replace(":", "_")


@dataclass
class Row:
    """One graded variant under one seed, and what is wrong with its score (None when nothing)."""

    variant: Variant
    seed: int
    result: GradeResult | None
    problem: str | None


@dataclass
class Fate:
    """An automatic mutant and the questions it lost under each seed (None where grading failed)."""

    mutant: AutoMutant
    lost: dict[int, frozenset[str] | None]
    equivalent: str | None = None    # the author's reason, when listed as equivalent

    @property
    def status(self) -> str:
        """killed (under every seed), survived (under every seed), seed-lucky, equivalent, or error."""
        if any(v is None for v in self.lost.values()):
            return "error"
        killed = [bool(v) for v in self.lost.values()]
        if self.equivalent is not None:
            return "equivalent"
        return "killed" if all(killed) else "seed-lucky" if any(killed) else "survived"

    @property
    def questions(self) -> frozenset[str]:
        return frozenset().union(*(v for v in self.lost.values() if v))


@dataclass(frozen=True)
class Hidden:
    """A mutant that lost points under a seed yet keeps the reference's capped score."""

    variant: str
    seed: int
    lost_points: float
    capped_score: float


@dataclass
class AuditReport:
    assignment: Assignment
    plan: Plan
    rows: list[Row]
    fates: list[Fate]
    generated: int                    # automatic mutants of the reference, graded or not
    stale_equivalents: list[str]      # listed as equivalent but not a mutant of the reference (any more)
    cap_hidden: list[Hidden]          # mutants whose lost points the score cap hides
    wall_seconds: float = 0.0
    jobs: int = 1
    gradings: int = 0
    refuted_equivalents: list[str] = field(default_factory=list)
    requirements: Coverage | None = None  # the handout's requirements and the tests that check each
    speed: SpeedMargins | None = None     # each speed check's ratios, correct and declared-slow (when measured)

    @property
    def counted(self) -> list[Fate]:
        """The automatic mutants the kill rate counts (equivalent ones and grading errors are left out)."""
        return [f for f in self.fates if f.status in ("killed", "survived", "seed-lucky")]

    @property
    def kill_rate(self) -> float | None:
        counted = self.counted
        return sum(f.status == "killed" for f in counted) / len(counted) if counted else None

    def per_question(self) -> dict[str, tuple[int, int]]:
        """(killed, not killed) per autograded question. A killed mutant counts for the questions it lost; a
        mutant not killed counts for the questions that kill other mutants of its function (their tests reach
        it), or under UNREACHED when no question kills any mutant of its function."""
        reach: dict[str, set[str]] = {}
        for fate in self.counted:
            if fate.status == "killed":
                reach.setdefault(fate.mutant.function, set()).update(fate.questions)
        counts = {q.id: [0, 0] for q in self.assignment.questions if not q.manual}
        for fate in self.counted:
            killed = fate.status == "killed"
            for qid in (fate.questions if killed else reach.get(fate.mutant.function) or [UNREACHED]):
                counts.setdefault(qid, [0, 0])[0 if killed else 1] += 1
        return {q: (k, s) for q, (k, s) in counts.items()}

    def per_operator(self) -> dict[str, tuple[int, int]]:
        """(killed, not killed) per operator of the automatic mutants counted, the semantic ones marked."""
        counts: dict[str, list[int]] = {}
        for fate in self.counted:
            counts.setdefault(fate.mutant.operator, [0, 0])[0 if fate.status == "killed" else 1] += 1
        return {op: (k, s) for op, (k, s) in sorted(counts.items(), key=lambda i: (i[0] in SEMANTIC, i[0]))}

    def problems(self) -> list[str]:
        """Everything that makes the audit fail, one line (or a few) each."""
        found = [f"{row.variant.name} (seed {row.seed}): {row.problem}" for row in self.rows if row.problem]
        found += [f"automatic mutant {f.mutant.id}: grading failed" for f in self.fates if f.status == "error"]
        rate, required = self.kill_rate, self.assignment.audit.kill_rate
        if rate is not None and rate < required:
            found.append(f"automatic mutants: {rate:.1%} killed, under the {required:.0%} the spec requires "
                         f"({len(self.counted) - sum(f.status == 'killed' for f in self.counted)} of "
                         f"{len(self.counted)} not killed under every seed)")
        found += [f"{self.assignment.equivalent_mutants_path.name}: {i} is not an automatic mutant of the reference "
                  "(the reference changed? ids are operator:line:column:index)" for i in self.stale_equivalents]
        found += [f"{self.assignment.equivalent_mutants_path.name}: {i} is listed as equivalent but the tests kill it"
                  for i in self.refuted_equivalents]
        if self.cap_hidden:
            names = sorted({h.variant for h in self.cap_hidden})
            found.append(f"score cap: {len(names)} mutant(s) lose points yet keep the reference's capped score "
                         f"{self.cap_hidden[0].capped_score:g} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''});"
                         " a cap below the autograded total hides losses unless it is an explicit bonus "
                         "(score_cap: {points: n, bonus: true})")
        if self.requirements is not None:
            found += self.requirements.problems()
        if self.speed is not None:
            found += self.speed.problems()
        return found

    def to_dict(self) -> dict:
        """The report as plain data (for --json)."""
        rate = self.kill_rate
        return {
            "assignment": self.assignment.slug, "version": self.assignment.version, "seeds": list(self.plan.seeds),
            "sample": {"mutants": self.plan.mutants, "alternatives": self.plan.alternatives},
            "passed": not self.problems(), "problems": self.problems(),
            "variants": [{"name": r.variant.name, "expect": r.variant.expect, "seed": r.seed,
                          "description": r.variant.description, "expected_lost": sorted(r.variant.loses),
                          "score": r.result.score if r.result else None,
                          "capped_score": r.result.capped_score if r.result else None,
                          "lost": sorted(r.result.lost_questions()) if r.result else None, "problem": r.problem}
                         for r in self.rows],
            "automatic_mutants": {
                "generated": self.generated, "graded": len(self.fates), "counted": len(self.counted),
                "kill_rate": None if rate is None else round(rate, 4),
                "required": self.assignment.audit.kill_rate,
                "per_question": {q: {"killed": k, "not_killed": s} for q, (k, s) in self.per_question().items()},
                "per_operator": {op: {"killed": k, "not_killed": s, "semantic": op in SEMANTIC}
                                 for op, (k, s) in self.per_operator().items()},
                "operators": None if self.plan.operators is None else sorted(self.plan.operators),
                "mutants": [{"id": f.mutant.id, "operator": f.mutant.operator, "line": f.mutant.line,
                             "function": f.mutant.function, "description": f.mutant.description, "status": f.status,
                             "equivalent": f.equivalent,
                             "lost": {str(s): None if v is None else sorted(v) for s, v in f.lost.items()}}
                            for f in self.fates],
                "stale_equivalents": self.stale_equivalents, "refuted_equivalents": self.refuted_equivalents},
            "cap_hidden": [dataclasses.asdict(h) for h in self.cap_hidden],
            "requirements": None if self.requirements is None else self.requirements.to_dict(),
            "speed_margins": None if self.speed is None else self.speed.to_dict(),
            "timing": {"wall_seconds": round(self.wall_seconds, 1), "jobs": self.jobs, "gradings": self.gradings,
                       "seconds_per_grading": round(self.wall_seconds * self.jobs / self.gradings, 2)
                       if self.gradings else None},
        }


def audit(assignment: Assignment, jobs: int = 2, quiet: bool = False, run: Plan | None = None) -> AuditReport:
    """Grade every variant under its seeds (in parallel) and judge each, and the automatic mutants together."""
    run = run or plan(assignment)
    found = variants(assignment, run)
    requirements = collect(assignment)
    started = time.monotonic()
    graded: dict[tuple[str, int], tuple[GradeResult | None, str]] = {}
    with tempfile.TemporaryDirectory(prefix=f"grader-audit-{assignment.slug}-") as scratch:
        folder = Path(scratch) / "variants"
        folder.mkdir()
        paths = {v.name: v.write(folder) for v, _ in found}
        for seed in run.seeds:
            todo = {v.name: paths[v.name] for v, seeds in found if seed in seeds}
            batch = grade_batch(assignment, todo, Path(scratch) / f"results-{seed}", jobs=jobs, quiet=quiet, seed=seed)
            for name in todo:
                graded[(name, seed)] = (batch.results.get(name), batch.failures.get(name, "no result")[-1500:])
    report = _judge(assignment, run, found, graded, wall=time.monotonic() - started, jobs=jobs)
    report.requirements = requirements
    if run.speed_repeats:
        from grader.speed_margins import measure  # after the gradings: nothing else runs while it times
        report.speed = measure(assignment, run.speed_repeats, run.load)
    return report


def _judge(assignment: Assignment, run: Plan, found: list[tuple[Variant, tuple[int, ...]]],
           graded: dict[tuple[str, int], tuple[GradeResult | None, str]], wall: float, jobs: int) -> AuditReport:
    """Build the report from the results of every (variant, seed)."""
    rows = []
    for variant, seeds in found:
        if variant.expect == "auto":
            continue
        for seed in seeds:
            result, failure = graded[(variant.name, seed)]
            rows.append(Row(variant, seed, result, variant.verdict(result) if result else f"grading failed: {failure}"))
    mutants = {auto_name(m.id): m for m in automatic_mutants(assignment, run.operators)}
    equivalents = load_equivalents(assignment)
    fates = []
    for variant, seeds in found:
        if variant.expect == "auto":
            mutant = mutants[variant.name]
            lost = {s: (graded[(variant.name, s)][0].lost_questions() if graded[(variant.name, s)][0] else None)
                    for s in seeds}
            fates.append(Fate(mutant, {s: None if v is None else frozenset(v) for s, v in lost.items()},
                              equivalents.get(mutant.id)))
    known = {m.id for m in automatic_mutants(assignment)}
    return AuditReport(
        assignment=assignment, plan=run, rows=rows, fates=fates, generated=len(mutants),
        stale_equivalents=sorted(i for i in equivalents if i not in known),
        refuted_equivalents=[f.mutant.id for f in fates if f.equivalent is not None and all(f.lost.values())],
        cap_hidden=_cap_hidden(assignment, found, graded), wall_seconds=wall, jobs=jobs, gradings=len(graded))


def _cap_hidden(assignment: Assignment, found, graded) -> list[Hidden]:
    """Mutants (hand-written or automatic) that lose autograded points yet keep the reference's capped score."""
    if assignment.score_cap_bonus:
        return []
    hidden = []
    for variant, seeds in found:
        if variant.expect not in ("mutant", "auto"):
            continue
        for seed in seeds:
            result = graded[(variant.name, seed)][0]
            reference = graded.get(("reference", seed), (None,))[0]
            if result is None or reference is None or result.score >= result.autograded_possible - 1e-9:
                continue
            if result.capped_score >= reference.capped_score - 1e-9:
                hidden.append(Hidden(variant.name, seed, round(result.autograded_possible - result.score, 6),
                                     result.capped_score))
    return hidden


def _loses(assignment: Assignment, loses, where: str, required: bool) -> frozenset[str]:
    autograded = {q.id for q in assignment.questions if not q.manual}
    if loses is None and not required:
        return frozenset()
    if not isinstance(loses, list) or (required and not loses) or not all(isinstance(q, str) for q in loses) \
            or not set(loses) <= autograded:
        raise SpecError(f"{where} must list autograded question ids (known: {', '.join(sorted(autograded))})")
    return frozenset(loses)


def _yaml_list(path: Path) -> list:
    """The list a YAML file of the assignment holds; [] when the file does not exist."""
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, list):
        raise SpecError(f"{path}: must hold a list")
    return raw


def _unique(names: list[str], where: Path, what: str) -> None:
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: {what} must be unique")
