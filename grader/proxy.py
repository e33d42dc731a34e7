"""The trusted side of the boundary: calls into a sandboxed worker, and the proxies tests use.

`Side` owns the sandbox of one code tree (the submission, or the reference): it forks a
worker from the warm template, sends requests, enforces the per-call wall-clock limit and
the side's total time budget, reads the worker's output (bounded), replaces a worker that
died or hung, and turns every failure into an exception from grader.errors. `Proxy` and
`RemoteObject` are what tests see: `submission.f(x)` is `side.call("f", x)`.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from dataclasses import dataclass, field

from grader import errors, protocol
from grader.sandbox.launch import Template, TemplateError

OUTPUT_LIMIT = 64 * 1024
MAX_REPLY_BYTES = 2 * 2**30
_ERRORS = {
    protocol.ErrorKind.EXCEPTION: errors.StudentException,
    protocol.ErrorKind.MISSING: errors.MissingName,
    protocol.ErrorKind.BAD_VALUE: errors.BadValue,
    protocol.ErrorKind.FORBIDDEN: errors.ForbiddenApi,
    protocol.ErrorKind.EXIT: errors.StudentException,
    protocol.ErrorKind.PROTOCOL: errors.BadValue,
}


@dataclass
class Output:
    """Output captured from a worker, bounded: the first OUTPUT_LIMIT bytes and a count of the rest."""

    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = OUTPUT_LIMIT - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - room)

    def take(self) -> str:
        text = self.data.decode(errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output omitted]"
        self.data, self.dropped = bytearray(), 0
        return text


class _Worker:
    """One forked worker: a socket for requests and a pipe carrying its stdout and stderr."""

    def __init__(self, template: Template, config: dict, generation: int):
        self.sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_read, out_write = os.pipe()
        try:
            self.pid = template.spawn(child_sock, out_write, config)
        finally:
            child_sock.close()
            os.close(out_write)
        self.out = out_read
        os.set_blocking(self.out, False)
        self.sock.setblocking(False)
        self.reader = protocol.FrameReader(MAX_REPLY_BYTES)
        self.generation = generation
        self.ready: dict | None = None

    def send(self, frame: bytes, deadline: float, output: Output) -> None:
        view = memoryview(frame)
        while view:
            self._wait(deadline, output, want_write=True)
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                continue
            except OSError:
                raise EOFError from None
            view = view[sent:]

    def receive(self, deadline: float, output: Output):
        while True:
            frame = self.reader.next()
            if frame is not None:
                self.drain(output)
                return frame
            self._wait(deadline, output)
            try:
                chunk = self.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.drain(output)
                raise EOFError
            self.reader.feed(chunk)

    def _wait(self, deadline: float, output: Output, want_write: bool = False) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, writable, _ = select.select([self.sock, self.out], [self.sock] if want_write else [], [], remaining)
            if self.out in readable:
                self.drain(output)
            if writable or self.sock in readable:
                return

    def drain(self, output: Output) -> None:
        while True:
            try:
                chunk = os.read(self.out, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            output.add(chunk)

    def close(self) -> None:
        self.sock.close()
        os.close(self.out)


class Side:
    """The sandboxed code of one side (submission or reference), as seen from the tests."""

    def __init__(self, name: str, template_factory, worker_config: dict, call_timeout: float,
                 budget: float | None = None):
        self.name = name
        self.template_factory = template_factory
        self.template: Template | None = None
        self.worker_config = worker_config
        self.call_timeout = call_timeout
        self.budget = budget
        self.spent = 0.0
        self.output = Output()
        self.worker: _Worker | None = None
        self.generation = 0
        self.load_failure: str | None = None
        self.load_errors: list[str] = []
        self.request_id = 0

    # -- the public surface
    def call(self, target, args=(), kwargs=None, timeout: float | None = None):
        """Call `target` (a name in the submission, or a handle) with plain-data arguments."""
        tree_args, buffers = self._encode_args([list(args), dict(kwargs or {})])
        message = {"op": "call", "target": self._target(target), "args": tree_args[0], "kwargs": tree_args[1]}
        return self._request(message, buffers, f"calling {self._describe(target)}", timeout)

    def getattr(self, handle: "RemoteObject", name: str):
        message = {"op": "getattr", "target": self._target(handle), "name": name}
        return self._request(message, [], f"reading {handle._type_name}.{name}")

    def stage(self, calls: list, device: str) -> "RemoteObject":
        """Send the inputs of a timed run ahead: decoded and moved to `device` in the worker, untimed."""
        trees, buffers = self._encode_args([[list(a), dict(k)] for a, k in calls])
        return self._request({"op": "stage", "calls": trees, "device": device}, buffers, "preparing a timed run")

    def run(self, target, staged: "RemoteObject", timeout: float | None = None) -> float:
        """Call `target` on every staged input; return the wall-clock seconds this side observed."""
        message = {"op": "run", "target": self._target(target), "staged": self._target(staged)}
        start = time.perf_counter()
        self._request(message, [], f"timing {self._describe(target)}", timeout)
        return time.perf_counter() - start

    def release(self, handle: "RemoteObject") -> None:
        """Let the worker drop an object it keeps for us (staged inputs, say)."""
        if handle._generation == self.generation and self.worker is not None:
            self._request({"op": "release", "handles": [handle._handle_id]}, [], "releasing an object")

    @contextlib.contextmanager
    def paused(self):
        """Keep every process of this side stopped for the duration (while the other side is timed)."""
        worker, template = self.worker, self.template
        if worker is None or template is None:
            yield
            return
        template.pause(worker.pid)
        try:
            yield
        finally:
            template.resume(worker.pid)

    def take_output(self) -> str:
        if self.worker is not None:
            self.worker.drain(self.output)
        return self.output.take()

    def close(self) -> None:
        self._drop_worker()
        if self.template is not None:
            self.template.close()
            self.template = None

    # -- internals
    def _request(self, message: dict, buffers: list[bytes], what: str, timeout: float | None = None):
        worker = self._ensure_worker()
        self.request_id += 1
        message["id"] = self.request_id
        limit = timeout or self.call_timeout
        allowance = self._allowance(limit)
        start = time.monotonic()
        try:
            worker.send(protocol.encode_frame(message, buffers), start + allowance, self.output)
            reply, reply_buffers = worker.receive(start + allowance, self.output)
            if reply.get("id") != message["id"]:
                raise protocol.ProtocolError("the worker answered out of turn (a reply to another request)")
        except TimeoutError:
            self._charge(start)
            self._drop_worker()
            if self._exhausted():
                raise errors.BudgetExhausted(self._budget_message(what)) from None
            raise errors.CallTimeout(f"{what} took longer than the limit of {limit:g} s; the worker was stopped") from None
        except EOFError:
            self._charge(start)
            status = self._drop_worker()
            raise errors.WorkerDied(f"the worker process {status} while {what}") from None
        except protocol.ProtocolError as error:
            self._charge(start)
            self._drop_worker()
            raise errors.BadValue(f"{what}: {error}") from None
        self._charge(start)
        if reply.get("op") == "error":
            kind = protocol.ErrorKind(reply.get("kind")) if reply.get("kind") in protocol.ErrorKind._value2member_map_ else protocol.ErrorKind.PROTOCOL
            text = str(reply.get("message", ""))[-8000:]
            if kind is protocol.ErrorKind.MISSING and self.load_errors:
                text += "\nWhile loading the submission:\n" + "\n".join(self.load_errors)
            raise _ERRORS[kind](text if kind is not protocol.ErrorKind.EXCEPTION else f"{what} raised:\n{text}")
        try:
            return protocol.decode(reply.get("value"), reply_buffers, from_handle=self._remote)
        except protocol.ProtocolError as error:
            raise errors.BadValue(f"{what} returned a value that cannot be used: {error}") from None

    def _ensure_worker(self) -> _Worker:
        if self.load_failure:
            raise errors.LoadFailed(self.load_failure)
        if self._exhausted():
            raise errors.BudgetExhausted(self._budget_message("starting the worker"))
        if self.worker is not None:
            return self.worker
        start = time.monotonic()
        try:
            self.worker = self._spawn()
            allowance = self._allowance(max(self.call_timeout, 30.0))
            ready, _ = self.worker.receive(start + allowance, self.output)
        except TemplateError as error:
            self._charge(start)
            self.load_failure = f"the sandbox could not start: {error}"
        except TimeoutError:
            self._charge(start)
            self._drop_worker()
            self.load_failure = ("loading the submission took too long (its top-level code must finish within "
                                 f"{max(self.call_timeout, 30.0):g} s; move long computations into functions)")
        except (EOFError, protocol.ProtocolError):
            self._charge(start)
            status = self._drop_worker()
            self.load_failure = f"the worker process {status} while loading the submission"
        else:
            self._charge(start)
            self.worker.ready = ready
            self.load_errors = [str(e)[:4000] for e in ready.get("errors", [])][:50]
            return self.worker
        raise errors.LoadFailed(self.load_failure)

    def _spawn(self) -> _Worker:
        if self.template is None or not self.template.alive():
            if self.template is not None:
                self.template.close()
            self.template = self.template_factory()
        self.generation += 1
        return _Worker(self.template, self.worker_config, self.generation)

    def _drop_worker(self) -> str:
        """Kill and forget the current worker; describe how it ended."""
        worker, self.worker = self.worker, None
        if worker is None:
            return "stopped"
        worker.drain(self.output)
        how = self.template.kill(worker.pid) if self.template is not None else "stopped"
        worker.close()
        return how

    def _allowance(self, limit: float) -> float:
        if self.budget is None:
            return limit
        return max(0.0, min(limit, self.budget - self.spent))

    def _charge(self, start: float) -> None:
        self.spent += time.monotonic() - start

    def _exhausted(self) -> bool:
        return self.budget is not None and self.spent >= self.budget

    def _budget_message(self, what: str) -> str:
        return f"the submission's total time budget of {self.budget:g} s is spent (stopped while {what})"

    def _target(self, target):
        if isinstance(target, RemoteObject):
            if target._side is not self or target._generation != self.generation:
                raise errors.WorkerDied(f"this {target._type_name} object belonged to a worker that was since replaced")
            return target._handle_id
        return str(target)

    def _encode_args(self, value):
        buffers: list[bytes] = []
        try:
            tree = protocol.encode(value, buffers, to_handle=self._handle_of)
        except protocol.ProtocolError as error:
            raise TypeError(f"cannot send this argument to the {self.name}: {error}") from None
        return tree, buffers

    def _handle_of(self, value):
        if isinstance(value, RemoteObject) and value._side is self:
            return protocol.Handle(self._target(value), value._type_name)
        raise protocol.ProtocolError(f"cannot send a value of type {type(value).__name__} (only plain data and "
                                     f"objects obtained from the same {self.name})")

    def _remote(self, handle: protocol.Handle) -> "RemoteObject":
        return RemoteObject(self, handle.id, handle.type_name, self.generation)

    def _describe(self, target) -> str:
        if isinstance(target, RemoteObject):
            return f"a {target._type_name} object"
        return f"{target}()"


class Proxy:
    """What tests call `submission` or `reference`: attribute access names a remote function."""

    def __init__(self, side: Side):
        object.__setattr__(self, "_side", side)

    def __getattr__(self, name: str) -> "RemoteFunction":
        if name.startswith("__"):
            raise AttributeError(name)
        return RemoteFunction(self._side, name)

    def __setattr__(self, name, value):
        raise AttributeError("the submission proxy is read-only")

    def __repr__(self) -> str:
        return f"<{self._side.name}>"


class RemoteFunction:
    """A function of the submission, called in the worker."""

    def __init__(self, side: Side, name: str):
        self._side, self._name = side, name

    def __call__(self, *args, **kwargs):
        return self._side.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self._side.name} function {self._name}>"


class RemoteObject:
    """An object that stays in the worker (a class instance, a bound method, ...)."""

    def __init__(self, side: Side, handle_id: int, type_name: str, generation: int):
        self._side, self._handle_id, self._type_name, self._generation = side, handle_id, type_name, generation

    @property
    def grader_description(self) -> str:
        return f"an object of type {self._type_name} from the {self._side.name} (not plain data)"

    def __getattr__(self, name: str):
        if name.startswith("__") or name.startswith("_"):
            raise AttributeError(name)
        return self._side.getattr(self, name)

    def __call__(self, *args, **kwargs):
        return self._side.call(self, args, kwargs)

    def _not_data(self, *_):
        raise TypeError(f"got {self.grader_description}; expected plain data (arrays, numbers, lists, dicts)")

    __getitem__ = __iter__ = __len__ = __float__ = __int__ = __bool__ = _not_data

    def __repr__(self) -> str:
        return f"<remote {self._type_name} object>"
