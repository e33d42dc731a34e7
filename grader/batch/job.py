"""The long-lived trusted grading process of a local batch (`python -m grader.batch.job CONFIG`), and of a
Slurm task (`grade_chunk`, in the task's own process).

It does the imports, the isolation probe and a warm-up grading once, then grades submissions, up to
`jobs` at a time, each in a fresh child forked from it (so nothing of one student's grading reaches
the next, and what the parent loaded, torch included, is shared by every child), each child with its
own sandboxes. The reference's plain results that children learn come back to the parent, which hands
them to the next children; its sandbox is started once per slot, here, and lent to one child at a time
(replaced when a child left it in doubt), so no child pays its imports (torch's, about a second); no
student code ever runs in it. Requests come as JSON lines on stdin ({"student", "path"}); each gets one
JSON line on stdout ({"student", "status", "message"}). A child that dies or hangs is replaced and its
submission retried once, then reported. SIGTERM stops the children in flight (each closes its
sandboxes and writes nothing), then the job.
"""

from __future__ import annotations

import ctypes
import gc
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
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from grader.batch.task import Outcome, grade_into, stop_on
from grader.sandbox.space import remove_tree

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (so a SIGKILLed batch leaves no grader)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class _Child:
    pid: int
    pipe: int
    student: str
    path: str
    deadline: float
    tries: int
    slot: int
    chunks: list[bytes] = field(default_factory=list)  # its reply so far, joined once it ended (a linear read)


