"""A long-lived trusted grading process of a local batch (`python -m grader.batch.job CONFIG`).

It does the imports, the isolation probe and the preloads once, then grades one submission after
another, each in a fresh child forked from it (so nothing of one student's grading reaches the next),
each child with its own sandboxes. Requests come as JSON lines on stdin ({"student", "path"}), and
each gets one JSON line on stdout ({"student", "status", "message"}). A child that dies or hangs is
replaced and its submission retried once, then reported. SIGTERM stops the child in flight (its
sandboxes are closed, nothing is written) and the job.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import pickle
import select
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from grader.batch.task import Outcome, grade_into, stop_on
from grader.refcache import ReferenceCache

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (so a SIGKILLed batch leaves no grader)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Job:
    def __init__(self, config: dict):
        from grader import spec
        from grader.isolation_cache import cached_detect
        from grader.sandbox.space import can_mount
        from grader.sandbox.groups import cgroup_version

        importlib.import_module("grader.runner")  # pytest, the plugin, the reports: once, before any fork
        self.config = config
        self.assignment = spec.load(config["assignment"])
        cached_detect(), can_mount(), cgroup_version()  # probed once; the children inherit the answers
        for name in self.assignment.preload:
            try:
                __import__(name)
            except ImportError:
                pass
        self.limit = 2 * (self.assignment.limits.total_timeout or 600) + 300
        self.child: int | None = None
        self.cache = ReferenceCache()  # the reference's results, learnt by the children, kept here
        self._warm_up()

    def _warm_up(self) -> None:
        """Grade an empty module once, here: each child then starts with pytest's machinery, the feedback
        page's templates and the submission's first sandbox start already paid for."""
        from grader.runner import grade

        modules = [name for name in self.assignment.submission if name.endswith(".py")]
        if not modules:
            return
        with tempfile.TemporaryDirectory(prefix="grader-warm-up-") as folder:
            empty = Path(folder) / modules[0]
            empty.write_text("")
            grade(self.assignment, empty, public_only=self.config["public_only"], feedback=Path(folder) / "page.html")

    def grade(self, student: str, path: str) -> Outcome:
        """Grade in a fresh child; a child that dies or hangs is replaced once."""
        outcome = self._attempt(student, path)
        if outcome.status == "crashed":
            outcome = self._attempt(student, path)
        return Outcome("failed", outcome.message) if outcome.status == "crashed" else outcome

    def _attempt(self, student: str, path: str) -> Outcome:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            self._child(write_end, student, path)
        os.close(write_end)
        self.child = pid
        data, deadline = b"", time.monotonic() + self.limit
        while time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
        os.close(read_end)
        hung = time.monotonic() >= deadline
        status = self.stop_child() if hung else os.waitpid(pid, 0)[1]
        try:
            # from our own trusted child (student code never runs in it): its outcome and what it learnt
            reply = pickle.loads(data)
            self.cache.merge(reply["cache"])
            return reply["outcome"]
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError):
            from grader.sandbox.launch import describe_status
            why = f"took longer than {self.limit:g} s" if hung else describe_status(status)
            return Outcome("crashed", f"the grading process {why}")
        finally:
            self.child = None

    def _child(self, write_end: int, student: str, path: str) -> None:
        die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_on(signal.SIGTERM)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # stray output must not mix with the job's replies
        try:
            outcome = grade_into(self.config["assignment"], self.config["public_only"], student, path,
                                 self.config["out"], self.cache)
        except BaseException:
            last = traceback.format_exc().strip().splitlines()[-1]
            outcome = Outcome("failed", f"the grader failed: {last}")
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps({"outcome": outcome, "cache": self.cache.added}))
        finally:
            os._exit(0)

    def stop_child(self) -> int | None:
        """SIGTERM the child in flight (it closes its sandboxes), SIGKILL it after 20 s; its wait status."""
        pid = self.child
        if pid is None:
            return None
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return status
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return None


def main(config: dict) -> None:
    job = Job(config)

    def terminate(signum, frame):
        job.stop_child()
        os._exit(130)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch decides what a Ctrl-C stops
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        request = json.loads(line)
        outcome = job.grade(request["student"], request["path"])
        replies.write(json.dumps({"student": request["student"], **outcome.to_dict()}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
