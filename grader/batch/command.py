"""`grader grade <slug> <class folder>`: the batch's options, its plan, its progress, its summary and its exit status.

Exit status: 0 when every student was graded (whatever their scores), 1 when some could not be graded, 2 for
a mistake in the command; 130, 143 or 129 when Ctrl-C, SIGTERM or SIGHUP stopped it (the views then agree
with what was graded, and the same command grades the rest).
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader.results import clean_text
from grader.spec import Assignment
from grader.store import StoreError, read_class_folder

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from grader.batch.run import Batch, Plan

STOPPING = (signal.SIGTERM, signal.SIGHUP)  # handled as Ctrl-C is: what kill, timeout, systemd and Slurm send


class Stopped(KeyboardInterrupt):
    """A signal asked the batch to stop."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The batch's options beyond --out, --jobs and --regrade."""
    batch = parser.add_argument_group("batch")
    batch.add_argument("--class", dest="force_class", action="store_true",
                       help="batch: the folder is a class even if it holds a file named like a submission")
    batch.add_argument("--wait", action="store_true", help="batch: wait for another command writing the same --out")
    slurm = parser.add_argument_group("Slurm (with --slurm; the options may also come from --slurm-config)")
    slurm.add_argument("--slurm", action="store_true", help="grade on Slurm, a chunk of submissions per array task")
    slurm.add_argument("--slurm-config", type=Path, help="YAML file: partition, time_limit, chunk_size, gpus_per_task, "
                                                         "cpus_per_task, array_parallelism, stall_report, deadline")
    slurm.add_argument("--partition", help="Slurm partition")
    slurm.add_argument("--time-limit", type=int, metavar="MIN", help="minutes per task (default 30)")
    slurm.add_argument("--chunk-size", type=int, metavar="N",
                       help="submissions per task, graded by one warm grading job (default 8)")
    slurm.add_argument("--gpus-per-task", type=int, metavar="N", help="GPUs per task (default 0)")
    slurm.add_argument("--array-parallelism", type=int, metavar="N", help="tasks at once (default 64)")
    slurm.add_argument("--stall-report", type=int, metavar="S",
                       help="report a cluster that starts or ends no task for S seconds (default 180)")
    slurm.add_argument("--deadline", type=int, metavar="MIN",
                       help="stop waiting for Slurm after MIN minutes (default: the time limit of each wave + 30)")


def run_command(args, assignment: Assignment, console: Console, late: dict[str, str] | None = None) -> int:
    """Grade the class folder `args.path`; print the plan and the summary; return the exit status.

    `late` names the manifest, extensions and roster CSVs the views apply from now on.
    """
    roster = read_class_folder(args.path, exclude=args.out)
    if not roster.entries and not roster.clashes:
        raise StoreError(f"{args.path}: no submissions (.py, .ipynb, .zip or folders) in this folder")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from grader.batch.run import grade_class  # the class-running modules: only when a class is graded

    errors = Console(stderr=True, soft_wrap=True)
    say = lambda message: errors.print(Text(message), highlight=False)  # noqa: E731
    running = Running()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  running, console=console, disable=args.quiet) as bar, _stopping_signals():
        task = bar.add_task(f"grading {assignment.slug}", total=len(roster.entries))

        def progress(done: int, total: int, student: str | None) -> None:
            running.finished(student)
            bar.update(task, completed=done)

        def planned(plan: Plan) -> None:
            if not args.quiet:
                bar.console.print(Text(plan.summary()), highlight=False)

        try:
            batch = grade_class(assignment, roster, args.out, _backend(args, say), public_only=args.public_only,
                                regrade=args.regrade, wait=args.wait, late=late, hold_feedback=args.hold_feedback,
                                progress=progress, waiting=say, planned=planned, started=running.started)
        except KeyboardInterrupt as stop:
            bar.stop()
            how = f"stopped by {stop.args[0]}" if isinstance(stop, Stopped) else "interrupted"
            say(f"{how}: the gradings in flight were stopped and nothing of them was kept; the results, pages and "
                f"gradebook in {args.out} agree with what was graded. Run the same command again to grade the rest.")
            return 128 + stop.signum if isinstance(stop, Stopped) else 130
    if not args.quiet:
        _print_summary(console, batch, args.out, args.hold_feedback)
    return batch.exit_status


