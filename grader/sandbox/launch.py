"""Start sandboxed templates and fork workers from them (trusted side).

With bubblewrap the template sees a read-only view of the system (the Python install and
the grader package only: no assignments, no solutions, no home folders), a private /tmp,
its own writable work folder, no network, its own PID namespace, and runs as an
unprivileged user. Without bubblewrap it runs with the same resource limits and, where the
grader is root, as an unprivileged user, and every result carries a warning that hidden
files may be readable.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grader

NOBODY = 65534
SANDBOX_WORKDIR = "/home/student"
SANDBOX_META = "/grader"
_GRADER_PARENT = str(Path(grader.__file__).resolve().parent.parent)
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


_BOOTSTRAP_IMPORT = f"import sys; sys.path.insert(0, {_GRADER_PARENT!r}); from grader.sandbox.worker import template_main"


def _python(code: str, *args: str) -> list[str]:
    """The command that runs `code` in an isolated Python that imports the grader from where it lies."""
    return [sys.executable, "-I", "-c", code, *args]


@dataclass(frozen=True)
class Isolation:
    """Which isolation is in force, and what the user should know about it."""

    level: str                 # "bubblewrap" or "rlimits"
    uid: int | None            # the unprivileged user the template switches to, if any
    warning: str | None = None


@functools.lru_cache(maxsize=None)
def detect(force: str | None = None) -> Isolation:
    """Use bubblewrap when it works here; otherwise fall back to resource limits."""
    force = force or os.environ.get("GRADER_ISOLATION")
    uid = NOBODY if os.getuid() == 0 else None
    if force != "rlimits" and shutil.which("bwrap"):
        try:
            probe = subprocess.run(_bwrap_prefix(Path("/tmp"), Path("/tmp"), uid) + _python(_BOOTSTRAP_IMPORT),
                                   capture_output=True, timeout=300)
            why = probe.stderr.decode(errors="replace").strip()[:200]
        except (OSError, subprocess.SubprocessError) as error:
            probe, why = None, str(error)
        if probe is not None and probe.returncode == 0:
            return Isolation("bubblewrap", uid)
        reason = f"bubblewrap is installed but does not work here ({why})"
    elif force == "rlimits":
        reason = "bubblewrap was turned off (GRADER_ISOLATION=rlimits)"
    else:
        reason = "bubblewrap (bwrap) is not installed"
    if uid is not None and not _runs_as(uid):
        uid, who = None, "as the grader's own user (no unprivileged user can run this Python)"
    else:
        who = "as an unprivileged user" if uid is not None else "as the grader's own user"
    return Isolation("rlimits", uid, f"{reason}: student code runs with resource limits only, {who}, "
                                     "with network access and a view of the whole file system")


def _runs_as(uid: int) -> bool:
    try:
        return subprocess.run([sys.executable, "-I", "-c", "import numpy"], user=uid, group=uid,
                              capture_output=True, timeout=60, cwd="/").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _python_paths() -> list[str]:
    paths = {sys.base_prefix, sys.prefix, *site.getsitepackages()}
    return sorted(p for p in paths if os.path.isdir(p))


def _bwrap_prefix(workdir: Path, meta: Path, uid: int | None) -> list[str]:
    args = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv"]
    if uid is not None:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    args += ["--ro-bind", "/usr", "/usr", "--tmpfs", "/tmp"]  # /tmp first: later binds may lie under it
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "passwd", "group"):
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    made = set()
    for path in [*_python_paths(), str(Path(grader.__file__).resolve().parent)]:
        for ancestor in reversed(Path(path).parents):
            if str(ancestor) != "/" and str(ancestor) not in made and not str(ancestor).startswith("/usr"):
                made.add(str(ancestor))
                args += ["--perms", "0755", "--dir", str(ancestor)]
        args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in sorted(glob.glob("/dev/nvidia*")):  # a GPU, when the machine has one
        args += ["--dev-bind", device, device]
    if os.path.exists("/dev/nvidiactl"):
        args += ["--ro-bind", "/sys", "/sys"]
    args += ["--perms", "0755", "--dir", "/home",
             "--bind", str(workdir), SANDBOX_WORKDIR, "--ro-bind", str(meta), SANDBOX_META, "--chdir", SANDBOX_WORKDIR]
    for key, value in _ENV.items():
        args += ["--setenv", key, value]
    return args


class TemplateError(Exception):
    """The sandboxed template could not be started or stopped answering."""


class Template:
    """One sandboxed fork server for one code tree (a submission, or the reference)."""

    def __init__(self, workdir: Path, cells: list[dict], config: dict, isolation: Isolation):
        self.isolation = isolation
        self.meta = Path(tempfile.mkdtemp(prefix="grader-meta-"))
        (self.meta / "cells.json").write_text(json.dumps(cells))
        inside = isolation.level == "bubblewrap"
        self.workdir = SANDBOX_WORKDIR if inside else str(workdir)
        self.cells_path = f"{SANDBOX_META}/cells.json" if inside else str(self.meta / "cells.json")
        if isolation.uid is not None:
            _give_to(workdir, isolation.uid)
            os.chmod(self.meta, 0o755)
            os.chmod(self.meta / "cells.json", 0o644)
        self.control, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        template_config = {**config, "uid": isolation.uid, "gid": isolation.uid, "control_fd": child_end.fileno(),
                           "own_pid_namespace": inside}
        command = _python(f"{_BOOTSTRAP_IMPORT}; import json; template_main(json.loads(sys.argv[1]))",
                          json.dumps(template_config))
        if inside:
            command = _bwrap_prefix(workdir, self.meta, isolation.uid) + command
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            command, pass_fds=[child_end.fileno()], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=None if inside else {**_ENV, "HOME": str(workdir)}, cwd=str(workdir),
            user=isolation.uid if not inside else None, group=isolation.uid if not inside else None,
            start_new_session=True,
        )
        child_end.close()
        self.first_spawn = True

    def spawn(self, sock_end: socket.socket, out_end: int, config: dict) -> int:
        """Fork a worker that serves on `sock_end` and writes its output to `out_end`; return its pid."""
        request = {"op": "spawn", "config": {"workdir": self.workdir, "cells": self.cells_path, **config}}
        socket.send_fds(self.control, [json.dumps(request).encode()], [sock_end.fileno(), out_end])
        reply = self._reply(timeout=120 if self.first_spawn else 30)
        self.first_spawn = False
        return int(reply["pid"])

    def kill(self, pid: int) -> str:
        """Kill a worker and its process group (through the template, which is its parent); say how it ended."""
        try:
            self.control.send(json.dumps({"op": "kill", "pid": pid}).encode())
            status = self._reply(timeout=10).get("status")
        except (OSError, TemplateError):
            if self.isolation.level != "bubblewrap":
                _killpg(pid)
            self.close()
            return "stopped, and its sandbox with it"
        return describe_status(status)

    def pause(self, pid: int) -> None:
        """Stop every process of the submission (SIGSTOP), so none competes for the CPU while the reference is timed."""
        self._signal("pause", pid)

    def resume(self, pid: int) -> None:
        self._signal("resume", pid)

    def _signal(self, op: str, pid: int) -> None:
        self.control.send(json.dumps({"op": op, "pid": pid}).encode())
        self._reply(timeout=10)

    def _reply(self, timeout: float) -> dict:
        self.control.settimeout(timeout)
        try:
            data = self.control.recv(65536)
        except (socket.timeout, OSError) as error:
            raise TemplateError(f"the sandbox did not answer ({error}){self._log_tail()}") from None
        if not data:
            raise TemplateError(f"the sandbox stopped{self._log_tail()}")
        return json.loads(data)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the template and everything it started."""
        if self.process.returncode is not None:
            return
        self.control.close()
        _killpg(self.process.pid)
        self.process.wait()
        self.log.close()
        shutil.rmtree(self.meta, ignore_errors=True)

    def _log_tail(self) -> str:
        self.log.seek(0, os.SEEK_END)
        size = self.log.tell()
        self.log.seek(max(0, size - 2000))
        tail = self.log.read().decode(errors="replace").strip()
        return f": {tail}" if tail else ""


def _give_to(folder: Path, uid: int) -> None:
    for root, _, files in os.walk(folder):
        os.chown(root, uid, uid)
        for name in files:
            os.chown(os.path.join(root, name), uid, uid)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_SIGNALS = {signal.SIGSEGV: "crashed (segmentation fault)", signal.SIGBUS: "crashed (bus error)",
            signal.SIGKILL: "was killed", signal.SIGXCPU: "ran out of CPU time",
            signal.SIGXFSZ: "wrote a file over the size limit", signal.SIGABRT: "aborted",
            signal.SIGFPE: "crashed (arithmetic fault)", signal.SIGILL: "crashed (illegal instruction)"}


def describe_status(status: int | None) -> str:
    """How a worker ended, from its wait status."""
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        return _SIGNALS.get(os.WTERMSIG(status), f"was killed by signal {os.WTERMSIG(status)}")
    return f"exited with status {os.WEXITSTATUS(status)}"
