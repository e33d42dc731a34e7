"""The local backend: a pool of long-lived grading jobs (grader.batch.job) on this machine."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Callable

from grader.batch.job import die_with_parent
from grader.batch.task import Outcome


class LocalPool:
    """Grades with `jobs` job processes at once; their temporary files go under the batch's run folder."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)

    def run(self, config: dict, requests: list[tuple[str, Path]], run_dir: Path,
            done: Callable[[str, Outcome], None]) -> None:
        """Grade every (student, path), calling `done` as each ends; a KeyboardInterrupt stops every job."""
        queue = deque(requests)
        selector = selectors.DefaultSelector()
        running: dict[int, _Job] = {}
        try:
            for index in range(min(self.jobs, len(queue))):
                job = _Job(config, run_dir, index)
                running[job.process.pid] = job
                selector.register(job.process.stdout, selectors.EVENT_READ, job)
                job.send(queue.popleft())
            while running:
                for key, _ in selector.select():
                    job = key.data
                    line = job.process.stdout.readline()
                    if line:
                        reply = json.loads(line)
                        job.current = None
                        done(reply["student"], Outcome.from_dict(reply))
                    else:  # the job itself died: report its student, start another in its place
                        selector.unregister(job.process.stdout)
                        del running[job.process.pid]
                        job.process.wait()
                        if job.current is not None:
                            done(job.current, Outcome("failed", f"the grading job ended: {job.log_tail()}"))
                            job.current = None
                        if queue:
                            job = _Job(config, run_dir, job.index)
                            running[job.process.pid] = job
                            selector.register(job.process.stdout, selectors.EVENT_READ, job)
                        else:
                            continue
                    if queue:
                        job.send(queue.popleft())
                    elif job.process.stdin and not job.process.stdin.closed:
                        job.process.stdin.close()
        finally:
            for job in running.values():
                job.terminate()
            for job in running.values():
                job.wait()
            selector.close()


class _Job:
    def __init__(self, config: dict, run_dir: Path, index: int):
        self.index, self.current = index, None
        self.log = run_dir / f"job-{index}.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "grader.batch.job", json.dumps(config)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "TMPDIR": str(run_dir)},
                start_new_session=True, preexec_fn=die_with_parent)

    def send(self, request: tuple[str, Path]) -> None:
        self.current = request[0]
        self.process.stdin.write(json.dumps({"student": request[0], "path": str(request[1])}) + "\n")
        self.process.stdin.flush()

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else f"exit status {self.process.returncode}"

    def terminate(self) -> None:
        """Ask the job to stop: it stops its grading child, which closes its sandboxes and writes nothing."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        """Wait for the job to end; SIGKILL it after 30 s."""
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
