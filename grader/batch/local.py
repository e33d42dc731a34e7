"""The local backend: one long-lived grading job (grader.batch.job) on this machine, `jobs` gradings at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from grader.batch.job import die_with_parent
from grader.batch.task import Outcome


class LocalPool:
    """Grades with up to `jobs` submissions at once; temporary files go under the batch's run folder."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)

    def run(self, config: dict, requests: list[tuple[str, Path]], run_dir: Path,
            done: Callable[[str, Outcome], None], started: Callable[[str], None] = lambda student: None) -> None:
        """Grade every (student, path), calling `started` as each starts (the job takes them in order, `jobs` at
        once) and `done` as each ends; a KeyboardInterrupt stops the job."""
        log = run_dir / "job.log"
        with open(log, "ab") as stderr:
            job = subprocess.Popen([sys.executable, "-m", "grader.batch.job", json.dumps({**config, "jobs": self.jobs})],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**os.environ, "TMPDIR": str(run_dir)}, start_new_session=True,
                                   preexec_fn=die_with_parent)
        waiting = {student for student, _ in requests}
        queue = [student for student, _ in requests]
        following = self.jobs  # the next in the queue: the job starts it in the place a finished one frees
        try:
            for student, path in requests:  # the job reads as it grades, so this never waits for long
                job.stdin.write(json.dumps({"student": student, "path": str(path)}) + "\n")
            job.stdin.close()
            for student in queue[:self.jobs]:
                started(student)
            for line in job.stdout:
                reply = json.loads(line)
                waiting.discard(reply["student"])
                done(reply["student"], Outcome.from_dict(reply))
                if following < len(queue):
                    started(queue[following])
                    following += 1
            job.wait()
            for student in sorted(waiting):  # the job itself died
                done(student, Outcome("failed", f"the grading job ended: {_last_line(log, job.returncode)}"))
        finally:
            if job.poll() is None:
                job.send_signal(signal.SIGTERM)  # it stops its children, which close their sandboxes
                try:
                    job.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    job.kill()
                    job.wait()


def _last_line(log: Path, status: int | None) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else f"exit status {status}"
