"""`grader grade <slug> <class folder>`: the batch's options, its progress, its summary and its exit status."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.text import Text

from grader.batch.roster import read_roster
from grader.batch.run import Batch, grade_class
from grader.results import clean_text
from grader.runner import GradingError
from grader.spec import Assignment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The batch's options beyond --out, --jobs and --regrade."""
    batch = parser.add_argument_group("batch")
    batch.add_argument("--class", dest="force_class", action="store_true",
                       help="batch: the folder is a class even if it holds a file named like a submission")
    batch.add_argument("--wait", action="store_true", help="batch: wait for another batch on the same --out")
    slurm = parser.add_argument_group("Slurm (with --slurm; the options may also come from --slurm-config)")
    slurm.add_argument("--slurm", action="store_true", help="grade on Slurm, one submission per array task")
    slurm.add_argument("--slurm-config", type=Path, help="YAML file: partition, time_limit, gpus_per_task, "
                                                         "cpus_per_task, array_parallelism")
    slurm.add_argument("--partition", help="Slurm partition")
    slurm.add_argument("--time-limit", type=int, metavar="MIN", help="minutes per task (default 30)")
    slurm.add_argument("--gpus-per-task", type=int, metavar="N", help="GPUs per task (default 0)")
    slurm.add_argument("--array-parallelism", type=int, metavar="N", help="tasks at once (default 64)")


def run_command(args, assignment: Assignment, console: Console, late: dict[str, str] | None = None) -> int:
    """Grade the class folder `args.path`; print the summary; return the batch's exit status.

    `late` names the manifest, extensions and roster CSVs of the late policy (grader.course.late.rules_from_files).
    """
    roster = read_roster(args.path)
    if not roster.entries and not roster.clashes:
        raise GradingError(f"{args.path}: no submissions (.py, .ipynb, .zip or folders) in this folder")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    errors = Console(stderr=True, soft_wrap=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=args.quiet) as bar:
        task = bar.add_task(f"grading {assignment.slug}", total=len(roster.entries))
        try:
            batch = grade_class(assignment, roster, args.out, _backend(args), public_only=args.public_only,
                                regrade=args.regrade, wait=args.wait, late=late, hold_feedback=args.hold_feedback,
                                progress=lambda done, total: bar.update(task, completed=done),
                                waiting=lambda message: errors.print(message, highlight=False))
        except KeyboardInterrupt:
            bar.stop()
            errors.print(f"interrupted: the gradings in flight were stopped and nothing of them was kept; the "
                         f"results in {args.out} stay. Run the same command again to grade the rest.", highlight=False)
            return 130
    if not args.quiet:
        _print_summary(console, batch, roster, args.out, args.hold_feedback)
    return batch.exit_status


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "?"


def _backend(args):
    if args.slurm:
        from grader.batch.slurm import SlurmArray, load_options
        return SlurmArray(load_options(args.slurm_config, partition=args.partition, time_limit=args.time_limit,
                                       gpus_per_task=args.gpus_per_task, array_parallelism=args.array_parallelism))
    from grader.batch.local import LocalPool
    return LocalPool(args.jobs)


def _print_summary(console: Console, batch: Batch, roster, out: Path, hold_feedback: bool = False) -> None:
    from rich.table import Table

    students = sorted({*roster.entries, *roster.clashes})
    table = Table(title=f"{len(batch.results)} of {len(students)} graded"
                        + (f" ({batch.kept} kept from an earlier run)" if batch.kept else ""))
    for column in ("student", "score", "failed tests", "isolation"):
        table.add_column(column)
    for student in students:
        result = batch.results.get(student)
        if result is not None:
            late = f" (late policy: {result.late.status}, -{result.late_penalty:g})" if result.late else ""
            table.add_row(Text(student), f"{result.final_score:g} / {result.max_score:g}{late}",
                          str(sum(t.status != "passed" for t in result.tests)), result.isolation)
    console.print(table)
    if batch.failures:
        console.print(f"[bold red]not graded ({len(batch.failures)}):[/]")
        for student, why in sorted(batch.failures.items()):
            console.print(Text.assemble("  ", (student, "bold"), ": " + clean_text(_last_line(why))))
    if roster.skipped:
        console.print(f"skipped ({len(roster.skipped)}, not submissions):")
        for line in roster.skipped:
            console.print(Text(f"  {line}"))
    console.print(Text(f"results and gradebook: {out}/ (gradebook.csv)"))
    if hold_feedback:
        console.print(Text(f"feedback pages held back: `grader feedback {out}` writes them when you release them"))
