"""The one protocol between the trusted grader and the sandboxed worker.

A message is a frame: a little-endian header (JSON length, number of buffers), a JSON
document, then the raw buffers it refers to (array data, bytes). Values are encoded as
JSON trees in which every non-JSON type is tagged ({"$": "nd", ...}); dicts are always
tagged, so a bare JSON object is never a value.

Decoding is strict and builds fresh objects of exact built-in types: no pickle, no
imports driven by the data, no object arrays. Whatever the worker sends, the trusted side
gets plain data or an opaque handle, nothing else, and its work on a reply is bounded:

- a frame's JSON header is at most MAX_HEADER_BYTES (parsed in about a second at worst)
  and refers to at most MAX_BUFFERS buffers, each used by one value only;
- a value is nested at most MAX_DEPTH levels, holds at most MAX_NODES parts in all and at
  most MAX_ITEMS in any one list, tuple or dict;
- a tagged int has at most MAX_INT_BITS bits; a tagged float or complex part is a string
  of at most MAX_FLOAT_CHARS characters; an array shape has at most MAX_NDIM dimensions
  and, zero dimensions aside, at most MAX_ARRAY_ELEMENTS elements;
- dict keys are str or int with |k| < MAX_KEY_INT: keys whose hashes a sender could make
  collide (big ints, floats, tuples, ...) are refused, when encoding and when decoding;
- with a deadline, decoding checks the clock as it goes and stops with DecodeTimeout.

FrameReader.next() and decode() raise ProtocolError, and nothing else, on any input.

Messages (field "op"):
  trusted -> worker   call(id, target, args, kwargs)   getattr(id, target, name)
                      stage(id, calls, device)         run(id, target, staged)
                      release(id, handles)
  worker -> trusted   ready(errors, names)             result(id, value) | error(id, kind, message)
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import struct
import sys
import time
from enum import Enum

import numpy as np

SIMULATED_CUDA = "cuda-simulated"  # a timed request's device where the grader's own tests simulate a GPU
MAX_HEADER_BYTES = 24 * 2**20   # parsed in about a second at worst; 10**6 floats (at most 25 bytes each) fit
MAX_BUFFERS = 100_000
MAX_DEPTH = 64
MAX_NODES = 2**21               # values in one decoded value: the root, every element, every dict value
MAX_ITEMS = 2**20               # elements of one list or tuple, entries of one dict: a list of 10**6 floats fits
MAX_INT_BITS = 2**16            # a tagged int: at most 16384 hex digits
MAX_FLOAT_CHARS = 64            # a tagged float or complex part (a float's repr has at most 24 characters)
MAX_KEY_INT = 2**31             # int dict keys are below this in absolute value
MAX_NDIM = 32
MAX_ARRAY_ELEMENTS = 2**40      # far beyond any reply, yet within numpy's reach whatever zero dimension comes along
CLOCK_EVERY = 4096              # containers and tagged values decoded between two looks at the clock
_MAX_JSON_INT_DIGITS = 4300     # CPython's own limit on int("<decimal digits>")
_FRAME = struct.Struct("<IIQ")  # header length, number of buffers, total buffer bytes
_LENGTH = struct.Struct("<Q")

NUMPY_DTYPES = frozenset(
    np.dtype(name).str
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "complex64", "complex128")
)
TORCH_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "bfloat16", "float32",
                "float64", "complex64", "complex128")


class ErrorKind(str, Enum):
    """Why a request failed on the worker's side."""

    EXCEPTION = "exception"    # the student's code raised
    MISSING = "missing"        # no such name in the submission
    BAD_VALUE = "bad_value"    # a value that cannot cross the boundary
    FORBIDDEN = "forbidden"    # a forbidden module was used
    EXIT = "exit"              # the student's code called sys.exit()
    PROTOCOL = "protocol"      # a malformed request


class ProtocolError(Exception):
    """A frame or value violates the protocol."""


class DecodeTimeout(ProtocolError):
    """Decoding a value went past its deadline."""


