"""The one protocol between the trusted grader and the sandboxed worker.

A message is a frame: a little-endian header (JSON length, number of buffers), a JSON
document, then the raw buffers it refers to (array data, bytes). Values are encoded as
JSON trees in which every non-JSON type is tagged ({"$": "nd", ...}); dicts are always
tagged, so a bare JSON object is never a value.

Decoding is strict and builds fresh objects of exact built-in types: no pickle, no
imports driven by the data, no object arrays, bounded depth and size. Whatever the worker
sends, the trusted side gets plain data or an opaque handle, nothing else.

Messages (field "op"):
  trusted -> worker   call(id, target, args, kwargs)   getattr(id, target, name)
                      stage(id, calls, device)         run(id, target, staged)
                      release(id, handles)
  worker -> trusted   ready(errors, names)             result(id, value) | error(id, kind, message)
"""

from __future__ import annotations

import json
import math
import struct
import sys
from enum import Enum

import numpy as np

MAX_HEADER_BYTES = 64 * 2**20
MAX_BUFFERS = 100_000
MAX_DEPTH = 64
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


class Handle:
    """A reference to an object that stays on the other side (a worker's handle id)."""

    __slots__ = ("id", "type_name")

    def __init__(self, id: int, type_name: str):
        self.id, self.type_name = id, type_name


# ---------------------------------------------------------------------------- framing

def encode_frame(message: dict, buffers: list[bytes]) -> bytes:
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
        """Return the next complete (message, buffers), or None if more bytes are needed."""
        if len(self.data) < _FRAME.size:
            return None
        header_len, count, total = _FRAME.unpack_from(self.data)
        if header_len > MAX_HEADER_BYTES or count > MAX_BUFFERS or total > self.max_bytes:
            raise ProtocolError(f"the worker sent a message of {total + header_len} bytes, over the limit of {self.max_bytes}")
        size = _FRAME.size + header_len + count * _LENGTH.size + total
        if len(self.data) < size:
            return None
        view = memoryview(self.data)
        offset = _FRAME.size + header_len
        try:
            message = json.loads(bytes(view[_FRAME.size:offset]))
        except (ValueError, RecursionError) as error:
            raise ProtocolError(f"malformed message header: {error}") from None
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
        view.release()
        del self.data[:size]
        if not isinstance(message, dict):
            raise ProtocolError("a message must be a JSON object")
        return message, buffers


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
    object and gets a Handle); without it such a value is a ProtocolError.
    """
    if depth > MAX_DEPTH:
        raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value if abs(value) < 2**53 else {"$": "int", "v": format(value, "x")}
    if type(value) is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if type(value) is complex:
        return {"$": "complex", "v": [repr(value.real), repr(value.imag)]}
    if type(value) in (bytes, bytearray):
        buffers.append(bytes(value))
        return {"$": "bytes", "b": len(buffers) - 1}
    if type(value) in (list, tuple):
        items = [encode(v, buffers, to_handle, depth + 1) for v in value]
        return items if type(value) is list else {"$": "tuple", "v": items}
    if type(value) is dict:
        return {"$": "dict", "v": [[encode(k, buffers, to_handle, depth + 1), encode(v, buffers, to_handle, depth + 1)]
                                   for k, v in value.items()]}
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


def decode(tree, buffers: list[bytes], from_handle=None):
    """Rebuild a value from its JSON tree: fresh objects of exact built-in types only."""
    try:
        return _decode(tree, buffers, from_handle, 0)
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        raise ProtocolError(f"malformed value: {error}") from None


def _decode(tree, buffers: list[bytes], from_handle, depth: int):
    if depth > MAX_DEPTH:
        raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if type(tree) is list:
        return [_decode(v, buffers, from_handle, depth + 1) for v in tree]
    if type(tree) is not dict:
        raise ProtocolError(f"unexpected JSON value of type {type(tree).__name__}")
    tag = tree.get("$")
    if tag == "tuple":
        return tuple(_decode(v, buffers, from_handle, depth + 1) for v in _list(tree, "v"))
    if tag == "dict":
        result = {}
        for pair in _list(tree, "v"):
            if type(pair) is not list or len(pair) != 2:
                raise ProtocolError("a dict entry must be a [key, value] pair")
            key = _decode(pair[0], buffers, from_handle, depth + 1)
            try:
                result[key] = _decode(pair[1], buffers, from_handle, depth + 1)
            except TypeError:
                raise ProtocolError(f"a dict key of type {type(key).__name__} is not hashable") from None
        return result
    if tag == "int":
        return int(_str(tree, "v"), 16)
    if tag == "float":
        return float(_str(tree, "v"))
    if tag == "complex":
        re_, im = _list(tree, "v")
        return complex(float(re_), float(im))
    if tag == "bytes":
        return bytes(_buffer(tree, buffers))
    if tag == "npscalar":
        return _decode_array(tree, buffers, shape=())[()]
    if tag == "nd":
        return _decode_array(tree, buffers, shape=_shape(tree))
    if tag == "tensor":
        return _decode_tensor(tree, buffers)
    if tag == "handle":
        if from_handle is None:
            raise ProtocolError("a handle is not allowed here")
        if type(tree.get("id")) is not int or type(tree.get("type")) is not str:
            raise ProtocolError("malformed handle")
        return from_handle(Handle(tree["id"], tree["type"][:200]))
    raise ProtocolError(f"unknown value tag {tag!r}")


def _decode_array(tree, buffers, shape) -> np.ndarray:
    dtype = _str(tree, "dtype")
    if dtype not in NUMPY_DTYPES:
        raise ProtocolError(f"dtype {dtype!r} is not allowed")
    data = _buffer(tree, buffers)
    dtype = np.dtype(dtype)
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise ProtocolError(f"array data of {len(data)} bytes does not fit shape {shape} and dtype {dtype}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _decode_tensor(tree, buffers):
    import torch

    dtype, shape = _str(tree, "dtype"), _shape(tree)
    if dtype not in TORCH_DTYPES:
        raise ProtocolError(f"tensor dtype {dtype!r} is not allowed")
    if dtype == "bfloat16":
        bits = _decode_array({"dtype": "<i2", "b": tree.get("b")}, buffers, shape)
        tensor = torch.from_numpy(bits).view(torch.bfloat16)
    else:
        tensor = torch.from_numpy(_decode_array({"dtype": np.dtype(dtype).str, "b": tree.get("b")}, buffers, shape))
    differentiable = tensor.is_floating_point() or tensor.is_complex()
    return tensor.requires_grad_(bool(tree.get("requires_grad"))) if differentiable else tensor


def _shape(tree) -> tuple[int, ...]:
    shape = _list(tree, "shape")
    if not all(type(n) is int and n >= 0 for n in shape) or len(shape) > 32:
        raise ProtocolError(f"malformed shape {shape!r}")
    return tuple(shape)


def _buffer(tree, buffers) -> bytes:
    index = tree.get("b")
    if type(index) is not int or not 0 <= index < len(buffers):
        raise ProtocolError("reference to a missing buffer")
    return buffers[index]


def _list(tree, key) -> list:
    value = tree.get(key)
    if type(value) is not list:
        raise ProtocolError(f"field {key!r} must be a list")
    return value


def _str(tree, key) -> str:
    value = tree.get(key)
    if type(value) is not str:
        raise ProtocolError(f"field {key!r} must be a string")
    return value
