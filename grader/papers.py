"""Each student's paper of an exam with variants: the handout and starters with their variant rendered in,
and the instructor's manifest of every student's variant (`grader release <exam> --roster roster.csv`).

A handout marks what differs per student: `{{ question.parameter }}` is the value of a parameter,
`{{ options question }}` the question's options, labelled a, b, ... in the order the paper shows them,
and a question of a pool sits between `<!-- question: id -->` and `<!-- end: id -->`, left out of the
papers that did not draw it. The plain release renders the plain paper (grader.variants.plain).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from grader.runner import GradingError
from grader.spec import Assignment
from grader.variants import Variant, ensure_secret, expected_answers, generate, plain, restrict

_VALUE = re.compile(r"\{\{\s*(\w+)\.(\w+)\s*\}\}")
_OPTIONS = re.compile(r"^(?P<indent>[ \t]*)\{\{\s*options\s+(\w+)\s*\}\}[ \t]*$", re.MULTILINE)
_POOLED = re.compile(r"<!-- question: (\w+) -->\n(.*?)<!-- end: \1 -->\n?", re.DOTALL)
_CELL = re.compile(r"^# %%.*$", re.MULTILINE)


def shown_value(value) -> str:
    """A parameter as a paper prints it: 0.3, 40, a list as 5.0, 4.0, 3.5."""
    if isinstance(value, list):
        return ", ".join(map(shown_value, value))
    return repr(value) if isinstance(value, float) else str(value)


def render_handout(text: str, assignment: Assignment, variant: Variant | None) -> str:
    """The handout as the paper of `variant` (unchanged for an exam without variants); a GradingError names a
    placeholder that is not a parameter or a choice question of the spec."""
    if variant is None:
        return text
    paper = restrict(assignment, variant)
    questions = {q.id: q for q in assignment.questions}

    def value(match: re.Match) -> str:
        qid, name = match.groups()
        if name not in variant.params.get(qid, {}):
            raise GradingError(f"{assignment.root / 'handout.md'}: {match.group(0)} is not a parameter of the spec")
        return shown_value(variant.params[qid][name])

    def options(match: re.Match) -> str:
        qid = match.group(2)
        if questions.get(qid) is None or questions[qid].type != "choice":
            raise GradingError(f"{assignment.root / 'handout.md'}: {match.group(0)} is not a choice question of the spec")
        if qid not in variant.drawn:
            return ""
        question = paper.question(qid)
        return "\n".join(f"{match['indent']}{label}. {option}" for label, option in zip(question.labels, question.options))

    text = _POOLED.sub(lambda m: m.group(2) if m.group(1) in variant.drawn else "", text)
    return _VALUE.sub(value, _OPTIONS.sub(options, text))


def render_starter(text: str, assignment: Assignment, variant: Variant) -> str:
    """A percent-format starter for the paper of `variant`: the cells of questions it did not draw left out,
    and a first cell that names the paper and the questions to answer."""
    dropped = {q.id for q in assignment.questions if q.id not in variant.drawn}
    starts = [m.start() for m in _CELL.finditer(text)] + [len(text)]
    head, cells = text[:starts[0]], [text[a:b] for a, b in zip(starts, starts[1:])]
    kept = [cell for cell in cells if not set(re.findall(r'"(\w+)"', cell.splitlines()[0])) & dropped]
    note = (f"# %% [markdown]\n# **Your paper: {variant.id}.** Its numbers and the order of the options of its choice "
            f"questions are your own;\n# answer these questions: {', '.join(variant.drawn)}.\n\n")
    return head + (kept[0] if kept else "") + note + "".join(kept[1:])


def release_papers(assignment: Assignment, roster_path: Path, out: Path) -> tuple[Path, Path]:
    """Write out/<slug>-papers/<student id>/ (handout.md, starter.py, starter.ipynb) for every student of the
    roster, and the instructor's manifest out/<slug>-variants.json and .csv (every student's variant and key;
    keep them private). Returns (the papers' folder, the manifest)."""
    from grader.store import safe_name
    from grader.course.roster import read_roster
    from grader.exam import load_key
    from grader.notebook import from_percent_script
    import nbformat

    if not assignment.has_variants:
        raise GradingError(f"{assignment.slug} has no variants (no parameters, shuffled options or pools in its "
                           "spec): release it without --roster")
    secret, key = ensure_secret(assignment), load_key(assignment)
    handout = (assignment.root / "handout.md").read_text(encoding="utf-8")
    starter = assignment.starter(".py")
    papers, rows, taken = out / f"{assignment.slug}-papers", [], set()
    for student in read_roster(roster_path).students:
        variant = generate(assignment, student.id, secret)
        folder = papers / safe_name(student.id, taken)
        taken.add(folder.name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "handout.md").write_text(_headed(render_handout(handout, assignment, variant), variant),
                                           encoding="utf-8")
        if starter.exists():
            source = render_starter(starter.read_text(encoding="utf-8"), assignment, variant)
            (folder / "starter.py").write_text(source, encoding="utf-8")
            if assignment.starter(".ipynb").exists():
                nbformat.write(from_percent_script(source), folder / "starter.ipynb")
        rows.append({"student": student.id, "name": student.name, "folder": folder.name, **variant.to_dict(),
                     "expected": expected_answers(assignment, variant, key)})
    manifest = out / f"{assignment.slug}-variants.json"
    manifest.write_text(json.dumps({"assignment": assignment.slug, "variants": rows}, indent=2), encoding="utf-8")
    with manifest.with_suffix(".csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "name", "variant", "questions", "parameters", "option orders", "key"])
        for row in rows:
            writer.writerow([row["student"], row["name"], row["id"], " ".join(row["drawn"]), json.dumps(row["params"]),
                             json.dumps(row["orders"]), json.dumps(row["expected"])])
    return papers, manifest


def _headed(text: str, variant: Variant) -> str:
    """The handout with the paper's id under its title."""
    title, _, rest = text.partition("\n")
    return f"{title}\n\n**Your paper: {variant.id}.**\n{rest}"


def plain_handout(assignment: Assignment) -> str | None:
    """The handout of the plain paper, for the plain release of an exam with variants; None without variants."""
    variant = plain(assignment)
    path = assignment.root / "handout.md"
    return None if variant is None or not path.exists() else render_handout(path.read_text(encoding="utf-8"),
                                                                           assignment, variant)


def variant_problems(assignment: Assignment) -> list[str]:
    """What stops an exam's variants from being drawn, keyed and printed: a missing generator, a key formula that
    fails on a paper, a placeholder of the handout that names nothing (checked on the plain paper and a drawn one)."""
    from grader.exam import load_key
    from grader.spec import SpecError

    if not assignment.has_variants:
        return []
    if assignment.generator and not (assignment.root / assignment.generator).is_file():
        return [f"{assignment.spec_path}: variants.generator names {assignment.generator!r}, which is not a file of "
                "the assignment"]
    handout = assignment.root / "handout.md"
    try:
        key = load_key(assignment)
        for variant in (plain(assignment), generate(assignment, "validate", b"a secret used only to validate")):
            expected_answers(assignment, variant, key)
            if handout.exists():
                render_handout(handout.read_text(encoding="utf-8"), assignment, variant)
    except (SpecError, GradingError) as error:
        return [str(error)]
    return []
