"""The untrusted side: a warm template that forks workers, and the worker that runs student code.

This module runs inside the sandbox, never in the grading process. The template imports
the heavy modules once (numpy, torch without CUDA), then waits on its control socket;
for each `spawn` it receives the worker's socket and output pipe (SCM_RIGHTS) and forks.
The child drops into its own session, applies the resource limits, loads the submission
cells and serves requests (grader.protocol) until its socket closes.

Everything a worker answers is checked again on the trusted side; nothing here is trusted.
"""

from __future__ import annotations

import gc
import io
import json
import linecache
import os
import resource
import shutil
import signal
import socket
import sys
import traceback


def template_main(config: dict) -> None:
    """Run the fork server: take on the sandbox's user, preload modules, then spawn/kill workers.

    The grader may still be writing the code tree while the template preloads: its files are copied into
    the work folder at the first spawn, when they are complete."""
    become(config.get("uid"))
    preload(config.get("preload", []), config.get("forbidden", []))
    serve(socket.socket(fileno=config["control_fd"]), config)


def become(uid: int | None) -> None:
    """Take on the sandbox's own user (where the grader is root): every capability is dropped with root, and
    no user namespace can be made from then on (in one, the sandbox's user would be root again: free to mount
    file systems of any size, past its limits)."""
    if os.getuid() == 0 and uid is not None:
        _refuse_user_namespaces()  # first: the new user may not read the modules it imports
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


# A seccomp filter (classic BPF over struct seccomp_data: nr at 0, arch at 4, args[0]'s low word at 16) that
# fails unshare and clone with CLONE_NEWUSER (EPERM) and clone3, whose flags it cannot read (ENOSYS: the C
# library then falls back to clone); every other system call of this architecture is allowed, none of another
# (a 32-bit or x32 entry would dodge the numbers).
_SECCOMP_ARCH = {"x86_64": (0xC000003E, 272, 56), "aarch64": (0xC00000B7, 97, 220)}  # arch, unshare, clone
_CLONE3, _CLONE_NEWUSER, _X32 = 435, 0x10000000, 0x40000000
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000


def _refuse_user_namespaces() -> None:
    import ctypes
    import errno
    import struct

    known = _SECCOMP_ARCH.get(os.uname().machine)
    if known is None:
        return
    arch, unshare, clone = known
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    program = [
        (load, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, _RET_ERRNO | errno.EPERM),           # 0-2: another arch
        (load, 0, 0, 0), (jge, 0, 1, _X32), (ret, 0, 0, _RET_ERRNO | errno.EPERM),           # 3-5: x32
        (jeq, 0, 1, _CLONE3), (ret, 0, 0, _RET_ERRNO | errno.ENOSYS),                        # 6-7
        (jeq, 2, 0, unshare), (jeq, 1, 0, clone), (ret, 0, 0, _RET_ALLOW),                   # 8-10
        (load, 0, 0, 16), (jset, 0, 1, _CLONE_NEWUSER), (ret, 0, 0, _RET_ERRNO | errno.EPERM),  # 11-13
        (ret, 0, 0, _RET_ALLOW),                                                              # 14
    ]
    filters = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(filters)
    fprog = struct.pack("HxxxxxxP", len(program), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) != 0:  # NO_NEW_PRIVS; SECCOMP
        raise OSError(ctypes.get_errno(), "the sandbox could not refuse user namespaces")


def preload(names: list[str], forbidden: list[str]) -> None:
    """Import the modules a sandbox preloads, none of a forbidden package (they would be in every worker's memory)."""
    for name in names:
        if name.split(".")[0] in {module.split(".")[0] for module in forbidden}:
            continue
        try:
            __import__(name)
        except ImportError:
            pass
    gc.freeze()  # the preloaded modules stay shared with the workers: their collections never touch them


