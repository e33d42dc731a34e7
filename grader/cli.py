"""The `grader` command: grade, check, validate, audit, release, notebook.

Each command imports what it needs when it runs, so grading pays for nothing else."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import sys
from pathlib import Path

import grader
from grader import spec
from grader.batch.command import add_arguments as add_batch_arguments, run_command
from grader.course.tables import CourseError
from grader.results import clean_text
from grader.runner import GradingError, grade
from grader.store import StoreError, is_class_folder


@functools.cache
def _console():
    """rich's console on standard output, made at its first use: a grading that prints nothing never imports rich."""
    from rich.console import Console

    return Console()


def _error(message: str) -> None:
    """`error: <message>` on standard error."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, soft_wrap=True).print(Text.assemble(("error: ", "bold red"), message))


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake in the command is one line on stderr and exit status 2."""

    def error(self, message: str):
        _error(f"{self.prog}: {message} (see {self.prog} --help)")
        sys.exit(2)


def run() -> None:
    """The `grader` command: `main`, then exit without tearing the interpreter down. Everything is written,
    closed and stopped by then, and the teardown (collecting every object of numpy, pytest, torch) would add
    50 ms or more to each call.

    The grader's own numpy and torch run on one thread (unless the environment says otherwise): the tests'
    oracles are small, and on a loaded machine idle OpenMP threads spin-waiting for a descheduled one cost up
    to two seconds of CPU per grading, more the more loaded the machine, while they save no time."""
    for pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(pool, "1")  # before numpy or torch loads
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (spec.SpecError, GradingError, CourseError, StoreError) as error:
        _error(str(error))
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Sandboxed autograder for deep-learning assignments.",
                     epilog="Exit status: 0 success; 1 some tests failed (one submission, check) or some students "
                            "could not be graded (a class); 2 a mistake in the command or the assignment.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {grader.__version__}")
    commands = parser.add_subparsers(required=True, metavar="command", parser_class=_Parser)
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
    grade_cmd.add_argument("--hold-feedback", action="store_true",
                           help="write no feedback page (an exam's, until the TA releases them with `grader feedback`)")
    grade_cmd.add_argument("--out", type=Path, default=Path("grades"), help="batch: folder for results and gradebook.csv")
    grade_cmd.add_argument("-j", "--jobs", type=_positive, default=os.cpu_count() or 2,
                           help="batch: submissions graded at once")
    grade_cmd.add_argument("--regrade", action="store_true", help="batch: grade again those already graded")
    grade_cmd.add_argument("--show-output", action="store_true", help="show what the submission printed")
    grade_cmd.add_argument("-v", "--verbose", action="store_true", help="show every test, not only those that lost points")
    grade_cmd.add_argument("--quiet", action="store_true", help="print nothing (for --json and friends)")
    _course_files(grade_cmd)
    add_batch_arguments(grade_cmd)
    grade_cmd.set_defaults(run=_grade)

    check = commands.add_parser("check", help="run the public tests, as a student would before submitting", **defaults)
    check.add_argument("assignment", help="assignment slug (or its folder)")
    check.add_argument("path", type=Path, help="your notebook, module, folder or .zip")
    check.add_argument("--show-output", action="store_true", help="show what your code printed")
    check.add_argument("-v", "--verbose", action="store_true", help="show every test, not only those that fail")
    check.add_argument("--junit", type=Path, help="write JUnit XML (a CI's test report)")
    check.set_defaults(run=_check)

    lint = commands.add_parser("validate", help="lint an assignment's spec, files, tests and mutants", **defaults)
    lint.add_argument("assignment", help="assignment slug (or its folder)")
    lint.set_defaults(run=_validate)

    audit_cmd = commands.add_parser("audit", help="prove the tests strong and fair: reference under several seeds, "
                                    "starter, hand-written and automatic mutants, alternative solutions", **defaults)
    audit_cmd.add_argument("assignment", help="assignment slug (or its folder)")
    audit_cmd.add_argument("-j", "--jobs", type=_positive, default=os.cpu_count() or 2, help="variants graded at once")
    audit_cmd.add_argument("--full", action="store_true", help="every automatic mutant, alternative and seed the spec "
                           "names, instead of its sample (audit.sample)")
    audit_cmd.add_argument("--mutants", type=_count_or_all, default=argparse.SUPPRESS, metavar="N|all",
                           help="automatic mutants graded (a fixed sample)")
    audit_cmd.add_argument("--alternatives", type=_count_or_all, default=argparse.SUPPRESS, metavar="N|all",
                           help="alternative solutions graded")
    audit_cmd.add_argument("--seeds", type=_count, default=argparse.SUPPRESS, metavar="N",
                           help="seeds besides the spec's")
    audit_cmd.add_argument("--variants", type=_count, default=20, metavar="N",
                           help="an exam with variants: the papers the reference is graded as")
    audit_cmd.add_argument("--grades", type=Path, help="an exam with variants: a graded class's folder, for the "
                           "spread of difficulty of each question across its versions")
    audit_cmd.add_argument("--operators", type=_operators, default=argparse.SUPPRESS, metavar="semantic|ast|OP,...",
                           help="grade only the automatic mutants of these operators (the semantic ones, the "
                           "operator-level ones, or named operators)")
    audit_cmd.add_argument("--speed-margins", dest="speed_repeats", type=_count, nargs="?", const=5,
                           default=argparse.SUPPRESS, metavar="N",
                           help="time the correct and declared-slow solutions N times (default 5) on each speed check "
                           "and fail unless both stay 1.5x away from its budget (a full audit does it)")
    audit_cmd.add_argument("--load", type=_count, default=argparse.SUPPRESS, metavar="N",
                           help="run N CPU-bound processes beside the speed margins' timings")
    audit_cmd.add_argument("--json", type=Path, help="write the audit report as JSON")
    audit_cmd.set_defaults(run=_audit)

    bundle = commands.add_parser("release", help="write the student bundle: handout, starters, spec, public tests",
                                 **defaults)
    bundle.add_argument("assignment", help="assignment slug (or its folder)")
    bundle.add_argument("--out", type=Path, default=Path("release"), help="folder the bundle is written into")
    bundle.add_argument("--ci", action="append", choices=("github", "gitlab"), default=[],
                        help="add a CI workflow that runs the public tests at every push (repeatable)")
    bundle.add_argument("--ci-package", metavar="REQUIREMENT",
                        help="what the workflow installs with pip to get the grader, pinned and with the [student] "
                             f"extra ('dl-grader[student]=={grader.__version__}' on an index you control, or "
                             "'dl-grader[student] @ git+https://...@TAG'); default: the wheel the bundle carries")
    bundle.add_argument("--roster", type=Path, help="an exam with variants: also write each student's paper (handout "
                        "and starters) and the instructor's manifest of variants")
    bundle.add_argument("--gradescope", type=Path, metavar="ZIP",
                        help="also write Gradescope's autograder zip (hidden tests and solution inside: keep it private)")
    bundle.set_defaults(run=_release)

    export = commands.add_parser("export", help="write a class's grades as Canvas, Moodle or plain CSV", **defaults)
    export.add_argument("grades", type=Path, help="the grades folder (the --out of `grader grade`)")
    export.add_argument("--format", choices=("canvas", "moodle", "csv"), default="csv", help="the gradebook's layout")
    export.add_argument("-o", "--output", type=Path, help="the CSV to write (default: <grades>/export-<format>.csv)")
    export.add_argument("--assignment", help="assignment slug or folder (default: the one the results name)")
    export.add_argument("--column", help="the grade column's name (default: the assignment's title)")
    _course_files(export)
    export.set_defaults(run=_export)

    similar = commands.add_parser("similarity", help="rank pairs of a class's submissions by shared code (as MOSS)",
                                  **defaults)
    similar.add_argument("assignment", help="assignment slug (or its folder): its starter and handout code is excluded")
    similar.add_argument("path", type=Path, help="the class folder (one submission per file or folder)")
    similar.add_argument("--out", type=Path, default=Path("similarity"), help="folder for similarity.csv and .html")
    similar.add_argument("--top", type=int, default=50, help="pairs shown side by side in the HTML report")
    similar.add_argument("--max-share", type=int, default=10,
                         help="ignore code held by more than this many submissions (an idiom, not a copy)")
    similar.add_argument("--grades", type=Path, help="an exam with variants: the class's grades folder, whose answers "
                         "are checked against every other paper's key (with --roster)")
    similar.add_argument("--roster", type=Path, help="the roster the exam's papers were drawn for (with --grades)")
    similar.set_defaults(run=_similarity)

    released = commands.add_parser("feedback", help="release the hidden tests held back (hidden_results: after_release): "
                                   "write each result's feedback page again, with them shown", **defaults)
    released.add_argument("results", type=Path, help="a grades folder of <student>.json results, or one result .json")
    released.set_defaults(run=_feedback)

    notebook = commands.add_parser("notebook", help="convert a percent-format script to a notebook", **defaults)
    notebook.add_argument("script", type=Path, help="a .py file whose cells start with '# %%'")
    notebook.add_argument("-o", "--output", type=Path, help="the notebook to write (default: the script's name, .ipynb)")
    notebook.set_defaults(run=_notebook)

    review = commands.add_parser("review", help="grade manual questions by rubric in the browser; --export merges",
                                 **defaults)
    review.add_argument("assignment", help="assignment slug (or its folder)")
    review.add_argument("grades", type=Path, help="the grades folder of a batch (grader grade --out)")
    review.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    review.add_argument("--ta", default=os.environ.get("USER", ""), help="the name the grades are saved under")
    review.add_argument("--export", action="store_true",
                        help="publish the TAs' grades now: the results, the feedback pages and the gradebook")
    review.set_defaults(run=_review)

    report = commands.add_parser("report", help="write the class report (one HTML page) of a grades folder", **defaults)
    report.add_argument("grades", type=Path, help="the grades folder of a batch (grader grade --out)")
    report.add_argument("-o", "--output", type=Path, help="the page to write (default: <grades>/_class-report.html); "
                                                          "rendered again whenever the grades change")
    report.set_defaults(run=_report)

    state = commands.add_parser("status", help="each student of a grades folder: state, score, and why", **defaults)
    state.add_argument("grades", type=Path, help="the grades folder (grader grade --out)")
    state.add_argument("--check-submissions", action="store_true",
                       help="also read each submission where it was graded from, to see whether it changed")
    state.set_defaults(run=_status)
    return parser


