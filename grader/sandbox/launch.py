"""Start sandboxed templates and fork workers from them (trusted side).

With bubblewrap the template sees a read-only view of the system (the Python install and
the grader package only: no assignments, no solutions, no home folders, and none of the
assignment's forbidden packages, which are masked by empty folders), the submission's
files read-only under /grader/files, a bounded writable work folder and /tmp, no network,
its own PID namespace, and runs as a user of its own. Without bubblewrap it runs with the
same resource limits and, where the grader is root, as a user of its own, and every result
carries a warning that hidden files may be readable.

Each sandbox's processes form a group the trusted side controls from outside
(grader.sandbox.groups): frozen while the other side is timed, bounded in number, and all
killed when grading ends. Its writable space is grader.sandbox.space.

Where the grader is root under bubblewrap, the templates are forked from a `Zygote` (one per
grading, or per batch job) instead of started afresh: the same view, built by the zygote's
child in namespaces of its own (grader.sandbox.zygote), without paying the imports again.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import json
import os
import secrets
import select
import shutil
import signal
import site
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grader
from grader.sandbox import groups
from grader.sandbox.space import Space, can_mount, remove_tree

NOBODY = 65534
SANDBOX_WORKDIR = "/home/student"
SANDBOX_META = "/grader"
SANDBOX_FILES = "/grader/files"
SANDBOX_TMP = "/tmp"
FIRST_OWN_UID = 1_500_000_000  # users of the sandboxes: one drawn at random per sandbox from here on
OWN_UIDS = 500_000_000
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


# The sandbox's Python skips `site` (-S): it would run every .pth file of site-packages (an editable
# install's finder, other packages' start-up hooks), a third of a bare start. The site-packages folders
# are put on its path instead, and quit(), exit() and help() defined as `site` defines them.
_SITE_PACKAGES = [folder for folder in site.getsitepackages() if os.path.isdir(folder)]
_BOOTSTRAP_IMPORT = (f"import sys, site; sys.path[:0] = [{_GRADER_PARENT!r}]; sys.path += {_SITE_PACKAGES!r}; "
                     "site.setquit(); site.sethelper(); from grader.sandbox.worker import template_main")


def _python(code: str, *args: str) -> list[str]:
    """The command that runs `code` in an isolated Python that imports the grader from where it lies."""
    return [sys.executable, "-I", "-S", "-c", code, *args]


@dataclass(frozen=True)
class Isolation:
    """Which isolation is in force, and what the user should know about it."""

    level: str                 # "bubblewrap", "rlimits", or "process" (a plain subprocess: a student's own check)
    own_users: bool            # each sandbox runs as a user of its own (the grader is root)
    warning: str | None = None

    def meets(self, required: str) -> bool:
        """Whether this isolation is at least `required` (spec.ISOLATION_LEVELS): "any", "own_user" (student code
        cannot read what only the grader's user may: bubblewrap, or a user of its own), "bubblewrap"."""
        if required == "bubblewrap":
            return self.level == "bubblewrap"
        if required == "own_user":
            return self.level == "bubblewrap" or (self.level == "rlimits" and self.own_users)
        return True

    def describe(self) -> str:
        """The isolation in a few words, for a result or a refusal."""
        if self.level == "rlimits":
            who = "a user of its own" if self.own_users else "the grader's own user"
            return f"resource limits only, as {who}"
        return self.level

    @property
    def enforces_forbidden(self) -> bool:
        """Whether forbidden packages are absent from the sandbox (else forbidding them is advisory)."""
        return self.level == "bubblewrap"

    def notes(self) -> list[str]:
        """What this machine leaves weaker than full isolation, for the result's warnings."""
        notes = [self.warning] if self.warning else []
        if self.level == "process":  # the student's own code on the student's machine: nothing more to say
            return notes
        if self.level != "bubblewrap":
            notes.append("forbidden packages are only advisory here: without bubblewrap they are not removed "
                         "from the sandbox's view")
        if groups.cgroup_version() is None:
            notes.append("no control groups here: speed checks stop the other side with signals and verify from "
                         "/proc that it stayed idle")
        if not can_mount() and self.level != "bubblewrap":
            notes.append("the work folder is not bounded in size here (it needs root or bubblewrap)")
        return notes


PLAIN = Isolation("process", own_users=False, warning="your code ran in a plain subprocess, with no sandbox: "
                                                    "it is your own code on your own machine (grading sandboxes it)")


def for_student() -> Isolation:
    """What `grader check` needs: bubblewrap where it works, else a plain subprocess (a laptop needs no more)."""
    if sys.platform != "linux":
        return PLAIN
    isolation = detect()
    return isolation if isolation.level == "bubblewrap" else PLAIN


@functools.lru_cache(maxsize=None)
def detect(force: str | None = None) -> Isolation:
    """Use bubblewrap when it works here; otherwise fall back to resource limits. GRADER_ISOLATION=rlimits
    turns bubblewrap off; GRADER_ISOLATION=process runs code in a plain subprocess (what a student's laptop gets)."""
    force = force or os.environ.get("GRADER_ISOLATION")
    if force == "process":
        return PLAIN
    own_users = os.getuid() == 0
    if force != "rlimits" and shutil.which("bwrap"):
        try:
            with tempfile.TemporaryDirectory(prefix="grader-probe-") as meta:
                os.mkdir(os.path.join(meta, "files"))
                prefix = _bwrap_prefix(Path(meta), Path(meta), None, own_users, {"disk_mb": 1})
                probe = subprocess.run(prefix + _python(_BOOTSTRAP_IMPORT), capture_output=True, timeout=300)
            why = probe.stderr.decode(errors="replace").strip()[:200]
        except (OSError, subprocess.SubprocessError) as error:
            probe, why = None, str(error)
        if probe is not None and probe.returncode == 0:
            return Isolation("bubblewrap", own_users)
        reason = f"bubblewrap is installed but does not work here ({why})"
    elif force == "rlimits":
        reason = "bubblewrap was turned off (GRADER_ISOLATION=rlimits)"
    else:
        reason = "bubblewrap (bwrap) is not installed"
    if own_users and not _runs_as(NOBODY):
        own_users, who = False, "as the grader's own user (no unprivileged user can run this Python)"
    else:
        who = "as a user of its own" if own_users else "as the grader's own user"
    return Isolation("rlimits", own_users, f"{reason}: student code runs with resource limits only, {who}, "
                                           "with network access and a view of the whole file system")


def fresh_uid() -> int:
    """A user id for one sandbox, drawn from a range no system user has, so its process count is its own."""
    return FIRST_OWN_UID + secrets.randbelow(OWN_UIDS)


def _runs_as(uid: int) -> bool:
    try:
        return subprocess.run([sys.executable, "-I", "-c", "import numpy"], user=uid, group=uid,
                              capture_output=True, timeout=60, cwd="/").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _python_paths() -> list[str]:
    paths = {sys.base_prefix, sys.prefix, *site.getsitepackages()}
    return sorted(p for p in paths if os.path.isdir(p))


def _code_paths() -> list[str]:
    """What a sandbox reads its code from: the Python install, its site-packages, the grader package."""
    return [*_python_paths(), str(Path(grader.__file__).resolve().parent)]


def _bwrap_prefix(files: Path | None, meta: Path, space: Space | None, own_user: bool, limits: dict,
                  masked: tuple[str, ...] = (), capabilities: tuple[str, ...] = ()) -> list[str]:
    """The bubblewrap command line of a sandbox; without a bounded `space`, size-limited tmpfs mounts of its own;
    without `files`, none under /grader/files (a zygote's sandboxes bring their own)."""
    args = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv"]
    if own_user:
        for capability in ("CAP_SETUID", "CAP_SETGID", *capabilities):
            args += ["--cap-add", capability]
    else:
        args += ["--unshare-user"]
    if not own_user and refuses_nested_userns():
        args += ["--disable-userns"]  # no user namespace of its own inside: no unprivileged way to new mounts
    size = str(int(limits["disk_mb"]) * 2**20)
    args += ["--ro-bind", "/usr", "/usr"]  # then /tmp: later binds may lie under it
    args += ["--bind", str(space.tmp), SANDBOX_TMP] if space else ["--size", size, "--tmpfs", SANDBOX_TMP]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "passwd", "group"):
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    made = set()
    for path in _code_paths():
        for ancestor in reversed(Path(path).parents):
            if str(ancestor) != "/" and str(ancestor) not in made and not str(ancestor).startswith("/usr"):
                made.add(str(ancestor))
                args += ["--perms", "0755", "--dir", str(ancestor)]
        args += ["--ro-bind", path, path]
    for path in masked:  # forbidden packages: an empty folder or file where they lie
        args += ["--ro-bind", str(meta / "empty") if os.path.isdir(path) else "/dev/null", path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in sorted(glob.glob("/dev/nvidia*")):  # a GPU, when the machine has one
        args += ["--dev-bind", device, device]
    if os.path.exists("/dev/nvidiactl"):
        args += ["--ro-bind", "/sys", "/sys"]
    args += ["--perms", "0755", "--dir", "/home"]
    args += ["--bind", str(space.work), SANDBOX_WORKDIR] if space else ["--size", size, "--tmpfs", SANDBOX_WORKDIR]
    args += ["--ro-bind", str(meta), SANDBOX_META, "--chdir", SANDBOX_WORKDIR]
    args += ["--ro-bind", str(files), SANDBOX_FILES] if files is not None else []
    for key, value in _ENV.items():
        args += ["--setenv", key, value]
    return args


@functools.lru_cache(maxsize=None)
def refuses_nested_userns() -> bool:
    """Whether this bubblewrap can keep a sandbox from making user namespaces inside it (--disable-userns, 0.8)."""
    try:
        usage = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--disable-userns" in usage


def masked_paths(packages: tuple[str, ...]) -> tuple[str, ...]:
    """Where the given top-level packages lie in every Python path the sandbox sees: the package, its
    modules and vendored libraries, and its distributions' metadata (grader.isolation_cache remembers it)."""
    if not packages:
        return ()
    from importlib import metadata

    providers = metadata.packages_distributions()  # reads every distribution's metadata: once
    distributions = {d for name in packages for d in providers.get(name, [])}
    stems = {stem.lower() for stem in set(packages) | {d.replace("-", "_") for d in distributions}}
    found = set()
    for folder in package_folders():
        try:
            entries = os.listdir(folder)  # once per folder: a glob per name and pattern costs half a second
        except OSError:
            continue
        found.update(os.path.join(folder, entry) for entry in entries if _belongs(entry, packages, stems))
    return tuple(sorted(found))


def package_folders() -> list[str]:
    """The folders where installed packages and their metadata lie (those `masked_paths` lists)."""
    folders = [*_python_paths(), *sys.path, *glob.glob("/usr/lib/python3*/dist-packages"),
               *glob.glob("/usr/local/lib/python3*/dist-packages")]
    return sorted({f for f in folders if os.path.isdir(f)})


def _belongs(entry: str, packages: tuple[str, ...], stems: set[str]) -> bool:
    """Whether a folder entry is one of the packages (as a package, a module, an extension, vendored
    libraries) or the metadata of one of their distributions (`stems`, lowercase)."""
    if any(entry in (name, f"{name}.py", f"{name}.libs") or fnmatch.fnmatchcase(entry, f"{name}.*.so")
           for name in packages):
        return True
    return (entry.endswith((".dist-info", ".egg-info")) and "-" in entry
            and entry.split("-")[0].lower() in stems)


class TemplateError(Exception):
    """The sandboxed template could not be started or stopped answering."""


class Template:
    """One sandboxed fork server for one code tree (a submission, or the reference).

    `files` is a folder holding the code tree's files; the template copies them into its own
    writable work folder before its first worker runs, so the sandbox never writes on the host's disk
    outside its bounded space. Without `cells`, the template starts (and preloads) before its code is
    known: `load` gives it the cells, and the files, complete by then, before the first spawn. With a
    `zygote` that preloads what it needs, the template is forked from it instead of started afresh.
    """

    def __init__(self, files: Path, cells: list[dict] | None, config: dict, isolation: Isolation,
                 zygote: "Zygote | None" = None):
        self.isolation, self.closed, self.files, self.loaded = isolation, False, files, False
        limits = config["limits"]
        self.processes = int(limits["processes"])
        self.uid = fresh_uid() if isolation.own_users else None
        inside = isolation.level == "bubblewrap"
        self.zygote = zygote if zygote is not None and zygote.serves(config) else None
        self.meta = Path(tempfile.mkdtemp(prefix="grader-meta-", dir=self.zygote.spool if self.zygote else None))
        (self.meta / "files").mkdir()
        (self.meta / "empty").mkdir()
        _hand_over(self.meta, self.uid)
        _hand_over(files, self.uid)
        own_space = not inside or (can_mount() and not self.zygote)  # a zygote's sandboxes mount their own tmpfs
        self.space = Space(limits["disk_mb"], limits["files"], self.uid) if own_space else None
        self.group = groups.for_sandbox(self.uid)
        if inside:
            paths = {"files": SANDBOX_FILES, "workdir": SANDBOX_WORKDIR, "cells": f"{SANDBOX_META}/cells.json"}
        else:
            paths = {"files": str(files), "workdir": str(self.space.work), "cells": str(self.meta / "cells.json")}
        self.paths = paths
        masked = ()
        if inside:
            from grader.isolation_cache import cached_masked_paths  # it imports this module

            masked = cached_masked_paths(tuple(sorted({m.split(".")[0] for m in config.get("forbidden", [])})))
        self.log = tempfile.TemporaryFile()
        self.control, self.process = None, None  # a zygote's template is forked when first needed (`ready`)
        self.forked_config = {**config, **paths, "uid": self.uid, "masked": list(masked)}
        if not self.zygote:
            self.control, self.process = self._start(config, paths, masked, inside)
        self.first_spawn, self.starter = True, os.getpid()
        if cells is not None:
            self.load(cells)

    def _start(self, config: dict, paths: dict, masked: tuple[str, ...], inside: bool):
        """Start the template in a sandbox of its own: its control socket and process."""
        control, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        template_config = {**config, **paths, "uid": self.uid, "control_fd": child_end.fileno()}
        command = _python(f"{_BOOTSTRAP_IMPORT}; import json; template_main(json.loads(sys.argv[1]))",
                          json.dumps(template_config))
        if inside:
            command = _bwrap_prefix(self.files, self.meta, self.space, self.uid is not None, config["limits"],
                                    masked) + command
        environment = None if inside else {**_ENV, "HOME": paths["workdir"], "TMPDIR": str(self.space.tmp)}
        process = subprocess.Popen(
            command, pass_fds=[child_end.fileno()], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=environment, cwd="/", start_new_session=True, preexec_fn=self.group.enter)
        child_end.close()
        self.group.attach(process.pid)
        return control, process

    def load(self, cells: list[dict]) -> None:
        """Give the template the cells its workers run; the code tree in `files` must be complete."""
        (self.meta / "cells.json").write_text(json.dumps(cells))
        if self.zygote:  # its sandbox sees only its own folder: the files go in it
            shutil.copytree(self.files, self.meta / "files", dirs_exist_ok=True)
        _hand_over(self.meta, self.uid)
        _hand_over(self.files, self.uid)
        self.loaded = True

    def spawn(self, sock_end: socket.socket, out_end: int, config: dict) -> int:
        """Fork a worker that serves on `sock_end` and writes its output to `out_end`; return its pid."""
        if not self.loaded:
            raise TemplateError("the sandbox was given no code to run")
        self.ready()
        self.group.limit_tasks(self.group.count() + 1 + self.processes)  # the worker, and what it may start
        request = {"op": "spawn", "config": {**self.paths, **config}}
        socket.send_fds(self.control, [json.dumps(request).encode()], [sock_end.fileno(), out_end])
        reply = self._reply(timeout=30)
        if type(reply.get("pid")) is not int:
            raise TemplateError("the sandbox answered a spawn request with no process id")
        return reply["pid"]

    def ready(self) -> None:
        """Wait until the template is up (once): then what runs in the sandbox is the template's."""
        if self.first_spawn:
            if self.process is None and self.zygote.ready():  # it preloaded meanwhile: a fork takes milliseconds
                self.control, self.process = self.zygote.fork(self.meta, self.forked_config, self.group, self.log)
            elif self.process is None:  # the zygote cannot fork sandboxes here: one of its own, started cold
                limits = self.forked_config["limits"]
                self.space = Space(limits["disk_mb"], limits["files"], self.uid) if can_mount() else None
                masked = tuple(self.forked_config["masked"])
                self.control, self.process = self._start(self.forked_config, self.paths, masked, inside=True)
            self._reply(timeout=120)
            self.first_spawn = False

    def idle(self) -> bool:
        """Whether the template is alive with no reply left unread (what one user of it leaves for the next)."""
        if not self.alive() or self.first_spawn:
            return False
        readable, _, _ = select.select([self.control], [], [], 0)
        return not readable

    def kill(self, pid: int) -> str:
        """Kill a worker and its process group (through the template, which is its parent); say how it ended."""
        try:
            self.control.send(json.dumps({"op": "kill", "pid": pid}).encode())
            status = self._reply(timeout=10).get("status")
        except (OSError, TemplateError):
            self.close()
            return "stopped, and its sandbox with it"
        return describe_status(status if type(status) is int else None)

    def _reply(self, timeout: float) -> dict:
        self.control.settimeout(timeout)
        try:
            data = self.control.recv(65536)
        except (socket.timeout, OSError) as error:
            raise TemplateError(f"the sandbox did not answer ({error}){self._log_tail()}") from None
        if not data:
            raise TemplateError(f"the sandbox stopped{self._log_tail()}")
        try:
            reply = json.loads(data)
        except (ValueError, RecursionError):
            reply = None
        if type(reply) is not dict:
            raise TemplateError("the sandbox answered with something that is not a reply")
        return reply

    def alive(self) -> bool:
        if self.process is None:
            return not self.closed
        if os.getpid() == self.starter or isinstance(self.process, _Forked):
            return self.process.poll() is None
        return _running(self.process.pid)  # lent to a child of the process that started it: not ours to wait for

    def close(self) -> None:
        """Stop the template and everything the sandbox started, and drop its space; never raises."""
        if self.closed:
            return
        self.closed = True
        if self.process is not None:
            self.control.close()
            self.process.kill() if isinstance(self.process, _Forked) else _killpg(self.process.pid)
        self.group.close()
        try:
            if self.process is not None:
                self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        if isinstance(self.process, _Forked):
            self.process.close()
        self.log.close()
        if self.space is not None:
            self.space.close()
        remove_tree(self.meta)

    def _log_tail(self) -> str:
        return _log_tail(self.log)


class Zygote:
    """A warm sandboxed process that preloads the assignment's modules once and forks each sandbox's template
    into namespaces, a user and a control group of its own (grader.sandbox.zygote); no student code ever runs
    in it. Only where the grader is root under bubblewrap (`available`): it needs capabilities to build
    namespaces that an unprivileged sandbox does not have."""

    CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_DAC_OVERRIDE")  # mounts; each sandbox's folders

    @staticmethod
    def available(isolation: Isolation) -> bool:
        return isolation.level == "bubblewrap" and isolation.own_users and os.environ.get("GRADER_ZYGOTE") != "0"

    def __init__(self, config: dict):
        self.preload = list(config["preload"])
        self.spool = Path(tempfile.mkdtemp(prefix="grader-zygote-"))  # the sandboxes' own folders, at /grader inside
        self.log = tempfile.TemporaryFile()
        self.control, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = _bwrap_prefix(None, self.spool, None, True, config["limits"], capabilities=self.CAPABILITIES)
        command += _python(f"{_BOOTSTRAP_IMPORT}; import json; from grader.sandbox.zygote import zygote_main; "
                           "zygote_main(json.loads(sys.argv[1]))",
                           json.dumps({"preload": self.preload, "forbidden": list(config["forbidden"]),
                                       "control_fd": child_end.fileno(), "keep": _code_paths()}))
        self.process = subprocess.Popen(command, pass_fds=[child_end.fileno()], stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log, cwd="/", start_new_session=True)
        child_end.close()
        self.starter, self.usable = os.getpid(), None

    def ready(self) -> bool:
        """Wait until the zygote has preloaded (once, in the process that started it, before it lends it); say
        whether it can fork sandboxes (False where it did not start, or cannot build namespaces here)."""
        if self.usable is None:
            self.control.settimeout(120)
            try:
                self.usable = self.control.recv(64) == b'{"ready": true}'
            except OSError:
                self.usable = False
        return self.usable

    def serves(self, config: dict) -> bool:
        """Whether a sandbox of this configuration may be forked from here (it preloads the same modules)."""
        return list(config["preload"]) == self.preload and self.usable is not False and _running(self.process.pid)

    def fork(self, meta: Path, config: dict, group: groups.Group, log) -> tuple[socket.socket, "_Forked"]:
        """Fork a template whose own folder is `meta` (under the spool), put it in `group` before it runs
        anything, and return its control socket and process."""
        if not self.ready():
            raise TemplateError("the zygote cannot fork sandboxes here" + _log_tail(self.log))
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # the kernel tells us who says hello
        request = {**config, "meta_inside": f"{SANDBOX_META}/{meta.name}", "meta_at": SANDBOX_META,
                   "tmp": SANDBOX_TMP}
        try:
            socket.send_fds(self.control, [json.dumps(request).encode()], [theirs.fileno(), log.fileno()])
            mine.settimeout(30)
            _, ancillary, _, _ = mine.recvmsg(64, socket.CMSG_SPACE(struct.calcsize("3i")))
            pids = [struct.unpack("3i", data[:struct.calcsize("3i")])[0] for level, kind, data in ancillary
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
            if not pids:
                raise TemplateError("the zygote's child did not say hello" + _log_tail(self.log))
            forked = _Forked(pids[0])  # before it may end: the pidfd names this process, whatever reuses its pid
            group.adopt(pids[0])
            mine.send(b'{"go": true}')
        except (OSError, TemplateError) as error:
            mine.close()  # a child told nothing ends by itself
            raise TemplateError(f"the zygote could not fork a sandbox: {error}") from None
        finally:
            theirs.close()
        return mine, forked

    def close(self) -> None:
        """Stop the zygote (its sandboxes are their groups' to stop) and drop its spool; never raises."""
        if os.getpid() != self.starter:
            return  # lent to a forked child: the process that started it stops it
        self.control.close()
        _killpg(self.process.pid)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        remove_tree(self.spool)


class _Forked:
    """A template forked by the zygote, seen from the trusted side (the zygote, not us, is its parent): followed
    through a pidfd, which names this process and never another that later takes its pid."""

    def __init__(self, pid: int):
        self.pid, self.pidfd = pid, os.pidfd_open(pid)

    def poll(self) -> int | None:
        ended, _, _ = select.select([self.pidfd], [], [], 0)
        return 0 if ended else None

    def wait(self, timeout: float) -> int:
        ended, _, _ = select.select([self.pidfd], [], [], timeout)
        if not ended:
            raise subprocess.TimeoutExpired("template", timeout)
        return 0

    def kill(self) -> None:
        """Kill the template's first process (what runs in its namespaces goes with its group)."""
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        os.close(self.pidfd)


def _log_tail(log) -> str:
    """The end of a sandbox's log, for an error message."""
    log.seek(0, os.SEEK_END)
    size = log.tell()
    log.seek(max(0, size - 2000))
    tail = log.read().decode(errors="replace").strip()
    return f": {tail}" if tail else ""


def _hand_over(folder: Path, uid: int | None) -> None:
    """Give a folder the grader prepared (the code a sandbox runs) to the sandbox's user alone: another sandbox
    (the submission's, without bubblewrap, where the reference's code lies in this folder) cannot read it."""
    for root, folders, files in os.walk(folder):
        for path, mode in [(root, 0o700), *((os.path.join(root, name), 0o600) for name in files)]:
            if uid is not None:
                os.chown(path, uid, uid)
            os.chmod(path, mode)


def _running(pid: int) -> bool:
    """Whether a process exists and has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


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