def serve(control: socket.socket, config: dict) -> None:
    """Say the template is ready, then fork a worker for each `spawn` request and kill one for each `kill`."""
    control.send(b'{"ready": true}')
    exits: dict[int, int] = {}
    signal.signal(signal.SIGCHLD, lambda *_: _reap(exits))
    copied = False
    while True:
        data, fds, _, _ = socket.recv_fds(control, 65536, 4)
        if not data:
            return
        request = json.loads(data)
        if request["op"] == "spawn":
            if not copied:
                try:
                    shutil.copytree(config["files"], config["workdir"], dirs_exist_ok=True)
                except OSError as error:
                    sys.exit(f"the submission's files do not fit in its work folder: {error}")
                copied = True
            pid = os.fork()
            if pid == 0:
                control.close()
                try:
                    _worker_main(fds[0], fds[1], {**config, **request.get("config", {})})
                finally:  # a worker never returns into the template's loop
                    traceback.print_exc()
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"pid": pid}).encode())
        elif request["op"] == "kill":
            control.send(json.dumps({"status": _kill(request["pid"], exits)}).encode())


def _kill(pid: int, exits: dict[int, int]) -> int | None:
    """Kill a worker's process group and return its wait status."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if pid not in exits:
        try:
            exits[pid] = os.waitpid(pid, 0)[1]
        except ChildProcessError:
            pass
    return exits.pop(pid, None)


def _reap(exits: dict[int, int]) -> None:
    try:
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                return
            exits[pid] = status
    except ChildProcessError:
        pass


# ---------------------------------------------------------------------------- the worker

def _worker_main(sock_fd: int, out_fd: int, config: dict) -> None:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), line_buffering=True, errors="replace")
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), line_buffering=True, errors="replace")
    from grader import protocol  # captured before student code runs

    sock = socket.socket(fileno=sock_fd)
    stream = sock.makefile("rb")
    cuda = getattr(sys.modules.get("torch"), "cuda", None)  # trusted references, taken before the submission loads
    synchronize = getattr(cuda, "synchronize", None)  # none where torch is absent, or masked (an empty package)
    _apply_limits(config["limits"])
    _guard_imports(config.get("forbidden", []))
    os.chdir(config["workdir"])
    sys.path.insert(0, config["workdir"])
    namespace = {"__name__": "__main__" if config.get("as_main") else "submission", "__builtins__": __builtins__}
    with open(config["cells"]) as cells:
        errors = _load(json.load(cells), namespace)
    server = _Server(namespace, protocol, sock, synchronize)
    server.send({"op": "ready", "errors": errors})
    server.serve(stream)


def _apply_limits(limits: dict) -> None:
    """Memory (on top of what the template already maps), CPU seconds, file size, processes."""
    mb = 2**20
    settings = {
        resource.RLIMIT_AS: _status_kb("VmSize") * 1024 + limits["memory_mb"] * mb,
        resource.RLIMIT_CPU: int(limits["cpu_seconds"]),
        resource.RLIMIT_FSIZE: limits["file_size_mb"] * mb,
        resource.RLIMIT_NPROC: _tasks_of_user() + limits["processes"],
        resource.RLIMIT_CORE: 0,
    }
    for which, value in settings.items():
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _tasks_of_user() -> int:
    """Threads of this user now running (RLIMIT_NPROC counts threads of the whole user)."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count


class ForbiddenImport(ImportError):
    """Raised in the worker when the submission imports a module the assignment forbids."""


class _ForbiddenFinder:
    """A finder on sys.meta_path (only find_spec is asked of one; importlib.abc costs 20 ms to import)."""

    def __init__(self, forbidden):
        self.forbidden = tuple(forbidden)

    def find_spec(self, name, path=None, target=None):
        for module in self.forbidden:
            if name == module or name.startswith(module + "."):
                raise ForbiddenImport(f"importing {name} is not allowed in this assignment")
        return None


def _guard_imports(forbidden) -> None:
    """Block forbidden modules: drop them from sys.modules and refuse new imports."""
    if not forbidden:
        return
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in forbidden):
            del sys.modules[name]
    sys.meta_path.insert(0, _ForbiddenFinder(forbidden))