class Handle:
    """A reference to an object that stays on the other side (a worker's handle id)."""

    __slots__ = ("id", "type_name")

    def __init__(self, id: int, type_name: str):
        self.id, self.type_name = id, type_name


@contextlib.contextmanager
def _gc_paused():
    """Keep the cyclic garbage collector off while millions of fresh containers are built.

    Each batch of new containers would otherwise start a collection that walks all of them,
    which makes parsing a header of many small lists several times slower.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _malformed(what: str, error: Exception) -> ProtocolError:
    return ProtocolError(f"{what}: {type(error).__name__}: {str(error)[:200]}")


def _shown(text: str) -> str:
    return repr(text[:40]) + ("..." if len(text) > 40 else "")


# ---------------------------------------------------------------------------- framing

def encode_frame(message: dict, buffers: list[bytes]) -> bytes:
    """Frame a JSON-able message and its buffers."""
    header = json.dumps(message, allow_nan=True, separators=(",", ":")).encode()
    total = sum(len(b) for b in buffers)
    parts = [_FRAME.pack(len(header), len(buffers), total), header]
    for buffer in buffers:
        parts += [_LENGTH.pack(len(buffer)), buffer]
    return b"".join(parts)


class FrameReader:
    """Incremental frame decoder: feed bytes, take complete (message, buffers) pairs."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.data = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.data += chunk

    def next(self):
        """Return the next complete (message, buffers), or None if more bytes are needed.

        A frame over the limits is refused from its fixed-size prefix alone.
        """
        if len(self.data) < _FRAME.size:
            return None
        header_len, count, total = _FRAME.unpack_from(self.data)
        if header_len > MAX_HEADER_BYTES:
            raise ProtocolError(f"the worker sent a message header of {header_len} bytes, over the limit of "
                                f"{MAX_HEADER_BYTES}")
        if count > MAX_BUFFERS:
            raise ProtocolError(f"the worker sent {count} buffers, over the limit of {MAX_BUFFERS}")
        if total > self.max_bytes:
            raise ProtocolError(f"the worker sent a message of {total + header_len} bytes, over the limit of "
                                f"{self.max_bytes}")
        size = _FRAME.size + header_len + count * _LENGTH.size + total
        if len(self.data) < size:
            return None
        offset = _FRAME.size + header_len
        with memoryview(self.data) as view:
            message = _parse_header(bytes(view[_FRAME.size:offset]))
            buffers = []
            for _ in range(count):
                if offset + _LENGTH.size > size:
                    raise ProtocolError("a buffer length runs past the end of its frame")
                (length,) = _LENGTH.unpack_from(view, offset)
                offset += _LENGTH.size
                if offset + length > size:
                    raise ProtocolError("a buffer runs past the end of its frame")
                buffers.append(bytes(view[offset:offset + length]))
                offset += length
        del self.data[:size]
        if not isinstance(message, dict):
            raise ProtocolError("a message must be a JSON object")
        return message, buffers


def _parse_header(data: bytes):
    # CPython (3.11, 3.10.7+) refuses decimal ints of over 4300 digits before converting them
    # (a conversion that takes quadratic time); where that limit is lifted, enforce it here.
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    parse_int = None if 0 < limit <= _MAX_JSON_INT_DIGITS else _bounded_int
    try:
        with _gc_paused():
            return json.loads(data, parse_int=parse_int)
    except Exception as error:  # ValueError, RecursionError, MemoryError, ...: all mean a bad header
        raise _malformed("malformed message header", error) from None


def _bounded_int(text: str) -> int:
    if len(text) > _MAX_JSON_INT_DIGITS:
        raise ValueError(f"an int literal of {len(text)} digits")
    return int(text)


def read_frame(stream) -> tuple[dict, list[bytes]]:
    """Blocking read of one frame from a binary file object (the worker's side)."""
    reader = FrameReader(max_bytes=2**40)
    head = _read_exact(stream, _FRAME.size)
    header_len, count, total = _FRAME.unpack(head)
    reader.feed(head + _read_exact(stream, header_len + count * _LENGTH.size + total))
    frame = reader.next()
    if frame is None:
        raise ProtocolError("incomplete frame")
    return frame