def _course_files(command) -> None:
    command.add_argument("--roster", type=Path, help="roster CSV: submission names to student ids, names, emails")
    command.add_argument("--manifest", type=Path, help="submission times CSV (a TA's, Gradescope's or Canvas's): "
                                                       "applies the spec's late policy")
    command.add_argument("--extensions", type=Path, help="extensions CSV: student, extra time or new deadline")


def _late_rules(assignment, args):
    """The spec's late policy with the manifest, extensions and roster the command names; None without a manifest."""
    from grader.course.late import rules_from_files
    if args.manifest is None:
        if args.extensions is not None:
            raise CourseError("--extensions needs --manifest (the submission times)")
        if assignment.late is not None:
            from rich.console import Console

            Console(stderr=True).print(f"[yellow]warning:[/] {assignment.slug} has a late policy, but no --manifest "
                                       "was given: no late penalty is applied")
        return None
    return rules_from_files(assignment, _late_files(args))


def _course_inputs(assignment, args) -> dict[str, str]:
    """The course files the command names (a grades folder keeps them from now on), each read once now, so
    that a mistake in one stops the command before it writes anything."""
    from grader.course.late import Extensions, Manifest
    from grader.course.roster import read_roster
    files = _late_files(args)
    if ("manifest" in files or "extensions" in files) and assignment.late is None:
        raise CourseError(f"--manifest or --extensions given, but {assignment.spec_path} has no late policy (`late:`)")
    readers = {"manifest": lambda path: Manifest.read(path, assignment.late.course_zone),
               "extensions": lambda path: Extensions.read(path, assignment.late.course_zone), "roster": read_roster}
    for kind, path in files.items():
        readers[kind](Path(path))
    return files