class Running:
    """A column of the progress bar: the students being graded now, and for how long (the longest first)."""

    max_refresh = 1.0

    def __init__(self):
        self.since: dict[str, float] = {}

    def started(self, student: str) -> None:
        self.since[student] = time.monotonic()

    def finished(self, student: str | None) -> None:
        self.since.pop(student, None)

    def __call__(self, task) -> Text:
        from rich.text import Text

        now = time.monotonic()
        shown = [f"{name} {now - start:.0f}s" for name, start in sorted(self.since.items(), key=lambda item: item[1])]
        return Text(("now: " + ", ".join(shown[:4]) + (f" +{len(shown) - 4}" if len(shown) > 4 else "")) if shown
                    else "", style="dim")

    def get_table_column(self):
        from rich.table import Column
        return Column(no_wrap=True, overflow="ellipsis")


class _stopping_signals:
    """While the batch runs, SIGTERM and SIGHUP stop it as Ctrl-C does (the handlers are restored afterwards)."""

    def __enter__(self):
        def stop(signum, frame):
            for other in STOPPING:
                signal.signal(other, signal.SIG_IGN)  # one stop is enough; the clean-up must not be interrupted
            raise Stopped(signum)

        self.earlier = {signum: signal.signal(signum, stop) for signum in STOPPING}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.earlier.items():
            signal.signal(signum, handler)


def _backend(args, notice):
    if args.slurm:
        from grader.batch.slurm import SlurmArray, load_options
        return SlurmArray(load_options(args.slurm_config, partition=args.partition, time_limit=args.time_limit,
                                       chunk_size=args.chunk_size,
                                       gpus_per_task=args.gpus_per_task, array_parallelism=args.array_parallelism,
                                       stall_report=args.stall_report, deadline=args.deadline), notice)
    from grader.batch.local import LocalPool
    return LocalPool(args.jobs)


def _print_summary(console: Console, batch: Batch, out: Path, hold_feedback: bool = False) -> None:
    from rich.table import Table
    from rich.text import Text

    students = batch.grades.students
    graded = len(batch.results)
    table = Table(title=f"{graded} of {len(students)} graded" + (f" ({batch.kept} kept)" if batch.kept else ""))
    for column in ("student", "score", "status", "failed tests", "isolation"):
        table.add_column(column)
    for name, shown in sorted(students.items()):
        result = shown.result
        if result is None:
            continue
        late = f" (late policy: {result.late.status}, -{result.late_penalty:g})" if result.late else ""
        status = shown.status + (f": {shown.reason}" if result.standing != "graded" else "")
        table.add_row(Text(name), f"{result.final_score:g} / {result.max_score:g}{late}", Text(_short(status)),
                      str(sum(t.status != "passed" for t in result.tests)), result.isolation)
    console.print(table)
    if batch.failures:
        console.print(f"[bold red]not graded ({len(batch.failures)}):[/]")
        for name, why in sorted(batch.failures.items()):
            console.print(Text.assemble("  ", (name, "bold"), ": " + clean_text(_short(why))))
    if batch.skipped:
        console.print(f"skipped ({len(batch.skipped)}, not submissions):")
        for line in batch.skipped:
            console.print(Text(f"  {line}"))
    if batch.grades.unknown:
        console.print(Text(f"results in {out} its store did not write (ignored): {', '.join(batch.grades.unknown)}",
                           style="yellow"))
    console.print(Text(f"results and gradebook: {out}/ (gradebook.csv)"))
    if hold_feedback:
        console.print(Text(f"feedback pages held back: `grader feedback {out}` writes them when you release them"))


def _short(text: str) -> str:
    """The last line of a message, as a summary shows it."""
    lines = text.strip().splitlines()
    return lines[-1] if len(lines) == 1 else (lines[0] + " … " + lines[-1] if lines else "?")
