"""The `grader` command: grade, check, validate, audit, release, notebook.

Each command imports what it needs when it runs, so grading pays for nothing else."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

import grader
from grader import spec
from grader.batch import grade_batch, is_class_folder, submissions_in
from grader.reports.gradescope import to_gradescope
from grader.reports.junit import to_junit
from grader.reports.terminal import render
from grader.results import clean_text
from grader.runner import GradingError, grade

console = Console()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (spec.SpecError, GradingError) as error:
        Console(stderr=True, soft_wrap=True).print(Text.assemble(("error: ", "bold red"), str(error)))
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Sandboxed autograder for deep-learning assignments.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {grader.__version__}")
    commands = parser.add_subparsers(required=True, metavar="command")
    defaults = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}

    grade_cmd = commands.add_parser("grade", help="grade one submission, or every submission in a class folder", **defaults)
    grade_cmd.add_argument("assignment", help="assignment slug (or its folder)")
    grade_cmd.add_argument("path", type=Path, help=".py, .ipynb, folder or .zip; or a folder of many submissions")
    grade_cmd.add_argument("--public-only", action="store_true", help="run only the public tests")
    grade_cmd.add_argument("--seed", type=int, help="seed of the tests' random inputs, instead of the spec's")
    grade_cmd.add_argument("--json", type=Path, help="write the full result as JSON")
    grade_cmd.add_argument("--gradescope", type=Path, help="write Gradescope's results.json")
    grade_cmd.add_argument("--junit", type=Path, help="write JUnit XML")
    grade_cmd.add_argument("--feedback", type=Path, help="write the student's feedback report (HTML)")
    grade_cmd.add_argument("--out", type=Path, default=Path("grades"), help="batch: folder for results and gradebook.csv")
    grade_cmd.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="batch: submissions graded at once")
    grade_cmd.add_argument("--regrade", action="store_true", help="batch: grade again those already graded")
    grade_cmd.add_argument("--show-output", action="store_true", help="show what the submission printed")
    grade_cmd.add_argument("-v", "--verbose", action="store_true", help="show every test, not only those that lost points")
    grade_cmd.add_argument("--quiet", action="store_true", help="print nothing (for --json and friends)")
    grade_cmd.set_defaults(run=_grade)

    check = commands.add_parser("check", help="run the public tests, as a student would before submitting", **defaults)
    check.add_argument("assignment", help="assignment slug (or its folder)")
    check.add_argument("path", type=Path, help="your notebook, module, folder or .zip")
    check.add_argument("--show-output", action="store_true", help="show what your code printed")
    check.add_argument("-v", "--verbose", action="store_true", help="show every test, not only those that fail")
    check.set_defaults(run=_check)

    lint = commands.add_parser("validate", help="lint an assignment's spec, files, tests and mutants", **defaults)
    lint.add_argument("assignment", help="assignment slug (or its folder)")
    lint.set_defaults(run=_validate)

    audit_cmd = commands.add_parser("audit", help="prove the tests strong and fair: reference under several seeds, "
                                    "starter, hand-written and automatic mutants, alternative solutions", **defaults)
    audit_cmd.add_argument("assignment", help="assignment slug (or its folder)")
    audit_cmd.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="variants graded at once")
    audit_cmd.add_argument("--full", action="store_true", help="every automatic mutant, alternative and seed the spec "
                           "names, instead of its sample (audit.sample)")
    audit_cmd.add_argument("--mutants", type=_count_or_all, default=argparse.SUPPRESS, metavar="N|all",
                           help="automatic mutants graded (a fixed sample)")
    audit_cmd.add_argument("--alternatives", type=_count_or_all, default=argparse.SUPPRESS, metavar="N|all",
                           help="alternative solutions graded")
    audit_cmd.add_argument("--seeds", type=_count, default=argparse.SUPPRESS, metavar="N",
                           help="seeds besides the spec's")
    audit_cmd.add_argument("--json", type=Path, help="write the audit report as JSON")
    audit_cmd.set_defaults(run=_audit)

    bundle = commands.add_parser("release", help="write the student bundle: handout, starters, spec, public tests",
                                 **defaults)
    bundle.add_argument("assignment", help="assignment slug (or its folder)")
    bundle.add_argument("--out", type=Path, default=Path("release"), help="folder the bundle is written into")
    bundle.set_defaults(run=_release)

    notebook = commands.add_parser("notebook", help="convert a percent-format script to a notebook", **defaults)
    notebook.add_argument("script", type=Path, help="a .py file whose cells start with '# %%'")
    notebook.add_argument("-o", "--output", type=Path, help="the notebook to write (default: the script's name, .ipynb)")
    notebook.set_defaults(run=_notebook)
    return parser


def _existing(path: Path) -> Path:
    """A path the user named must exist: a command mistake is one line and exit status 2, nothing written."""
    if not path.exists():
        raise GradingError(f"{path}: no such file or folder (expected a .py, .ipynb, .zip or a folder of them)")
    return path


def _grade(args) -> int:
    assignment = spec.load(args.assignment)
    if args.seed is not None:
        assignment = dataclasses.replace(assignment, seed=args.seed)
    _existing(args.path)
    if is_class_folder(args.path, assignment):
        submissions = submissions_in(args.path)
        if not submissions:
            raise GradingError(f"{args.path}: no submissions (.py, .ipynb, .zip or folders) in this folder")
        batch = grade_batch(assignment, submissions, args.out, jobs=args.jobs, public_only=args.public_only,
                            regrade=args.regrade, quiet=args.quiet, seed=args.seed)
        if not args.quiet:
            _print_batch(batch, submissions, args.out)
        return 1 if batch.failures else 0
    def deliver(result) -> None:
        if args.json:
            _write(args.json, json.dumps(result.to_dict(), indent=2).encode())
        if args.gradescope:
            _write(args.gradescope, json.dumps(to_gradescope(result), indent=2).encode())
        if args.junit:
            _write(args.junit, to_junit(result))

    result = grade(assignment, args.path, public_only=args.public_only, feedback=args.feedback, deliver=deliver)
    if not args.quiet:
        render(result, console, show_output=args.show_output, verbose=args.verbose)
    return 0 if all(t.status == "passed" for t in result.tests) and not result.problem else 1


def _check(args) -> int:
    assignment = spec.load(args.assignment)
    result = grade(assignment, _existing(args.path), public_only=True)
    render(result, console, show_output=args.show_output, verbose=args.verbose)
    passed = all(t.status == "passed" for t in result.tests) and not result.problem
    console.print("[bold green]All public tests pass.[/]" if passed else
                  "[bold red]Some public tests fail.[/] Hidden tests run when your work is graded.")
    return 0 if passed else 1


def _validate(args) -> int:
    from grader.validate import validate
    assignment = spec.load(args.assignment)
    problems = validate(assignment)
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", highlight=False)
    if not problems:
        console.print(f"[green]✓[/] {assignment.slug}: spec, files, tests and points are consistent "
                      f"({assignment.total_points:g} points in {len(assignment.questions)} questions)")
    return 1 if problems else 0


def _count(text: str) -> int:
    """A command-line count: a whole number, at least 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _count_or_all(text: str) -> int | None:
    """A command-line count, or `all` (None)."""
    return None if text == "all" else _count(text)