def _read_exact(stream, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) < n:
        raise EOFError
    return data


# ---------------------------------------------------------------------------- values

def encode(value, buffers: list[bytes], to_handle=None, depth: int = 0):
    """Encode `value` as a JSON tree, appending raw data to `buffers`.

    Anything that is not plain data goes through `to_handle` (the worker registers the
    object and gets a Handle); without it such a value is a ProtocolError. Values that the
    other side would refuse (containers over MAX_ITEMS, ints over MAX_INT_BITS, dict keys
    that are not str or small int) are a ProtocolError here already.
    """
    if depth > MAX_DEPTH:
        raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        if abs(value) < 2**53:
            return value
        if value.bit_length() > MAX_INT_BITS:
            raise ProtocolError(f"an int of {value.bit_length()} bits is over the limit of {MAX_INT_BITS} bits")
        return {"$": "int", "v": format(value, "x")}
    if type(value) is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if type(value) is complex:
        return {"$": "complex", "v": [repr(value.real), repr(value.imag)]}
    if type(value) in (bytes, bytearray):
        buffers.append(bytes(value))
        return {"$": "bytes", "b": len(buffers) - 1}
    if type(value) in (list, tuple, dict):
        _check_length(len(value), type(value).__name__)
    if type(value) in (list, tuple):
        items = [encode(v, buffers, to_handle, depth + 1) for v in value]
        return items if type(value) is list else {"$": "tuple", "v": items}
    if type(value) is dict:
        keys = [int(k) if isinstance(k, np.integer) else k for k in value]  # numpy ints, as from np.arange
        for key in keys:
            if not _is_key(key):
                raise _key_error(key)
        return {"$": "dict", "v": [[k, encode(v, buffers, to_handle, depth + 1)] for k, v in zip(keys, value.values())]}
    if isinstance(value, Handle):
        return {"$": "handle", "id": value.id, "type": value.type_name}
    if isinstance(value, np.generic) and np.dtype(type(value)).str in NUMPY_DTYPES:
        array = np.asarray(value)
        buffers.append(array.tobytes())
        return {"$": "npscalar", "dtype": array.dtype.str, "b": len(buffers) - 1}
    if isinstance(value, np.ndarray):
        return _encode_array(np.asarray(value), buffers)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _encode_tensor(value, buffers, torch)
    if to_handle is not None:
        return encode(to_handle(value), buffers)
    raise ProtocolError(f"cannot send a value of type {type(value).__name__}")


def _is_key(key) -> bool:
    """Whether `key` may be a dict key on the wire: str (hashed with a per-process secret) or small int."""
    return type(key) is str or (type(key) is int and -MAX_KEY_INT < key < MAX_KEY_INT)


def _key_error(key) -> ProtocolError:
    """The error for a dict key that may not cross; `key` is a value, or the JSON tree of one."""
    if type(key) is int:
        kind = f"an int of {key.bit_length()} bits"
    elif type(key) is dict and type(key.get("$")) is str:
        kind = key["$"][:20]
    else:
        kind = type(key).__name__
    return ProtocolError(f"dict keys must be str or small int (|k| < 2**31), not {kind}")


def _check_length(length: int, what: str) -> None:
    if length > MAX_ITEMS:
        raise ProtocolError(f"a {what} of {length} items is over the limit of {MAX_ITEMS}")


def _encode_array(array: np.ndarray, buffers: list[bytes]) -> dict:
    if array.dtype.str not in NUMPY_DTYPES:
        if array.dtype.byteorder == ">" and array.dtype.newbyteorder("<").str in NUMPY_DTYPES:
            array = array.astype(array.dtype.newbyteorder("<"))
        else:
            raise ProtocolError(f"cannot send an array of dtype {array.dtype} (only numeric arrays cross the boundary)")
    buffers.append(np.ascontiguousarray(array).tobytes())
    return {"$": "nd", "dtype": array.dtype.str, "shape": list(array.shape), "b": len(buffers) - 1}


