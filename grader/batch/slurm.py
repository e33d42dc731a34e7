"""The Slurm backend: array tasks through submitit, each grading a chunk of students with one warm local job.

A task pays a grader's imports, isolation probe and warm-up once for its chunk (`chunk_size` students, 8 by
default), as a local batch does for the class: it is the job itself (grader.batch.job.grade_chunk, no second
interpreter to start), with `cpus_per_task` gradings at once.

submitit moves pickles through a folder of the run's own (`<out>/.runs/<run id>/slurm/`, under a 0700 folder):
the submitting side writes the calls, the task on the node writes its chunk's outcomes there and nothing else:
the batch records them in the store. A task that ends before it answers (the time limit, a node failure) leaves
every student of its chunk to the next run. Tasks are submitted with requeue off, and the folder of a run is
removed when the run ends, so a task of an ended run (one Slurm failed and ran again all the same) has
nowhere to write that anyone reads. Both sides are the trusted grader; a sandbox on the node never sees
those folders or the grader's files (bubblewrap binds only what it needs, read-only, and runs student code
as a user of its own). A node without bubblewrap where the grader is not root would run student code as
the grader's own user, able to write those folders: the task refuses to grade there, and says why.

While it waits, the batch reports a cluster that has started none of its tasks for `stall_report` seconds
(with what Slurm says of them), and gives up at its deadline: the tasks still pending or running are
cancelled and reported, and the next run grades them.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import yaml

from grader.batch.task import Interrupted, Outcome, interrupted, stop_on
from grader.runner import GradingError


@dataclass
class SlurmOptions:
    """What each array task asks Slurm for (a config file may set them; the command line wins)."""

    partition: str | None = None
    time_limit: int = 30           # minutes per task
    chunk_size: int = 8            # students per task, graded by one warm job
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    array_parallelism: int = 64    # tasks running at once
    stall_report: int = 180        # seconds without a task starting or ending before the wait is reported
    deadline: int = 0              # minutes the batch waits in all (0: the time limit of every wave of tasks, + 30)


def load_options(config: Path | None, **given) -> SlurmOptions:
    """The options from a YAML config file (keys as in SlurmOptions), overridden by those given (not None)."""
    values = {}
    if config is not None:
        try:
            data = yaml.safe_load(config.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise GradingError(f"{config}: cannot read the Slurm config ({error})") from None
        known = {f.name: f.type for f in fields(SlurmOptions)}
        if not isinstance(data, dict) or set(data) - set(known):
            unknown = sorted(set(data) - set(known)) if isinstance(data, dict) else ["(not a mapping)"]
            raise GradingError(f"{config}: unknown Slurm option {', '.join(map(str, unknown))} "
                               f"(known: {', '.join(known)})")
        for key, value in data.items():
            wants_int = key != "partition"
            if wants_int and (type(value) is not int or value < 0) or not wants_int and not isinstance(value, str):
                raise GradingError(f"{config}: {key} must be {'a whole number ≥ 0' if wants_int else 'a name'}")
        values.update(data)
    values.update({k: v for k, v in given.items() if v is not None})
    return SlurmOptions(**values)


def refusal(isolation) -> str | None:
    """Why this node may not grade (student code could write what the trusted side reads), or None."""
    if isolation.level != "bubblewrap" and not isolation.own_users:
        return ("this node has no working bubblewrap and the grader is not root, so student code would run as the "
                "grader's own user, able to write the Slurm folder and the results: refusing to grade here "
                "(install bubblewrap on the nodes, or run the grader as root)")
    return None


def slurm_task(config: dict, chunk: list[tuple[str, str]]) -> dict[str, dict]:
    """One array task on a node: refuse an unsafe node, else grade the chunk's (student, path) with one warm local
    job; the outcome of each student, by name."""
    from grader.batch.job import grade_chunk
    from grader.batch.reclaim import RunFolder
    from grader.isolation_cache import cached_detect

    why = refusal(cached_detect())
    if why:
        return {student: Outcome("failed", why).to_dict() for student, _ in chunk}
    outcomes: dict[str, dict] = {}
    # Slurm's SIGTERM (preemption, the time limit) and submitit's SIGUSR2 (the time limit is near): stop the job,
    # keep what it finished
    stop_on(signal.SIGTERM, signal.SIGUSR2)
    with RunFolder() as run:
        tempfile.tempdir = str(run.path)
        os.environ["TMPDIR"] = str(run.path)
        try:
            grade_chunk(config, chunk, lambda student, outcome: outcomes.__setitem__(student, outcome.to_dict()))
        except Interrupted:
            pass
        except Exception as error:  # the job could not start (or broke): each student not graded fails, saying why
            why = f"the grading job ended: {type(error).__name__}: {error}"
            for student, _ in chunk:
                outcomes.setdefault(student, Outcome("failed", why).to_dict())
    return {student: outcomes.get(student) or interrupted().to_dict() for student, _ in chunk}


def _deadline(options: SlurmOptions, tasks: int) -> float:
    """Seconds the batch waits for its tasks in all."""
    if options.deadline:
        return options.deadline * 60.0
    waves = -(-tasks // max(1, options.array_parallelism))
    return (options.time_limit * waves + 30) * 60.0


class SlurmArray:
    """Grades the submissions as the tasks of a Slurm job array, a chunk of students per task."""

    def __init__(self, options: SlurmOptions, notice: Callable[[str], None] | None = None):
        self.options = options
        self.notice = notice or (lambda message: None)

    def run(self, config: dict, requests: list[tuple[str, Path]], run_dir: Path,
            done: Callable[[str, Outcome], None], started: Callable[[str], None] = lambda student: None) -> None:
        """Submit the array and wait, calling `started` for a task's students as Slurm starts it and `done` for
        each as the task ends; a KeyboardInterrupt cancels the rest."""
        import submitit

        folder = Path(config["scratch"]) / "slurm"  # the run's own folder, removed when the run ends
        executor = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=0)
        o = self.options
        executor.update_parameters(job_name=f"grader-{Path(config['assignment']).name}", time=o.time_limit,
                                   partition=o.partition, gpus_per_task=o.gpus_per_task or None,
                                   cpus_per_task=o.cpus_per_task, array_parallelism=o.array_parallelism,
                                   additional_parameters={"no_requeue": True})
        size = max(1, o.chunk_size)
        chunks = [[(student, str(path)) for student, path in requests[i:i + size]] for i in range(0, len(requests), size)]
        try:
            jobs = executor.map_array(slurm_task, [{**config, "jobs": o.cpus_per_task}] * len(chunks), chunks)
        except (submitit.core.utils.FailedSubmissionError, OSError) as error:
            raise GradingError(f"Slurm did not take the job array: {str(error).strip().splitlines()[-1]}") from None
        pending = {job: [student for student, _ in chunk] for job, chunk in zip(jobs, chunks)}
        try:
            self._wait(pending, done, started, _deadline(o, len(chunks)))
        finally:
            for job in pending:
                job.cancel(check=False)

    def _wait(self, pending: dict, done: Callable[[str, Outcome], None], started: Callable[[str], None],
              deadline: float) -> None:
        """Hand over the outcomes of each task's students as it ends; report a cluster that starts nothing; stop at
        the deadline. `pending`: each task's students."""
        began = changed = reported = polled = time.monotonic()
        states: dict = {}
        while pending:
            for job in [j for j in pending if j.done()]:
                for student, outcome in _outcomes(job, pending.pop(job)).items():
                    done(student, outcome)
                changed = time.monotonic()
            now = time.monotonic()
            if pending and now - polled >= min(5.0, self.options.stall_report / 2):
                current, polled = {job: job.state for job in pending}, now
                for job in [j for j, state in current.items() if state == "RUNNING" and states.get(j) != "RUNNING"]:
                    for student in pending[job]:
                        started(student)
                if current != states:
                    states, changed = current, now
            if pending and now - changed >= self.options.stall_report and now - reported >= self.options.stall_report:
                seen = Counter(states.values())
                self.notice(f"Slurm has started or ended none of the {len(pending)} waiting task(s) "
                            f"({sum(map(len, pending.values()))} students) for "
                            f"{(now - changed) / 60:.1f} min ({', '.join(f'{n} {s}' for s, n in seen.items())}); "
                            f"still waiting, for at most {(deadline - (now - began)) / 60:.0f} min more")
                reported = now
            if now - began >= deadline:
                for job in list(pending):
                    why = Outcome("failed", f"Slurm task {job.job_id} had not ended after {deadline / 60:.1f} min "
                                            f"(it was {job.state}): cancelled")
                    for student in pending.pop(job):
                        done(student, why)
                return
            time.sleep(0.5)


def _outcomes(job, students: list[str]) -> dict[str, Outcome]:
    """What an ended task says of each of its students, with how Slurm ended it where a grading did not finish;
    a task Slurm killed before it could answer (time limit, preemption, node failure) failed them all."""
    try:
        reply = job.result()
    except Exception as error:  # submitit's FailedJobError, UncompletedJobError, and what unpickling raises
        last = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        return dict.fromkeys(students, Outcome("failed", f"Slurm task {job.job_id} ended {job.state}: {last[:300]}"))
    outcomes = {}
    for student in students:
        answer = reply.get(student) if isinstance(reply, dict) else None
        outcome = Outcome.from_dict(answer if isinstance(answer, dict) else {"message": "the task gave no outcome"})
        if outcome.status != "graded":
            outcome.message = f"Slurm task {job.job_id} ended {job.state}: {outcome.message}"
        outcomes[student] = outcome
    return outcomes