class Job:
    def __init__(self, config: dict):
        from grader import spec
        from grader.isolation_cache import cached_detect
        from grader.refcache import ReferenceCache
        from grader.runner import zygote_for
        from grader.sandbox.groups import cgroup_version
        from grader.sandbox.space import can_mount

        self.config = config
        self.assignment = spec.load(config["assignment"])
        self.zygote = zygote_for(self.assignment, cached_detect())  # every sandbox of the batch is forked from it;
        # it preloads while this process imports
        for module in ("grader.runner", "grader.plugin", "grader.exam"):
            importlib.import_module(module)  # pytest and the plugin: once, before any fork (the writer renders pages)
        can_mount(), cgroup_version()  # probed once; the children inherit the answers
        for name in {module.split(".")[0] for module in self.assignment.preload}:  # what the tests use, not what
            try:                                                                   # only the sandboxes need
                __import__(name)
            except ImportError:
                pass
        self.limit = 2 * (self.assignment.limits.total_timeout or 600) + 300
        self.children: dict[int, _Child] = {}  # by the read end of each child's pipe
        self.cache = ReferenceCache()  # the reference's results, learnt by the children, kept here
        self.references: dict[int, object] = {}  # slot -> the reference's sandbox lent to the child in that slot
        self._warm_up()
        if self.zygote is not None:
            self.zygote.ready()
        gc.collect()
        gc.freeze()  # what the children inherit is never scanned by their collections: it stays shared, not copied

    def _warm_up(self) -> None:
        """Grade an empty module once, here: each child then starts with pytest's machinery, the tests'
        imports (with what they draw figures with) and the first sandbox start already paid for."""
        from grader.runner import grade

        modules = [name for name in self.assignment.submission if name.endswith(".py")]
        if not modules:
            return
        with tempfile.TemporaryDirectory(prefix="grader-warm-up-") as folder:
            empty = Path(folder) / modules[0]
            empty.write_text("")
            try:
                grade(self.assignment, empty, public_only=self.config["public_only"], zygote=self.zygote, warm_up=True)
            except Exception:
                pass  # a broken assignment is reported by each grading, with its reason

    def start(self, student: str, path: str, tries: int = 2) -> None:
        """Fork a child that grades one submission."""
        slot = min(set(range(len(self.children) + 1)) - {c.slot for c in self.children.values()})
        reference = self._reference(slot)
        read_end, write_end = os.pipe()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # until the child has its own handler
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            self._child(write_end, student, path, reference)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        os.close(write_end)
        self.children[read_end] = _Child(pid, read_end, student, path, time.monotonic() + self.limit, tries, slot)

    def _reference(self, slot: int):
        """The reference's sandbox of a slot: the one its last child left idle, else a fresh one (None without)."""
        from grader.runner import reference_template
        from grader.sandbox.launch import TemplateError

        template = self.references.get(slot)
        if template is not None and template.idle():
            return template
        self._retire(slot)
        folder = Path(tempfile.mkdtemp(prefix="grader-ref-"))
        try:
            self.references[slot] = reference_template(self.assignment, folder, self.config["public_only"], self.zygote)
        except (OSError, TemplateError):
            self.references[slot] = None  # each grading starts its own, as a single call does
        if self.references[slot] is None:
            remove_tree(folder)
        return self.references[slot]

    def collect(self, pipe: int) -> tuple[str, Outcome] | None:
        """Read from a child; once it ended, its student and outcome (None while it runs or when retried)."""
        child = self.children[pipe]
        chunk = os.read(pipe, 1 << 16)
        if chunk:
            child.chunks.append(chunk)
            return None
        return self._ended(child, os.waitpid(child.pid, 0)[1], hung=False)

    def overdue(self) -> list[tuple[str, Outcome]]:
        """Stop the children past their deadline; their students and outcomes (or retry them)."""
        ended = []
        for child in [c for c in self.children.values() if time.monotonic() >= c.deadline]:
            result = self._ended(child, _stop(child.pid), hung=True)
            if result:
                ended.append(result)
        return ended

    def next_deadline(self) -> float | None:
        return min((c.deadline for c in self.children.values()), default=None)

    def _ended(self, child: _Child, status: int | None, hung: bool) -> tuple[str, Outcome] | None:
        os.close(child.pipe)
        del self.children[child.pipe]
        try:
            # from our own trusted child (student code never runs in it): its outcome and what it learnt
            reply = pickle.loads(b"".join(child.chunks))
            self.cache.merge(reply["cache"])
            if reply["outcome"].status == "interrupted":
                self._retire(child.slot)  # it may have stopped halfway through a request to the reference's sandbox
            return child.student, reply["outcome"]
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError):
            from grader.sandbox.launch import describe_status
            self._retire(child.slot)
            why = f"took longer than {self.limit:g} s" if hung else describe_status(status)
        if child.tries > 1:
            self.start(child.student, child.path, child.tries - 1)
            return None
        return child.student, Outcome("failed", f"the grading process {why}")

    def _retire(self, slot: int) -> None:
        template = self.references.pop(slot, None)
        if template is not None:
            template.close()
            remove_tree(template.files)  # the folder `_reference` made for it

    def close(self) -> None:
        """Stop the reference's sandboxes (the children have ended), then the zygote."""
        for slot in list(self.references):
            self._retire(slot)
        if self.zygote is not None:
            self.zygote.close()

    def _child(self, write_end: int, student: str, path: str, reference) -> None:
        die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_on(signal.SIGTERM)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # stray output must not mix with the job's replies
        for pipe in self.children:
            os.close(pipe)
        self.cache.learn_afresh()  # it sends back only what it learns, not what it inherited
        try:
            outcome = grade_into(self.config, student, path, self.cache, reference, self.zygote)
        except BaseException:
            last = traceback.format_exc().strip().splitlines()[-1]
            outcome = Outcome("failed", f"the grader failed: {last}")
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps({"outcome": outcome, "cache": self.cache.added}))
        finally:
            os._exit(0)

    def serve(self, reply: Callable[[str, Outcome], None], jobs: int, requests: Sequence[tuple[str, str]] = (),
              stdin: int | None = None) -> None:
        """Grade each (student, path) of `requests`, then each request read from `stdin` (JSON lines) until it
        ends, `jobs` at once; `reply(student, outcome)` as each ends."""
        pending, buffered, reading = deque(requests), b"", stdin is not None
        while reading or pending or self.children:
            while pending and len(self.children) < jobs:
                self.start(*pending.popleft())
            deadline = self.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(([stdin] if reading else []) + list(self.children), [], [], timeout)
            ended = self.overdue()
            for fd in ready:
                if fd == stdin:
                    chunk = os.read(stdin, 1 << 16)
                    reading = bool(chunk)
                    *lines, buffered = (buffered + chunk).split(b"\n")
                    requested = [json.loads(line) for line in lines if line.strip()]
                    pending.extend((request["student"], request["path"]) for request in requested)
                elif fd in self.children:
                    result = self.collect(fd)
                    if result:
                        ended.append(result)
            for student, outcome in ended:
                reply(student, outcome)

    def stop_all(self) -> None:
        """SIGTERM every child (each closes its sandboxes), SIGKILL those still there after 20 s."""
        pids = [c.pid for c in self.children.values()]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if not _reaped(pid)]
            time.sleep(0.05)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
            _reaped(pid, block=True)


def _stop(pid: int) -> int | None:
    """SIGTERM one child, SIGKILL it after 20 s; its wait status."""
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reaped(pid: int, block: bool = False) -> bool:
    try:
        return os.waitpid(pid, 0 if block else os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _one_thread() -> None:
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[threads] = "1"  # no thread pools in a process that forks (torch's OpenMP would hang a child)


def grade_chunk(config: dict, requests: list[tuple[str, str]], reply: Callable[[str, Outcome], None]) -> None:
    """Grade each (student, path) in this process, as a job does (a Slurm task's chunk: no second interpreter to
    start and import); `reply(student, outcome)` as each ends. An interruption (grader.batch.task.stop_on) stops
    the children in flight."""
    _one_thread()
    job = Job(config)
    try:
        job.serve(reply, config["jobs"], requests)
    finally:
        job.stop_all()
        job.close()


def main(config: dict) -> None:
    _one_thread()
    job = Job(config)

    def terminate(signum, frame):
        job.stop_all()
        job.close()
        os._exit(130)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch decides what a Ctrl-C stops
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    def reply(student: str, outcome: Outcome) -> None:
        replies.write(json.dumps({"student": student, **outcome.to_dict()}) + "\n")
        replies.flush()

    job.serve(reply, config["jobs"], stdin=0)
    job.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
