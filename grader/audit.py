"""Prove an assignment's tests strong: the reference earns full marks, the starter almost
nothing, and each mutant of the reference loses exactly the questions it should."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from grader.batch import grade_batch
from grader.notebook import from_percent_script
from grader.results import GradeResult
from grader.spec import Assignment, SpecError

STARTER_SHARE = 0.05


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
    expect: str                      # "full", "starter" or "mutant"
    loses: frozenset[str] = frozenset()
    description: str = ""

    def write(self, folder: Path) -> Path:
        path = folder / f"{self.name}{self.suffix}"
        if self.suffix == ".ipynb":
            nbformat.write(from_percent_script(self.source), path)
        else:
            path.write_text(self.source)
        return path

    def verdict(self, result: GradeResult) -> str | None:
        """None when the result is as expected, else what is wrong."""
        lost = result.lost_questions()
        if self.expect == "full" and lost:
            return f"the reference loses points on {', '.join(sorted(lost))}"
        if self.expect == "starter" and result.score > STARTER_SHARE * result.autograded_possible:
            return f"the starter earns {result.score:g} of {result.autograded_possible:g} points (more than {STARTER_SHARE:.0%})"
        if self.expect == "mutant" and lost != self.loses:
            missing, extra = self.loses - lost, lost - self.loses
            parts = [f"keeps full marks on {', '.join(sorted(missing))}" if missing else "",
                     f"also loses {', '.join(sorted(extra))}" if extra else ""]
            return "; ".join(p for p in parts if p)
        return None


def load_mutants(assignment: Assignment) -> list[Mutant]:
    """Read tests/mutants.yaml; every replacement must apply to the reference exactly once."""
    path = assignment.mutants_path
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, list):
        raise SpecError(f"{path}: must hold a list of mutants")
    source = assignment.solution.read_text()
    autograded = {q.id for q in assignment.questions if not q.manual}
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
        loses = entry.get("loses")
        if not isinstance(loses, list) or not loses or not set(loses) <= autograded:
            raise SpecError(f"{where} ({entry['name']}).loses must list autograded question ids "
                            f"(known: {', '.join(sorted(autograded))})")
        mutants.append(Mutant(entry["name"], str(entry.get("description", "")), tuple(pairs), frozenset(loses)))
    names = [m.name for m in mutants]
    if len(set(names)) != len(names):
        raise SpecError(f"{path}: mutant names must be unique")
    return mutants


def variants(assignment: Assignment) -> list[Variant]:
    """The reference as module and notebook, the starter, and every mutant."""
    reference = assignment.solution.read_text()
    found = [Variant("reference", reference, ".py", "full"), Variant("reference_notebook", reference, ".ipynb", "full")]
    if assignment.starter(".py").exists():
        found.append(Variant("starter", assignment.starter(".py").read_text(), ".py", "starter"))
    for mutant in load_mutants(assignment):
        source = reference
        for old, new in mutant.replace:
            source = source.replace(old, new)
        found.append(Variant(f"mutant_{mutant.name}", source, ".py", "mutant", mutant.loses, mutant.description))
    return found


def audit(assignment: Assignment, jobs: int = 2, quiet: bool = False) -> list[tuple[Variant, GradeResult | None, str | None]]:
    """Grade every variant (in parallel) and judge each: (variant, result, problem or None)."""
    found = variants(assignment)
    with tempfile.TemporaryDirectory(prefix=f"grader-audit-{assignment.slug}-") as scratch:
        folder, out = Path(scratch) / "variants", Path(scratch) / "results"
        folder.mkdir()
        paths = {v.name: v.write(folder) for v in found}
        batch = grade_batch(assignment, paths, out, jobs=jobs, quiet=quiet)
    return [(v, batch.results.get(v.name), v.verdict(batch.results[v.name]) if v.name in batch.results
             else f"grading failed: {batch.failures.get(v.name, 'no result')[-1500:]}") for v in found]
