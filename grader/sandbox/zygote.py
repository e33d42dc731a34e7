"""Inside the zygote: one warm sandboxed process that preloads once and starts each sandbox's template by forking.

The zygote runs in a bubblewrap sandbox of its own, as root with only the capabilities it needs to build
namespaces (the grader starts it that way only where the grader is root), and never runs student code. For
each request it forks a first child, which says hello on the sandbox's control socket (the trusted side
reads the child's host pid from the kernel's credentials and puts it in the sandbox's control group), waits
for `go`, then takes new mount, PID, IPC, network and UTS namespaces and forks the template: PID 1 of its
namespace, with a /proc of its own, the sandbox's own folder (its cells and files) over /grader, fresh
bounded tmpfs for /home/student, /tmp and /dev/shm, the forbidden packages masked, and then the sandbox's
own user, which drops every capability. Nothing of one sandbox is visible from another: not its files (its
own mounts), its processes (its own PID namespace), its memory (each template is a fresh fork of a process
that never ran student code), its sockets (its own network namespace).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
import traceback

from grader.sandbox.worker import become, preload, serve

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWPID, _CLONE_NEWNET = 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def zygote_main(config: dict) -> None:
    """Preload, say so, then fork a sandbox's template for each request (its socket and log come with it)."""
    preload(config["preload"], config["forbidden"])
    forbidden = {module.split(".")[0] for module in config["forbidden"]}
    clean = not any(name.split(".")[0] in forbidden for name in sys.modules)  # none dragged in by another
    control = socket.socket(fileno=config["control_fd"])
    control.send(json.dumps({"ready": clean and _nests()}).encode())
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        data, fds, _, _ = socket.recv_fds(control, 65536, 2)
        if not data:
            return
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        if os.fork() == 0:
            control.close()
            try:
                _first_child(fds[0], fds[1], {**config, **json.loads(data)})
            finally:
                traceback.print_exc()
                os._exit(1)
        for fd in fds:
            os.close(fd)


def _nests() -> bool:
    """Whether a sandbox's namespaces and mounts can be built here (a child tries, then ends): a container
    may allow bubblewrap and still refuse namespaces nested in it."""
    pid = os.fork()
    if pid == 0:
        try:
            _check(_libc.unshare(_CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWNET | _CLONE_NEWUTS),
                   "unshare")
            _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
            _mount("tmpfs", "/home", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=65536")
        except OSError:
            os._exit(1)
        os._exit(0)
    return os.waitpid(pid, 0)[1] == 0


def _reap(*_) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _first_child(sock_fd: int, log_fd: int, config: dict) -> None:
    """Join the sandbox's group (the trusted side does it, from our credentials), take the namespaces, and
    fork the template into them; wait for it (when it ends, so does the sandbox)."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    control = socket.socket(fileno=sock_fd)
    control.send(b'{"hello": true}')
    if control.recv(64) != b'{"go": true}':
        os._exit(1)
    _check(_libc.unshare(_CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWNET | _CLONE_NEWUTS), "unshare")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing mounted here reaches the zygote
    pid = os.fork()
    if pid:
        control.close()
        os.waitpid(pid, 0)
        os._exit(0)
    _build(config)
    become(config["uid"])
    os.chdir(config["workdir"])
    serve(control, config)
    os._exit(0)


def _build(config: dict) -> None:
    """The template's view: its /proc, its own folder over /grader, fresh tmpfs, the masked packages. The code
    the zygote sees under /home or /tmp (a virtual environment there) is bound again over the fresh tmpfs."""
    meta, uid = config["meta_inside"], config["uid"]
    held = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in config["keep"]
            if path.startswith(("/home/", f"{config['tmp']}/")) and os.path.isdir(path)}
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount(meta, config["meta_at"], None, _MS_BIND | _MS_REC)
    _read_only(config["meta_at"])
    size = f"size={int(config['limits']['disk_mb']) * 2**20},nr_inodes={int(config['limits']['files'])}"
    _mount("tmpfs", "/home", "tmpfs", _MS_NOSUID | _MS_NODEV, f"{size},mode=0755")
    for folder in (config["workdir"], "/home/.tmp"):
        os.mkdir(folder, 0o700)
        os.chown(folder, uid, uid)
    _mount("/home/.tmp", config["tmp"], None, _MS_BIND)
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, f"{size},mode=1777")
    if os.path.isdir("/dev/pts"):  # terminals of its own
        _mount("devpts", "/dev/pts", "devpts", _MS_NOSUID | _MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    for path, fd in held.items():  # each from the folder opened before the tmpfs hid it
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
        _read_only(path)
        os.close(fd)
    empty = os.path.join(config["meta_at"], "empty")
    for path in config.get("masked", []):  # forbidden packages: an empty folder or file where they lie
        _mount(empty if os.path.isdir(path) else "/dev/null", path, None, _MS_BIND)
        _read_only(path)


def _read_only(path: str) -> None:
    _mount(None, path, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(kind), ctypes.c_ulong(flags), encode(data)),
           f"mount {target}")


def _check(status: int, what: str) -> None:
    if status != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