def _encode_tensor(tensor, buffers: list[bytes], torch) -> dict:
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in TORCH_DTYPES:
        raise ProtocolError(f"cannot send a tensor of dtype {tensor.dtype}")
    data = tensor.detach().to("cpu").contiguous()
    raw = data.view(torch.int16) if dtype == "bfloat16" else data
    buffers.append(raw.numpy().tobytes())
    return {"$": "tensor", "dtype": dtype, "shape": list(data.shape), "b": len(buffers) - 1,
            "requires_grad": bool(tensor.requires_grad)}


def decode(tree, buffers: list[bytes], from_handle=None, deadline: float | None = None):
    """Rebuild a value from its JSON tree: fresh objects of exact built-in types only.

    `from_handle` turns a Handle into the object that stands for it; without it a handle is
    refused. With `deadline` (a time.monotonic() value), decoding stops with DecodeTimeout
    once it has passed. Raises ProtocolError, and nothing else, for any malformed value.
    """
    decoder = _Decoder(buffers, from_handle, deadline)
    try:
        decoder.check_clock()
        with _gc_paused():
            return tree if type(tree) in _SCALARS else decoder.value(tree, 0)
    except ProtocolError:
        raise
    except Exception as error:  # whatever the tree holds, the caller sees a ProtocolError
        raise _malformed("malformed value", error) from None


_SCALARS = frozenset({type(None), bool, int, float, str})  # JSON scalars that are values as they are


