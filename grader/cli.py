"""The `grader` command: grade, check, validate, audit, release, notebook.

Each command imports what it needs when it runs, so grading pays for nothing else."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

import grader
from grader import spec
from grader import batch
from grader.reports.gradescope import to_gradescope
from grader.reports.junit import to_junit
from grader.reports.terminal import render
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
    batch.add_arguments(grade_cmd)
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

    audit_cmd = commands.add_parser("audit", help="grade the reference, the starter and the mutants; check each",
                                    **defaults)
    audit_cmd.add_argument("assignment", help="assignment slug (or its folder)")
    audit_cmd.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="variants graded at once")
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
    _existing(args.path)
    if batch.is_class_folder(args.path, assignment, force=args.force_class):
        return batch.run_command(args, assignment, console)
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


def _audit(args) -> int:
    from grader.audit import audit
    assignment = spec.load(args.assignment)
    rows = audit(assignment, jobs=args.jobs)
    table = Table(title=f"audit of {assignment.slug}")
    for column in ("variant", "score", "lost questions", "expected", "verdict"):
        table.add_column(column)
    for variant, result, problem in rows:
        score = f"{result.score:g} / {result.autograded_possible:g}" if result else "-"
        lost = ", ".join(sorted(result.lost_questions())) if result else "-"
        expected = {"full": "full marks", "starter": "≤ 5%"}.get(variant.expect, ", ".join(sorted(variant.loses)))
        name = Text.assemble(variant.name, (f"\n{variant.description}" if variant.description else "", "dim"))
        verdict = Text(f"✗ {problem}", style="red") if problem else Text("✓", style="green")
        table.add_row(name, score, lost, expected, verdict)  # Text: a description's [brackets] are not markup
    console.print(table)
    return 1 if any(problem for _, _, problem in rows) else 0


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


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    temporary.replace(path)