def _late_files(args) -> dict[str, str]:
    return {flag: str(getattr(args, flag).resolve()) for flag in ("manifest", "extensions", "roster")
            if getattr(args, flag, None) is not None}


def _writable_file(path: Path | None, flag: str) -> None:
    """A file the command will write must be nameable: not a folder, in a folder that exists or can be made."""
    if path is None:
        return
    if path.is_dir():
        raise GradingError(f"{flag} {path}: is a folder; give the name of the file to write")
    folder = next((p for p in path.absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise GradingError(f"{flag} {path}: cannot write there ({folder} is not a writable folder)")


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
    single = {flag: getattr(args, flag) for flag in ("json", "gradescope", "junit", "feedback")}
    if is_class_folder(args.path, assignment, force=args.force_class):
        given = [f"--{flag}" for flag, path in single.items() if path is not None]
        if given:
            raise GradingError(f"{', '.join(given)} write one submission's result; a class's results, pages and "
                               f"gradebook go to --out ({args.out})")
        if args.out.exists() and not args.out.is_dir():
            raise GradingError(f"--out {args.out}: is a file, not a folder")
        return run_command(args, assignment, _console(), late=_course_inputs(assignment, args))
    late = _late_rules(assignment, args)  # read now: a mistake in its files stops the command before grading
    for flag, path in single.items():
        _writable_file(path, f"--{flag}")

    def deliver(result) -> None:
        if args.json:
            _write(args.json, json.dumps(result.to_dict(), indent=2).encode())
        if args.gradescope:
            from grader.reports.gradescope import to_gradescope

            _write(args.gradescope, json.dumps(to_gradescope(result), indent=2).encode())
        if args.junit:
            from grader.reports.junit import to_junit

            _write(args.junit, to_junit(result))

    name = args.path.stem if args.path.is_file() else args.path.name  # as a class folder names it
    from grader.variants import for_submission
    result = grade(assignment, args.path, public_only=args.public_only,
                   feedback=None if args.hold_feedback else args.feedback, deliver=deliver,
                   adjust=late and (lambda result: late.apply(name, result)),
                   variant=for_submission(assignment, args.roster, name) if args.roster else None)
    with _ci(result, args.path):
        if not args.quiet:
            from grader.reports.terminal import render

            render(result, _console(), show_output=args.show_output, verbose=args.verbose)
    return 0 if all(t.status == "passed" for t in result.tests) and not result.problem else 1


def _check(args) -> int:
    from grader.sandbox.launch import for_student
    assignment = spec.load(args.assignment)
    from grader.reports.junit import to_junit
    from grader.reports.terminal import render

    result = grade(assignment, _existing(args.path), public_only=True, isolation=for_student())
    if args.junit:
        _write(args.junit, to_junit(result))
    passed = all(t.status == "passed" for t in result.tests) and not result.problem
    with _ci(result, args.path):
        render(result, _console(), show_output=args.show_output, verbose=args.verbose)
        _written_answers(assignment, result)
        _console().print("[bold green]All public tests pass.[/]" if passed else
                         "[bold red]Some public tests fail.[/] Hidden tests run when your work is graded.")
    return 0 if passed else 1


def _written_answers(assignment, result) -> None:
    """Whether each written answer (a TA grades it) was found: no text, or the starter's placeholder, is none."""
    from grader.answers import answer_state, placeholders
    written = [q for q in result.questions if q.manual]
    if not written:
        return
    starters = placeholders(assignment.starters, tuple(q.id for q in written))
    for question in written:
        state = answer_state(question.answer, starters.get(question.id, set()))
        line = {"answered": f"[green]✓[/] written answer {question.id}: found ({len(question.answer.split())} words)",
                "placeholder": f"[red]✗[/] written answer {question.id}: still the starter's placeholder text; "
                               f"write your answer under the line `{question.id}:`",
                "missing": f"[red]✗[/] written answer {question.id}: not found; write it under a line "
                           f"`{question.id}:` (as the starter has it), which marks it for the TA"}[state]
        _console().print(line, highlight=False)


@contextlib.contextmanager
def _ci(result, path: Path):
    """Under GitHub Actions: the block's output is not read as workflow commands; then the job summary and the
    annotations of `result` follow. Elsewhere, nothing."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        yield
        return
    from grader.course.ci import commands_stopped, github_report
    with commands_stopped(sys.stdout):
        yield
    github_report(result, path, os.environ.get("GITHUB_STEP_SUMMARY"), sys.stdout)


def _validate(args) -> int:
    from rich.markup import escape

    from grader.validate import validate
    assignment = spec.load(args.assignment)
    problems = validate(assignment)
    for problem in problems:  # handout text and test names may hold brackets: never read as markup
        _console().print(f"[red]✗[/] {escape(problem)}", highlight=False)
    if not problems:
        _console().print(f"[green]✓[/] {assignment.slug}: spec, files, tests, points and requirements are consistent "
                         f"({assignment.total_points:g} points in {len(assignment.questions)} questions)")
    return 1 if problems else 0


def _count(text: str) -> int:
    """A command-line count: a whole number, at least 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _positive(text: str) -> int:
    """A command-line count of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _count_or_all(text: str) -> int | None:
    """A command-line count, or `all` (None)."""
    return None if text == "all" else _count(text)


def _operators(text: str) -> frozenset[str] | None:
    """`--operators`: all, semantic, ast, or operator names separated by commas."""
    from grader.mutation import OPERATORS, SEMANTIC
    families = {"all": None, "semantic": SEMANTIC, "ast": frozenset(OPERATORS) - SEMANTIC}
    if text in families:
        return families[text]
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(names - set(OPERATORS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown operator {', '.join(unknown) or repr(text)} (known: all, semantic, "
                                         f"ast, {', '.join(OPERATORS)})")
    return names


def _audit(args) -> int:
    from grader.audit import audit, plan
    from grader.reports.audit import render_audit
    assignment = spec.load(args.assignment)
    overrides = {k: getattr(args, k) for k in ("mutants", "alternatives", "seeds", "operators", "speed_repeats", "load")
                 if hasattr(args, k)}
    report = audit(assignment, jobs=args.jobs, run=plan(assignment, full=args.full, **overrides))
    papers = spread = None
    if assignment.has_variants:
        from grader.course.grades import read_grades
        from grader.variant_audit import audit_variants, difficulty
        papers = audit_variants(assignment, args.variants, args.jobs)
        spread = difficulty(read_grades(args.grades).results) if args.grades else None
    if args.json:
        _write(args.json, json.dumps({**report.to_dict(), **({"papers": papers.to_dict()} if papers else {})},
                                     indent=2).encode())
    render_audit(report, _console(), papers, spread)
    return 1 if report.problems() or (papers and papers.problems()) else 0


def _release(args) -> int:
    from grader.release import release
    from grader.validate import validate
    assignment = spec.load(args.assignment)
    problems = validate(assignment)
    if problems:
        raise GradingError(f"{assignment.slug} does not validate; fix it before releasing:\n" + "\n".join(problems))
    target = release(assignment, args.out, ci=tuple(dict.fromkeys(args.ci)), package=args.ci_package)
    _console().print(f"wrote {target}: students follow its README.md (install the grader from dist/, then "
                     f"[bold]grader check {assignment.slug} {assignment.submission[0]}[/])", highlight=False)
    if args.roster:
        from grader.papers import release_papers
        papers, manifest = release_papers(assignment, _existing(args.roster), args.out)
        for name in ("handout.md", "starter.py", "starter.ipynb"):  # each student has their own
            (target / name).unlink(missing_ok=True)
        _console().print(f"wrote {papers}: one folder per student (their handout.md and starters; hand each its own), "
                         f"and the manifest {manifest} (every student's variant and key: keep it private)",
                         highlight=False)
    if args.gradescope:
        from grader.release import gradescope_zip
        zipped = gradescope_zip(assignment, args.gradescope, wheel=next(target.glob("dist/*.whl")), roster=args.roster)
        _console().print(f"wrote {zipped}: upload it as the autograder of a "
                         "Gradescope programming assignment", highlight=False)
    return 0


def _feedback(args) -> int:
    from grader.store.sqlite import DATABASE
    if not args.results.exists():
        raise GradingError(f"{args.results}: no such grades folder or result (give the --out folder of a class, or "
                           "a result written by grader grade --json)")
    if args.results.is_dir() and not (args.results / DATABASE).exists():  # results of single gradings (--json)
        paths = sorted(args.results.glob("*.json"))
        if not paths:
            raise GradingError(f"{args.results}: no results here (neither a grades folder nor <name>.json results)")
        for path in paths:
            _release_one(path)
        return 0
    if args.results.is_dir():
        from grader.course.views import render
        from grader.store import GradesFolder
        with GradesFolder.writing(args.results, "feedback") as store:
            store.set_setting("released", "1")
            done = render(store)
        pages = sum(path.endswith(".html") for path in done.written)
        _console().print(f"released the hidden tests and feedback pages of {len(done.grades.results)} graded "
                         f"student(s) in {args.results}: {pages} page(s) written", highlight=False)
        return 0
    return _release_one(args.results)


def _release_one(path: Path) -> int:
    """Release one result written by `grader grade --json`: its hidden tests shown, its page beside it."""
    from grader.notebook import Cell
    from grader.reports.feedback import to_feedback_html
    from grader.results import GradeResult
    try:
        result = GradeResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise GradingError(f"{path}: not a result written by grader grade --json ({error})") from None
    result.hidden_held_back = False
    _write(path, json.dumps(result.to_dict(), indent=2).encode())
    _write(path.with_suffix(".html"), to_feedback_html(result, [Cell(**cell) for cell in result.code]).encode())
    _console().print(f"released the hidden tests of {path}; its feedback page is beside it", highlight=False)
    return 0


def _class_view(args, kind: str, path: Path, options: dict):
    """Record a class-wide view of the grades folder (rendered again with every change), render everything,
    and return the shown grades. The course files the command names are checked first, then kept in the store."""
    from grader.course.grades import load_assignment
    from grader.course.views import render
    from grader.store import GradesFolder
    store = GradesFolder.reading(args.grades)
    try:
        assignment = load_assignment(store, getattr(args, "assignment", None))
        inputs = _course_inputs(assignment, args)
        if kind == "export" and options["format"] in ("canvas", "moodle") and not (
                "roster" in inputs or "roster" in store.inputs()):
            raise CourseError(f"--format {options['format']} needs --roster: an LMS imports grades by its own student "
                              f"ids, which only a roster gives (without one, --format csv lists submissions by name)")
    finally:
        store.close()
    inside = path.resolve().is_relative_to(args.grades.resolve())
    where = str(path.resolve().relative_to(args.grades.resolve())) if inside else str(path.resolve())
    with GradesFolder.writing(args.grades, kind) as store:
        for name, file in inputs.items():
            store.set_input(name, Path(file))
        store.add_render(where, kind, options)
        return render(store, assignment).grades


def _export(args) -> int:
    from rich.text import Text

    from grader.course.export import match
    output = args.output or args.grades / f"export-{args.format}.csv"
    _writable_file(output, "-o")
    grades = _class_view(args, "export", output, {"format": args.format, "column": args.column or ""})
    roster = _stored_roster(args.grades)
    matched = match(grades.students, roster)
    _console().print(f"wrote {output}: {len(matched.students) - len(matched.unmatched)} submissions matched to the "
                     f"roster" if roster else f"wrote {output}: {len(grades.students)} submissions by name (no roster)",
                     highlight=False)
    not_graded = [f"{name}: {why}" for name, why in grades.failures.items()]
    pending = [name for name, s in grades.students.items() if s.status == "manual grading pending"]
    for title, names in (("submissions of no student on the roster", matched.unmatched if roster else []),
                         ("students without a submission", [f"{s.id} {s.name}" for s in matched.missing]),
                         ("students with several submissions", [f"{sid}: {', '.join(n)}" for sid, n in
                                                                matched.duplicates.items()]),
                         ("students not graded now (an empty grade)", not_graded),
                         ("students with manual grading pending (an empty grade until a TA grades them)", pending),
                         ("submissions the manifest gives no time for (no late penalty assessed)",
                          sorted(name for name, result in grades.results.items() if result.late and
                                 result.late.status == "no time")),
                         ("results in the folder that its store did not write (ignored)", grades.unknown)):
        if names:
            _console().print(Text(f"{title} ({len(names)}):", style="yellow"))
            for name in names:
                _console().print(Text(f"  {clean_text(name)}"))
    return 0


def _stored_roster(folder: Path):
    from grader.course.roster import read_roster
    from grader.store import GradesFolder
    store = GradesFolder.reading(folder)
    try:
        roster = store.inputs().get("roster")
    finally:
        store.close()
    return read_roster(Path(roster.path), roster.content) if roster else None


def _similarity(args) -> int:
    from rich.text import Text

    import time

    from rich.table import Table

    from grader.course import similarity
    from grader.reports.similarity import to_similarity_html, write_pairs_csv
    assignment = spec.load(args.assignment)
    from grader.store import read_class_folder
    submissions = read_class_folder(_existing(args.path)).entries if args.path.is_dir() else {}
    if len(submissions) < 2:
        raise GradingError(f"{args.path}: a class folder with at least two submissions is needed")
    started = time.perf_counter()
    documents = [similarity.read_document(name, path, assignment) for name, path in submissions.items()]
    pairs = similarity.compare(documents, similarity.excluded(assignment), max_share=max(2, args.max_share))
    args.out.mkdir(parents=True, exist_ok=True)
    write_pairs_csv(pairs, args.out / "similarity.csv")
    settings = {"k": similarity.K, "window": similarity.WINDOW, "max_share": args.max_share}
    (args.out / "similarity.html").write_text(to_similarity_html(pairs[:args.top], assignment.slug, documents,
                                                                 len(pairs), settings), encoding="utf-8")
    table = Table(title=f"{len(documents)} submissions, {len(pairs)} pairs share code "
                        f"({time.perf_counter() - started:.1f} s)")
    for column in ("#", "submission", "matched", "submission", "matched", "similarity"):
        table.add_column(column)
    for rank, pair in enumerate(pairs[:20], start=1):
        table.add_row(str(rank), Text(clean_text(pair.a.name)), f"{pair.fraction_a:.0%}", Text(clean_text(pair.b.name)),
                      f"{pair.fraction_b:.0%}", f"{pair.similarity:.0%}")
    _console().print(table)
    for document in documents:
        if document.problem:
            _console().print(Text(f"not compared: {clean_text(document.name)}: {document.problem}", style="yellow"))
    _console().print(f"all pairs: {args.out / 'similarity.csv'}; side by side: {args.out / 'similarity.html'}")
    if args.grades and args.roster and assignment.has_variants:
        _key_matches(assignment, args)
    return 0


def _key_matches(assignment, args) -> None:
    """Answers wrong on their owner's paper that fit another paper's key (grader.course.variant_keys)."""
    from rich.text import Text

    from grader.course.grades import read_grades
    from grader.course.variant_keys import key_matches, write_key_matches
    matches = key_matches(assignment, read_grades(_existing(args.grades)).results, _existing(args.roster))
    write_key_matches(matches, args.out / "variant-keys.csv")
    for match in (m for m in matches if m.suspicious):
        _console().print(Text(f"{clean_text(match.submission)}: {', '.join(match.questions)} fit the key of paper "
                           f"{match.paper.id} ({match.paper.student or 'the plain paper'}), not its own",
                           style="yellow"))
    _console().print(f"answers that fit another paper's key: {args.out / 'variant-keys.csv'}")


def _notebook(args) -> int:
    import nbformat

    from grader.notebook import from_percent_script
    output = args.output or args.script.with_suffix(".ipynb")
    nbformat.write(from_percent_script(args.script.read_text()), output)
    _console().print(f"wrote {output}")
    return 0


def _review(args) -> int:
    from grader.course.grades import load_assignment
    from grader.course.review.app import Review, ReviewError, create_app, new_token, serve
    from grader.course.review.merge import merge
    from grader.store import GradesFolder
    assignment = spec.load(args.assignment)
    store = GradesFolder.reading(args.grades)
    try:
        load_assignment(store, args.assignment)  # the folder must hold this assignment's grades
    finally:
        store.close()
    if args.export:
        merged = merge(assignment, args.grades)
        _console().print(f"published {merged.graded} graded answers of {merged.students} graded students "
                         f"({merged.pending} still pending): {merged.written} files of {args.grades} written again",
                         highlight=False)
        return 0
    try:
        import flask  # noqa: F401
    except ImportError:
        raise GradingError("grader review needs Flask: pip install 'dl-grader[review]'") from None
    try:
        review = Review(assignment, args.grades)
    except ReviewError as error:
        raise GradingError(str(error)) from None
    token = new_token()
    server = serve(create_app(review, token, args.ta), args.port)
    _console().print(f"Reviewing {assignment.slug} in {args.grades}: open http://127.0.0.1:{server.server_port}/{token}/ "
                     "(Ctrl-C stops; every change is already saved)", highlight=False, soft_wrap=True)
    server.serve_forever()  # until Ctrl-C; it closes the server
    _console().print(f"stopped; the grades are in {args.grades / 'grades.sqlite'} (`grader review {args.assignment} "
                     f"{args.grades} --export` publishes them)", highlight=False)
    return 0


def _report(args) -> int:
    from grader.course.views import REPORT
    output = args.output or args.grades / REPORT
    _writable_file(output, "-o")
    from grader.store import GradesFolder
    store = GradesFolder.reading(args.grades)
    try:
        if not store.entries():
            raise StoreError(f"{args.grades}: no students graded yet; grade the class into it first")
    finally:
        store.close()
    grades = _class_view(args, "report", output, {})
    mean = sum(r.capped_score for r in grades.results.values()) / max(1, len(grades.results))
    _console().print(f"wrote {output}: {len(grades.results)} graded, {len(grades.failures)} not graded, mean score "
                     f"{mean:.1f}", highlight=False, soft_wrap=True)
    return 0


def _status(args) -> int:
    from grader.course.status import status
    return status(args.grades, _console(), args.check_submissions)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    temporary.replace(path)
