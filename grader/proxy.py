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


@dataclass
class Stillness:
    """How idle a frozen side stayed: the CPU time its processes used while frozen, and which they were."""

    cpu_seconds: float = 0.0
    pids: frozenset[int] = frozenset()


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
                 budget: float | None = None, call_timeouts: dict[str, float] | None = None):
        self.name = name
        self.template_factory = template_factory
        self.template: Template | None = None
        self.borrowed: Template | None = None  # a template this side uses but does not own: left running
        self.worker_config = worker_config
        self.call_timeout = call_timeout
        self.call_timeouts = call_timeouts or {}  # longer limits for calls of these names (training, say)
        self.budget = budget
        self.spent = 0.0
        self.output = Output()
        self.worker: _Worker | None = None
        self.generation = 0
        self.load_failure: str | None = None
        self.load_errors: list[str] = []
        self.load_output = ""
        self.request_id = 0

    # -- the public surface
    def call(self, target, args=(), kwargs=None, timeout: float | None = None, echo: bool = False):
        """Call `target` (a name in the submission, or a handle) with plain-data arguments.

        With `echo`, return (result, args, kwargs) where args and kwargs are the arguments as the call left them.
        """
        tree_args, buffers = self._encode_args([list(args), dict(kwargs or {})])
        message = {"op": "call", "target": self._target(target), "args": tree_args[0], "kwargs": tree_args[1]}
        if echo:
            message["echo"] = True
        name = target._name if isinstance(target, RemoteObject) else str(target)
        timeout = timeout or self.call_timeouts.get(name)
        value = self._request(message, buffers, f"calling {self._describe(target)}", timeout)
        if echo and not (type(value) is tuple and len(value) == 3 and type(value[1]) is list and type(value[2]) is dict):
            raise errors.BadValue(f"calling {self._describe(target)}: the worker did not send back the arguments")
        return value

    def value(self, name: str):
        """The value of a top-level name of the submission (plain data, or a handle for anything else)."""
        return self._request({"op": "value", "target": name}, [], f"reading {name}")

    def load(self) -> None:
        """Load the submission now if no worker holds it (what it reports is then in load_errors and load_output);
        a submission that cannot load is left to fail the calls that need it."""
        try:
            self._ensure_worker()
        except errors.SubmissionError:
            pass

    def getattr(self, handle: "RemoteObject", name: str):
        message = {"op": "getattr", "target": self._target(handle), "name": name}
        value = self._request(message, [], f"reading {handle._type_name}.{name}")
        if isinstance(value, RemoteObject):
            value._name = name  # a method keeps its name, for its call limit and its messages
        return value

    def timed(self, target, calls: list, device: str, probe: int, timeout: float | None = None) -> tuple[float, list]:
        """Call `target` on every (args, kwargs) of `calls` in one request, timed from this side.

        The inputs travel inside the timed request (decoding them and moving them to `device` costs
        both sides alike, and nothing can be computed from them before the clock starts). Return the
        wall-clock seconds and the worker's summary of each result, for the caller to check.
        """
        trees, buffers = self._encode_args([[list(a), dict(k)] for a, k in calls])
        message = {"op": "timed", "target": self._target(target), "calls": trees, "device": device, "probe": probe}
        start = time.perf_counter()
        summaries = self._request(message, buffers, f"timing {self._describe(target)}", timeout)
        seconds = time.perf_counter() - start
        if type(summaries) is not list or len(summaries) != len(calls):
            raise errors.BadValue(f"timing {self._describe(target)}: the worker did not summarise every result")
        return seconds, summaries

    @contextlib.contextmanager
    def frozen(self):
        """Keep every process of this side from running for the duration (while the other side is timed).

        Yields a `Stillness` whose `cpu_seconds`, set when the block ends, is the CPU time this side's
        processes used meanwhile, measured from outside: it should be zero.
        """
        stillness = Stillness()
        template = self.template
        if template is None or not template.alive():
            yield stillness
            return
        group = template.group
        group.freeze()
        try:
            stillness.pids = frozenset(group.pids())
            before = group.cpu_seconds()
            yield stillness
            stillness.cpu_seconds = group.cpu_seconds() - before
        finally:
            group.thaw()

    def take_output(self) -> str:
        if self.worker is not None:
            self.worker.drain(self.output)
        return self.output.take()

    def close(self) -> None:
        self._drop_worker()
        if self.template is not None and self.template is not self.borrowed:
            self.template.close()
        self.template = None

    # -- internals
    def _request(self, message: dict, buffers: list[bytes], what: str, timeout: float | None = None):
        """Send one request and wait for its reply; decoding the reply counts against the same deadline."""
        worker = self._ensure_worker()
        self.request_id += 1
        message["id"] = self.request_id
        limit = timeout or self.call_timeout
        start = time.monotonic()
        deadline = start + self._allowance(limit)
        try:
            worker.send(protocol.encode_frame(message, buffers), deadline, self.output)
            reply, reply_buffers = worker.receive(deadline, self.output)
            if reply.get("id") != message["id"]:
                raise protocol.ProtocolError("the worker answered out of turn (a reply to another request)")
            if reply.get("op") == "error":
                raise _error_of(reply, what, self.load_errors)
            return protocol.decode(reply.get("value"), reply_buffers, from_handle=self._remote, deadline=deadline)
        except (TimeoutError, protocol.DecodeTimeout):
            self._drop_worker()
            if self._exhausted(start):
                raise errors.BudgetExhausted(self._budget_message(what)) from None
            raise errors.CallTimeout(f"{what} took longer than the limit of {limit:g} s; the worker was stopped") from None
        except EOFError:
            status = self._drop_worker()
            raise errors.WorkerDied(f"the worker process {status} while {what}") from None
        except protocol.ProtocolError as error:
            self._drop_worker()
            raise errors.BadValue(f"{what} returned a value that cannot be used: {error}") from None
        finally:
            self._charge(start)

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
            messages = ready.get("errors")
            if type(messages) is list and all(type(m) is str for m in messages[:50]):
                self.load_errors = [m[:4000] for m in messages[:50]]
                loaded = self.output.take()  # printed while loading: not any test's output
                self.load_output = self.load_output or loaded
                return self.worker
            self._drop_worker()
            self.load_failure = "the worker sent a malformed message while loading the submission"
        raise errors.LoadFailed(self.load_failure)

    def _spawn(self) -> _Worker:
        if self.template is None or not self.template.alive():
            if self.template is not None and self.template is not self.borrowed:
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

    def _exhausted(self, since: float | None = None) -> bool:
        """Whether the budget is spent (counting the time since `since`, a call not yet charged)."""
        spent = self.spent + (time.monotonic() - since if since is not None else 0.0)
        return self.budget is not None and spent >= self.budget

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
            return f"{target._name}()" if target._name else f"a {target._type_name} object"
        return f"{target}()"