class _Decoder:
    """One decode: the buffers, the handle factory, the deadline, and the work done so far.

    `nodes` counts values (the root, and every element and dict value of a container when
    the container is entered); `steps` counts the trees that are not plain JSON scalars,
    and the clock is read every CLOCK_EVERY steps.
    """

    def __init__(self, buffers: list[bytes], from_handle, deadline: float | None):
        self.buffers, self.from_handle, self.deadline = buffers, from_handle, deadline
        self.nodes, self.steps = 1, 0
        self.used: set[int] = set()

    def check_clock(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DecodeTimeout("decoding the reply took longer than the call's time limit")

    def value(self, tree, depth: int):
        """Decode a tree that is not a plain JSON scalar."""
        self.steps += 1
        if self.steps % CLOCK_EVERY == 0:
            self.check_clock()
        if depth > MAX_DEPTH:
            raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
        if type(tree) is list:
            return self.items(tree, depth, "list")
        if type(tree) is not dict:
            raise ProtocolError(f"unexpected JSON value of type {type(tree).__name__}")
        tag = tree.get("$")
        decode_tagged = _TAGGED.get(tag) if type(tag) is str else None
        if decode_tagged is None:
            raise ProtocolError(f"unknown value tag {_shown(tag) if type(tag) is str else type(tag).__name__}")
        return decode_tagged(self, tree, depth)

    def count(self, items: list, what: str) -> None:
        """Count a container's elements before any of them is decoded."""
        _check_length(len(items), what)
        self.nodes += len(items)
        if self.nodes > MAX_NODES:
            raise ProtocolError(f"value of more than {MAX_NODES} parts")

    def items(self, items: list, depth: int, what: str) -> list:
        self.count(items, what)
        return [v if type(v) in _SCALARS else self.value(v, depth + 1) for v in items]

    def decode_tuple(self, tree, depth: int) -> tuple:
        return tuple(self.items(_list(tree, "v"), depth, "tuple"))

    def decode_dict(self, tree, depth: int) -> dict:
        pairs = _list(tree, "v")
        self.count(pairs, "dict")
        result = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2:
                raise ProtocolError("a dict entry must be a [key, value] pair")
            key, value = pair
            if not _is_key(key):
                raise _key_error(key)
            result[key] = value if type(value) in _SCALARS else self.value(value, depth + 1)
        return result

    def decode_int(self, tree, depth: int) -> int:
        return int(_str(tree, "v", MAX_INT_BITS // 4 + 1), 16)

    def decode_float(self, tree, depth: int) -> float:
        return float(_str(tree, "v", MAX_FLOAT_CHARS))

    def decode_complex(self, tree, depth: int) -> complex:
        parts = _list(tree, "v")
        if len(parts) != 2:
            raise ProtocolError("a complex number must have two parts")
        real, imag = (_text(part, "a complex part", MAX_FLOAT_CHARS) for part in parts)
        return complex(float(real), float(imag))

    def decode_bytes(self, tree, depth: int) -> bytes:
        return self.buffer(tree)

    def decode_npscalar(self, tree, depth: int):
        return self.array(tree, shape=())[()]

    def decode_nd(self, tree, depth: int) -> np.ndarray:
        return self.array(tree, shape=_shape(tree))

    def decode_tensor(self, tree, depth: int):
        import torch

        dtype, shape = _str(tree, "dtype", 40), _shape(tree)
        if dtype not in TORCH_DTYPES:
            raise ProtocolError(f"tensor dtype {_shown(dtype)} is not allowed")
        if dtype == "bfloat16":
            tensor = torch.from_numpy(self.array(tree, shape, dtype="<i2")).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(self.array(tree, shape, dtype=np.dtype(dtype).str))
        differentiable = tensor.is_floating_point() or tensor.is_complex()
        return tensor.requires_grad_(bool(tree.get("requires_grad"))) if differentiable else tensor

    def decode_handle(self, tree, depth: int):
        if self.from_handle is None:
            raise ProtocolError("a handle is not allowed here")
        if type(tree.get("id")) is not int or type(tree.get("type")) is not str:
            raise ProtocolError("malformed handle")
        return self.from_handle(Handle(tree["id"], tree["type"][:200]))

    def buffer(self, tree) -> bytes:
        index = tree.get("b")
        if type(index) is not int or not 0 <= index < len(self.buffers):
            raise ProtocolError("reference to a missing buffer")
        if index in self.used:
            raise ProtocolError("a buffer used by two values")
        self.used.add(index)
        return self.buffers[index]

    def array(self, tree, shape: tuple[int, ...], dtype: str | None = None) -> np.ndarray:
        dtype = dtype or _str(tree, "dtype", 40)
        if dtype not in NUMPY_DTYPES:
            raise ProtocolError(f"dtype {_shown(dtype)} is not allowed")
        data = self.buffer(tree)
        dtype = np.dtype(dtype)
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise ProtocolError(f"array data of {len(data)} bytes does not fit shape {shape} and dtype {dtype}")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


_TAGGED = {tag: getattr(_Decoder, f"decode_{tag}") for tag in ("tuple", "dict", "int", "float", "complex", "bytes",
                                                                 "npscalar", "nd", "tensor", "handle")}


def _shape(tree) -> tuple[int, ...]:
    shape = _list(tree, "shape")
    if len(shape) > MAX_NDIM or not all(type(n) is int and 0 <= n <= MAX_ARRAY_ELEMENTS for n in shape):
        raise ProtocolError(f"malformed shape (a list of at most {MAX_NDIM} non-negative ints is expected)")
    if math.prod(n for n in shape if n) > MAX_ARRAY_ELEMENTS:
        raise ProtocolError(f"shape {tuple(shape)} describes more than {MAX_ARRAY_ELEMENTS} elements")
    return tuple(shape)


def _list(tree, key) -> list:
    value = tree.get(key)
    if type(value) is not list:
        raise ProtocolError(f"field {key!r} must be a list")
    return value


def _str(tree, key, max_length: int) -> str:
    return _text(tree.get(key), f"field {key!r}", max_length)


def _text(value, what: str, max_length: int) -> str:
    if type(value) is not str:
        raise ProtocolError(f"{what} must be a string")
    if len(value) > max_length:
        raise ProtocolError(f"{what} is a string of {len(value)} characters, over the limit of {max_length}")
    return value