def _load(cells: list[dict], namespace: dict) -> list[str]:
    """Run the cells in order in one namespace; return one message per cell that failed."""
    errors = []
    for cell in cells:
        filename = cell["label"] if cell["label"].endswith(".py") else f"<{cell['label']}>"
        linecache.cache[filename] = (len(cell["source"]), None, cell["source"].splitlines(True), filename)
        try:
            code = compile(cell["source"], filename, "exec")
        except SyntaxError as error:
            errors.append(f"{cell['label']}: SyntaxError at line {error.lineno}: {error.msg}")
            continue
        try:
            exec(code, namespace)
        except SystemExit as exit_:
            errors.append(f"{cell['label']}: the code called sys.exit({exit_.code!r}); the rest of the cell did not run")
        except BaseException as error:  # the student's code failed: record and go on
            errors.append(f"{cell['label']}: {_describe_exception(error)}")
    return errors


def _describe_exception(error: BaseException, limit: int = 4000) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != __file__]
    text = "".join(traceback.format_list(frames[-8:])) + "".join(traceback.format_exception_only(type(error), error))
    return text[-limit:]


SUMMARY_LEAVES = 64
SUMMARY_SAMPLES = 8


def _summary(value, probe: int, depth: int = 0, budget: list | None = None):
    """A summary of a result that tolerates float noise: for each array (or number) its shape, sum, norm and a
    few entries at positions drawn from `probe`; the structure of containers."""
    budget = [SUMMARY_LEAVES] if budget is None else budget
    if budget[0] <= 0 or depth > 8:
        return {"truncated": True}
    torch = sys.modules.get("torch")
    if isinstance(value, getattr(torch, "Tensor", ())):
        value = value.detach().to("cpu").resolve_conj()
        value = (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    import numpy as np

    if type(value) in (list, tuple):
        try:  # nested numbers summarise as the array they make, as the checks compare them
            value = np.asarray(value) if np.asarray(value).dtype.kind in "biufc" else value
        except (ValueError, TypeError):
            pass
    if type(value) in (list, tuple):
        return {"items": [_summary(v, probe, depth + 1, budget) for v in value[:SUMMARY_LEAVES]], "length": len(value)}
    if type(value) is dict:
        keys = sorted(value, key=repr)[:SUMMARY_LEAVES]
        return {"keys": [repr(k)[:100] for k in keys], "items": [_summary(value[k], probe, depth + 1, budget) for k in keys]}
    budget[0] -= 1
    if isinstance(value, (bool, int, float, complex, np.ndarray, np.generic)) and np.asarray(value).dtype.kind in "biufc":
        array = np.asarray(value)
        flat = array.ravel()
        flat = flat.view(np.float64) if flat.dtype == np.complex128 else flat.astype(np.float64, copy=False)
        positions = np.random.default_rng([probe, flat.size]).integers(0, max(flat.size, 1), SUMMARY_SAMPLES)
        return {"shape": list(array.shape), "sum": float(flat.sum()), "norm": float(np.linalg.norm(flat)),
                "at": [float(flat[i]) for i in positions] if flat.size else []}
    return {"value": repr(value)[:200] if type(value) in (str, bytes, type(None)) else type(value).__name__}


class _Server:
    """Answers requests: calls, attribute reads and timed runs, keeping non-plain results as handles."""

    def __init__(self, namespace, protocol, sock, synchronize):
        self.namespace, self.protocol, self.sock, self.synchronize = namespace, protocol, sock, synchronize
        self.handles: dict[int, object] = {}
        self.pid = os.getpid()

    def send(self, message: dict, buffers=()) -> None:
        if os.getpid() != self.pid:  # a process the student's code forked never answers for the worker
            os._exit(0)
        sys.stdout.flush()
        sys.stderr.flush()
        self.sock.sendall(self.protocol.encode_frame(message, list(buffers)))

    def serve(self, stream) -> None:
        while True:
            try:
                request, buffers = self.protocol.read_frame(stream)
            except EOFError:
                return
            self.send(*self.answer(request, buffers))

    def answer(self, request: dict, buffers):
        protocol, rid = self.protocol, request.get("id")
        kinds = protocol.ErrorKind
        try:
            decode = lambda tree: protocol.decode(tree, buffers, from_handle=self._object)  # noqa: E731
            target = self._resolve(request["target"])
            if target is None:
                return self._error(rid, kinds.MISSING, f"{request['target']} is not defined in the submission")
            if request["op"] == "getattr":
                value = getattr(target, request["name"])
            elif request["op"] == "value":  # a name's value itself: plain data crosses, anything else stays as a handle
                value = target
            elif request["op"] == "call":
                args, kwargs = decode(request["args"]), decode(request["kwargs"])
                value = target(*args, **kwargs)
                if request.get("echo"):  # the arguments as the call left them, for the grader to compare
                    value = (value, args, kwargs)
            elif request["op"] == "timed":
                value = self._timed(target, decode(request["calls"]), request["device"], request["probe"])
            else:
                return self._error(rid, kinds.PROTOCOL, f"unknown request {request['op']!r}")
            out: list[bytes] = []
            tree = protocol.encode(value, out, to_handle=self._handle)
            return {"op": "result", "id": rid, "value": tree}, out
        except protocol.ProtocolError as error:
            return self._error(rid, kinds.BAD_VALUE, str(error))
        except ForbiddenImport as error:
            return self._error(rid, kinds.FORBIDDEN, str(error))
        except SystemExit as exit_:
            return self._error(rid, kinds.EXIT, f"the code called sys.exit({exit_.code!r})")
        except BaseException as error:
            return self._error(rid, kinds.EXCEPTION, _describe_exception(error))

    def _timed(self, function, calls, device: str, probe: int) -> list:
        """Move the inputs to the device, call `function` on each, wait for the device, and summarise each
        result: the grader times this whole request and checks every summary against the reference's."""
        calls = self._to_device(calls, device)
        results = [function(*args, **kwargs) for args, kwargs in calls]
        self._wait_for(device)
        return [_summary(result, probe) for result in results]

    def _to_device(self, calls, device: str) -> list:
        """The calls with every tensor in their arguments (nested in lists, tuples and dicts too) on `device`
        (on the CPU for the simulated GPU of the grader's own tests)."""
        tensor = getattr(sys.modules.get("torch"), "Tensor", ())
        if device == "cpu" or not tensor:
            return calls
        target = "cpu" if device == self.protocol.SIMULATED_CUDA else device

        def move(value):
            if isinstance(value, tensor):
                return value.to(target)
            if type(value) in (list, tuple):
                return type(value)(move(v) for v in value)
            return {k: move(v) for k, v in value.items()} if type(value) is dict else value

        calls = move(calls)
        self._wait_for(device)
        return calls

    def _wait_for(self, device: str) -> None:
        """Wait until the work queued on `device` is done: CUDA's synchronize; nothing on the CPU, nor where the
        worker has no torch (nothing can have been queued), nor on the simulated GPU (whose queue is empty)."""
        if device == "cuda" and self.synchronize is not None:
            self.synchronize()

    def _resolve(self, target):
        if isinstance(target, int):
            return self.handles.get(target)
        return self.namespace.get(target)

    def _handle(self, value):
        handle_id = id(value)
        self.handles[handle_id] = value
        return self.protocol.Handle(handle_id, type(value).__name__)

    def _object(self, handle):
        if handle.id not in self.handles:
            raise self.protocol.ProtocolError("unknown handle")
        return self.handles[handle.id]

    def _error(self, rid, kind, message: str):
        return {"op": "error", "id": rid, "kind": kind.value, "message": message[-8000:]}, []


if __name__ == "__main__":
    template_main(json.loads(sys.argv[1]))