def _audit(args) -> int:
    from grader.audit import audit, plan
    from grader.reports.audit import render_audit
    assignment = spec.load(args.assignment)
    overrides = {k: getattr(args, k) for k in ("mutants", "alternatives", "seeds") if hasattr(args, k)}
    report = audit(assignment, jobs=args.jobs, run=plan(assignment, full=args.full, **overrides))
    if args.json:
        _write(args.json, json.dumps(report.to_dict(), indent=2).encode())
    render_audit(report, console)
    return 1 if report.problems() else 0


def _release(args) -> int:
    from grader.release import release
    from grader.validate import validate
    assignment = spec.load(args.assignment)
    problems = validate(assignment)
    if problems:
        raise GradingError(f"{assignment.slug} does not validate; fix it before releasing:\n" + "\n".join(problems))
    target = release(assignment, args.out)
    console.print(f"wrote {target}: students run [bold]grader check {target} <their notebook>[/]")
    return 0


def _notebook(args) -> int:
    import nbformat

    from grader.notebook import from_percent_script
    output = args.output or args.script.with_suffix(".ipynb")
    nbformat.write(from_percent_script(args.script.read_text()), output)
    console.print(f"wrote {output}")
    return 0


def _print_batch(batch, submissions, out: Path) -> None:
    table = Table(title=f"{len(batch.results)} of {len(submissions)} graded")
    for column in ("student", "score", "failed tests", "isolation"):
        table.add_column(column)
    for student in sorted(submissions):
        result = batch.results.get(student)
        if result is None:
            reason = batch.failures.get(student, "").strip().splitlines()
            table.add_row(Text(clean_text(student)), Text("not graded", style="red"),
                          Text((reason[-1] if reason else "") + f" (see {out / (student + '.error.txt')})"), "")
        else:
            table.add_row(Text(clean_text(student)), f"{result.capped_score:g} / {result.max_score:g}",
                          str(sum(t.status != 'passed' for t in result.tests)), result.isolation)
    console.print(table)
    console.print(f"results and gradebook: {out}/ (gradebook.csv)")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    temporary.replace(path)