def _error_of(reply: dict, what: str, load_errors: list[str]) -> errors.SubmissionError:
    """The exception for a worker's error reply, whose fields are checked like any other value it sends."""
    kind, text = reply.get("kind"), reply.get("message")
    if type(kind) is not str or kind not in protocol.ErrorKind._value2member_map_ or type(text) is not str:
        raise protocol.ProtocolError("malformed error reply")
    kind, text = protocol.ErrorKind(kind), text[-8000:]
    if kind is protocol.ErrorKind.MISSING and load_errors:
        text += "\nWhile loading the submission:\n" + "\n".join(load_errors)
    return _ERRORS[kind](text if kind is not protocol.ErrorKind.EXCEPTION else f"{what} raised:\n{text}")


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

    def call_reporting_arguments(self, *args, **kwargs):
        """Call the function; return (result, args, kwargs) with the arguments as the call left them."""
        result, args_after, kwargs_after = self._side.call(self._name, args, kwargs, echo=True)
        return result, tuple(args_after), kwargs_after

    def __repr__(self) -> str:
        return f"<{self._side.name} function {self._name}>"


class RemoteObject:
    """An object that stays in the worker (a class instance, a bound method, ...)."""

    def __init__(self, side: Side, handle_id: int, type_name: str, generation: int):
        self._side, self._handle_id, self._type_name, self._generation = side, handle_id, type_name, generation
        self._name = ""  # the attribute it was read as, if any

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
