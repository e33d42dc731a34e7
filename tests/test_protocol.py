"""The pickle-free protocol between the trusted grader and the sandboxed worker.

Every value goes the whole way: encode -> frame -> FrameReader -> decode, so the JSON step
is exercised too. Decoded values must be fresh objects of exact built-in types.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch

from grader import protocol
from grader.protocol import FrameReader, Handle, ProtocolError, decode, encode, encode_frame


def roundtrip(value, to_handle=None, from_handle=None):
    buffers: list[bytes] = []
    tree = encode(value, buffers, to_handle=to_handle)
    reader = FrameReader(max_bytes=2**30)
    reader.feed(encode_frame({"op": "result", "id": 1, "value": tree}, buffers))
    message, received = reader.next()
    assert reader.next() is None
    return decode(message["value"], received, from_handle=from_handle)


def decode_alone(tree, buffers=()):
    return decode(tree, list(buffers))


def frame_prefix(header_len: int, count: int, total: int) -> bytes:
    return struct.pack("<IIQ", header_len, count, total)


# ---------------------------------------------------------------------------- plain scalars

@pytest.mark.parametrize("value", [None, True, False, 0, 1, -7, 2**53 - 1, 2**53, -(2**53), 2**64 + 3,
                                   -(2**200), 10**300])
def test_none_bool_int_roundtrip_exactly(value):
    got = roundtrip(value)
    assert got == value
    assert type(got) is type(value)


def test_ints_beyond_the_decimal_digit_limit_round_trip():
    value = -(10**5000) + 7
    assert decode(encode(value, []), []) == value


def test_large_ints_are_tagged_not_sent_as_json_numbers():
    assert encode(2**53 - 1, []) == 2**53 - 1
    assert encode(2**53, []) == {"$": "int", "v": format(2**53, "x")}


@pytest.mark.parametrize("value", [0.0, -0.0, 0.1, -2.5, 1e308, 5e-324, math.pi, math.inf, -math.inf])
def test_floats_roundtrip_bit_for_bit(value):
    got = roundtrip(value)
    assert type(got) is float
    assert struct.pack("<d", got) == struct.pack("<d", value)


def test_nan_roundtrips_as_a_float_nan():
    got = roundtrip(math.nan)
    assert type(got) is float and math.isnan(got)


@pytest.mark.parametrize("value", [1 + 2j, complex(0.0, -0.0), complex(math.inf, -math.inf), complex(1e-300, 3.5)])
def test_complex_roundtrip(value):
    got = roundtrip(value)
    assert type(got) is complex
    assert struct.pack("<dd", got.real, got.imag) == struct.pack("<dd", value.real, value.imag)


def test_complex_nan_roundtrip():
    got = roundtrip(complex(math.nan, 1.0))
    assert type(got) is complex and math.isnan(got.real) and got.imag == 1.0


@pytest.mark.parametrize("value", ["", "hello", "ünïcødé ✓ 日本", "line\nbreak\t\0nul", '{"$": "nd"}'])
def test_str_roundtrip(value):
    got = roundtrip(value)
    assert got == value and type(got) is str


@pytest.mark.parametrize("value", [b"", b"\x00\xff binary \x80", bytes(range(256)) * 10])
def test_bytes_roundtrip(value):
    got = roundtrip(value)
    assert got == value and type(got) is bytes


def test_bytearray_arrives_as_bytes():
    got = roundtrip(bytearray(b"abc"))
    assert got == b"abc" and type(got) is bytes


# ---------------------------------------------------------------------------- containers

def test_list_and_tuple_keep_their_types():
    value = [1, (2, 3), [4, (5,)], (), []]
    got = roundtrip(value)
    assert got == value
    assert type(got) is list and type(got[1]) is tuple and type(got[2]) is list and type(got[2][1]) is tuple
    assert type(got[3]) is tuple and type(got[4]) is list


def test_nested_dicts_with_str_and_small_int_keys():
    value = {
        "a": {1: "one", -2: [1, 2], 0: {"deep": (1, 2)}},
        7: {"x": b"bytes value", 2**31 - 1: False, -(2**31) + 1: None},
        "z": {},
    }
    got = roundtrip(value)
    assert got == value
    assert type(got) is dict and type(got["a"]) is dict and type(got["a"][0]["deep"]) is tuple
    assert list(got) == list(value) and list(got[7]) == list(value[7])  # insertion order kept


@pytest.mark.parametrize("key,kind", [((1, 2), "tuple"), (2.5, "float"), (1j, "complex"), (None, "NoneType"),
                                      (True, "bool"), (b"raw", "bytes"), (2**31, "an int of 32 bits"),
                                      (-(2**31), "an int of 32 bits"), (2**70, "an int of 71 bits"),
                                      (np.int64(2**40), "an int of 41 bits"), (frozenset(), "frozenset")])
def test_encode_refuses_dict_keys_other_than_str_and_small_int(key, kind):
    with pytest.raises(ProtocolError, match=rf"dict keys must be str or small int \(\|k\| < 2\*\*31\), not {kind}"):
        encode({"ok": 1, key: "value"}, [])


def test_numpy_integer_keys_cross_as_ints():
    decoded = roundtrip({np.int64(3): "a", np.uint8(4): "b"})
    assert decoded == {3: "a", 4: "b"} and all(type(k) is int for k in decoded)


@pytest.mark.parametrize("key", [{"$": "tuple", "v": [1, 2]}, {"$": "int", "v": "80000000"}, 1.5, True, None,
                                 2**31, -(2**31), [1], {"$": "float", "v": "1.5"}, {"$": "bytes", "b": 0}])
def test_decode_refuses_dict_keys_other_than_str_and_small_int(key):
    with pytest.raises(ProtocolError, match="dict keys must be str or small int"):
        decode_alone({"$": "dict", "v": [["ok", 1], [key, 2]]}, [b"x"])


def test_dict_tree_is_always_tagged():
    tree = encode({"x": 1}, [])
    assert tree == {"$": "dict", "v": [["x", 1]]}


def test_handles_roundtrip_through_to_handle_and_from_handle():
    class Opaque:
        pass

    registered = {}

    def to_handle(obj):
        registered[id(obj)] = obj
        return Handle(id(obj), type(obj).__name__)

    seen = []

    def from_handle(handle):
        seen.append((handle.id, handle.type_name))
        return ("remote", handle.id)

    thing = Opaque()
    got = roundtrip({"model": thing, "n": 3}, to_handle=to_handle, from_handle=from_handle)
    assert got == {"model": ("remote", id(thing)), "n": 3}
    assert seen == [(id(thing), "Opaque")]
    assert registered[id(thing)] is thing


# ---------------------------------------------------------------------------- numpy

ALLOWED_NUMPY = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "complex64", "complex128"]


def _sample(dtype: str, shape) -> np.ndarray:
    size = math.prod(shape)
    if dtype == "bool":
        return (np.arange(size) % 3 == 0).reshape(shape)
    values = np.arange(size).reshape(shape) - (0 if dtype.startswith("uint") else size // 2)
    array = values.astype(dtype)
    if dtype.startswith(("float", "complex")):
        array = array / 4
        if dtype.startswith("complex"):
            array = array - 1j * array.astype(dtype)
    return np.array(array, dtype=dtype).reshape(shape)  # a 0-d array, not a numpy scalar


@pytest.mark.parametrize("dtype", ALLOWED_NUMPY)
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (5,), (2, 3, 4)])
def test_numpy_arrays_roundtrip_every_allowed_dtype(dtype, shape):
    original = _sample(dtype, shape)
    got = roundtrip(original)
    assert type(got) is np.ndarray
    assert got.dtype == np.dtype(dtype) and got.shape == shape
    np.testing.assert_array_equal(got, original)
    assert got.flags.writeable and got.flags.owndata
    assert not np.shares_memory(got, original)


def test_numpy_special_float_values_roundtrip():
    original = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-310], dtype=np.float64)
    got = roundtrip(original)
    assert got.tobytes() == original.tobytes()


def test_decoded_array_is_fresh_and_writable():
    original = np.arange(6.0).reshape(2, 3)
    got = roundtrip(original)
    got[0, 0] = 100.0
    assert original[0, 0] == 0.0
    original[1, 1] = -1.0
    assert got[1, 1] == 4.0


@pytest.mark.parametrize("make", [
    lambda: np.arange(12.0).reshape(3, 4).T,                    # transposed
    lambda: np.arange(20, dtype=np.int32)[::3],                 # strided
    lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)),    # Fortran order
    lambda: np.arange(5, dtype=">f8"),                          # big-endian
    lambda: np.arange(5, dtype=">i2"),
])
def test_non_contiguous_and_big_endian_arrays_arrive_as_equal_native_arrays(make):
    original = make()
    got = roundtrip(original)
    np.testing.assert_array_equal(got, original)
    assert got.dtype.str in protocol.NUMPY_DTYPES
    assert got.flags.c_contiguous


@pytest.mark.parametrize("dtype", ALLOWED_NUMPY)
def test_numpy_scalars_roundtrip(dtype):
    value = np.dtype(dtype).type(3 if dtype != "bool" else True)
    got = roundtrip(value)
    assert type(got) is type(value)
    assert got == value


def test_ndarray_subclass_with_lying_eq_arrives_as_plain_ndarray():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

        def __array_finalize__(self, obj):
            pass

    value = np.arange(3.0).view(Liar)
    assert value == "anything"  # the trick works on the original
    got = roundtrip(value)
    assert type(got) is np.ndarray
    assert not np.array_equal(got, np.array([9.0, 9.0, 9.0]))
    np.testing.assert_array_equal(got, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("value", [
    np.array([1, "a", None], dtype=object),
    np.array([object()]),
    np.array(["text"]),
    np.array([b"raw"]),
    np.array([1, 2], dtype="datetime64[ns]"),
    np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
    np.zeros(2, dtype=np.longdouble) if np.dtype(np.longdouble).itemsize > 8 else np.zeros(2, dtype="V8"),
])
def test_encode_refuses_non_numeric_arrays(value):
    with pytest.raises(ProtocolError, match="dtype"):
        encode(value, [])


class _Custom:
    pass


class _MyInt(int):
    pass


class _MyList(list):
    pass


@pytest.mark.parametrize("value", [_Custom(), _MyInt(3), _MyList([1]), {1, 2}, frozenset(), len, print, object,
                                   memoryview(b"x"), np.str_("s"), np.datetime64("2020-01-01")])
def test_encode_refuses_unknown_types_without_to_handle(value):
    with pytest.raises(ProtocolError, match="cannot send"):
        encode(value, [])


def test_subclasses_of_builtins_go_through_to_handle_not_as_data():
    calls = []

    def to_handle(obj):
        calls.append(type(obj))
        return Handle(1, type(obj).__name__)

    tree = encode([_MyInt(3), _MyList([1])], [], to_handle=to_handle)
    assert calls == [_MyInt, _MyList]
    assert all(item["$"] == "handle" for item in tree)


# ---------------------------------------------------------------------------- torch

ALLOWED_TORCH = ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "bfloat16", "float32", "float64",
                 "complex64", "complex128"]


@pytest.mark.parametrize("dtype", ALLOWED_TORCH)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (4,), (2, 3)])
def test_torch_tensors_roundtrip_every_allowed_dtype(dtype, shape):
    original = (torch.arange(math.prod(shape)).reshape(shape) - 2).to(getattr(torch, dtype))
    got = roundtrip(original)
    assert type(got) is torch.Tensor
    assert got.dtype == original.dtype and tuple(got.shape) == shape
    assert torch.equal(got, original)
    assert not got.requires_grad
    if got.numel():
        assert got.data_ptr() != original.data_ptr()


def test_bfloat16_values_are_bit_exact():
    original = torch.tensor([1.5, -3.0, 1e-3, 65504.0, float("inf"), float("nan")], dtype=torch.bfloat16)
    got = roundtrip(original)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got.view(torch.int16), original.view(torch.int16))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_requires_grad_is_kept_on_a_fresh_leaf(dtype):
    base = torch.linspace(-1, 1, 5, dtype=dtype, requires_grad=True)
    original = base * 2  # a non-leaf with a graph behind it
    got = roundtrip(original)
    assert got.requires_grad and got.is_leaf and got.grad_fn is None
    assert torch.equal(got.detach(), original.detach())
    got.sum().backward()  # usable as a fresh leaf
    assert torch.equal(got.grad, torch.ones_like(got))
    assert base.grad is None  # nothing flowed back into the sender's graph


def test_parameter_and_tensor_subclass_arrive_as_plain_tensors():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    parameter = torch.nn.Parameter(torch.ones(3))
    got = roundtrip(parameter)
    assert type(got) is torch.Tensor and got.requires_grad
    liar = torch.zeros(3).as_subclass(Liar)
    got = roundtrip(liar)
    assert type(got) is torch.Tensor
    assert not torch.equal(got, torch.ones(3))


def test_decoded_tensor_is_fresh_and_writable():
    original = torch.arange(6.0)
    got = roundtrip(original)
    got[0] = 42.0
    assert original[0] == 0.0
    original[1] = -5.0
    assert got[1] == 1.0


def test_non_contiguous_tensor_roundtrip():
    original = torch.arange(12.0).reshape(3, 4).t()
    got = roundtrip(original)
    assert torch.equal(got, original) and got.is_contiguous()


def test_encode_refuses_disallowed_tensor_dtype():
    with pytest.raises(ProtocolError, match="dtype"):
        encode(torch.zeros(2, dtype=torch.uint16), [])


# ---------------------------------------------------------------------------- decode is strict

def _nd(dtype="<f8", shape=(2,), b=0):
    return {"$": "nd", "dtype": dtype, "shape": list(shape), "b": b}


@pytest.mark.parametrize("tree", [{"$": "pickle", "v": "..."}, {"$": "set", "v": [1]}, {"$": "object"},
                                  {"$": None}, {"$": 3}])
def test_decode_rejects_unknown_tags(tree):
    with pytest.raises(ProtocolError, match="unknown value tag"):
        decode_alone(tree)


@pytest.mark.parametrize("tree", [{}, {"a": 1}, {"v": [1, 2]}, [1, {"x": 2}]])
def test_decode_rejects_bare_dicts(tree):
    with pytest.raises(ProtocolError):
        decode_alone(tree)


@pytest.mark.parametrize("tree,buffers", [
    (_nd(shape=(3,)), [bytes(16)]),                        # too short
    (_nd(shape=(2,)), [bytes(17)]),                        # too long
    (_nd(shape=()), [b""]),                                # a 0-d array needs one element
    (_nd(dtype="<i4", shape=(2, 2)), [bytes(12)]),
    ({"$": "npscalar", "dtype": "<f8", "b": 0}, [bytes(4)]),
    ({"$": "tensor", "dtype": "float32", "shape": [3], "b": 0}, [bytes(8)]),
    ({"$": "tensor", "dtype": "bfloat16", "shape": [3], "b": 0}, [bytes(4)]),
])
def test_decode_rejects_buffers_that_do_not_fit(tree, buffers):
    with pytest.raises(ProtocolError, match="does not fit"):
        decode_alone(tree, buffers)


@pytest.mark.parametrize("dtype", ["O", "|O", "|V8", "<M8[ns]", "<m8[s]", "<U1", "|S8", ">f8", "<f16", "float64",
                                   "[('a', '<i4')]"])
def test_decode_rejects_disallowed_numpy_dtypes(dtype):
    with pytest.raises(ProtocolError, match="not allowed"):
        decode_alone(_nd(dtype=dtype, shape=(1,)), [bytes(8)])
    with pytest.raises(ProtocolError, match="not allowed"):
        decode_alone({"$": "npscalar", "dtype": dtype, "b": 0}, [bytes(8)])


@pytest.mark.parametrize("dtype", ["object", "uint16", "torch.float32", "float", "O", "<f4"])
def test_decode_rejects_disallowed_tensor_dtypes(dtype):
    with pytest.raises(ProtocolError, match="not allowed"):
        decode_alone({"$": "tensor", "dtype": dtype, "shape": [1], "b": 0}, [bytes(8)])


@pytest.mark.parametrize("b", [1, 5, -1, "0", None, True, 0.0])
def test_decode_rejects_out_of_range_buffer_refs(b):
    for tree in (_nd(shape=(1,), b=b), {"$": "bytes", "b": b}, {"$": "npscalar", "dtype": "<f8", "b": b},
                 {"$": "tensor", "dtype": "float64", "shape": [1], "b": b}):
        with pytest.raises(ProtocolError, match="missing buffer"):
            decode_alone(tree, [bytes(8)])


@pytest.mark.parametrize("shape", [[-1], [1.0], ["2"], [True], "2", None, [1] * 33])
def test_decode_rejects_malformed_shapes(shape):
    with pytest.raises(ProtocolError):
        decode_alone({"$": "nd", "dtype": "<f8", "shape": shape, "b": 0}, [bytes(8)])


def _nested_list(levels: int):
    value = 0
    for _ in range(levels):
        value = [value]
    return value


def _nested_tuples_tree(levels: int):
    tree = 0
    for _ in range(levels):
        tree = {"$": "tuple", "v": [tree]}
    return tree


def test_decode_rejects_nesting_beyond_max_depth():
    deep = protocol.MAX_DEPTH + 5
    with pytest.raises(ProtocolError, match="nested deeper"):
        decode_alone(_nested_list(deep))
    with pytest.raises(ProtocolError, match="nested deeper"):
        decode_alone(_nested_tuples_tree(deep))
    dict_tree = 0
    for _ in range(deep):
        dict_tree = {"$": "dict", "v": [["k", dict_tree]]}
    with pytest.raises(ProtocolError, match="nested deeper"):
        decode_alone(dict_tree)


def test_moderate_nesting_is_fine_and_encode_also_bounds_depth():
    assert roundtrip(_nested_list(protocol.MAX_DEPTH - 2)) == _nested_list(protocol.MAX_DEPTH - 2)
    with pytest.raises(ProtocolError, match="nested deeper"):
        encode(_nested_list(protocol.MAX_DEPTH + 5), [])


def test_self_referencing_list_is_refused_not_a_recursion_error():
    value: list = []
    value.append(value)
    with pytest.raises(ProtocolError):
        encode(value, [])


def test_decode_rejects_handles_where_none_are_allowed():
    with pytest.raises(ProtocolError, match="handle is not allowed"):
        decode_alone({"$": "handle", "id": 1, "type": "Model"})
    with pytest.raises(ProtocolError, match="handle is not allowed"):
        decode_alone([1, {"$": "dict", "v": [["m", {"$": "handle", "id": 1, "type": "Model"}]]}])


@pytest.mark.parametrize("tree", [{"$": "handle", "id": "1", "type": "M"}, {"$": "handle", "id": 1},
                                  {"$": "handle", "id": True, "type": "M"}, {"$": "handle", "id": 1, "type": 5}])
def test_decode_rejects_malformed_handles(tree):
    with pytest.raises(ProtocolError, match="malformed handle"):
        decode(tree, [], from_handle=lambda h: h)


def test_decoded_handle_type_name_is_truncated():
    got = decode({"$": "handle", "id": 3, "type": "X" * 10_000}, [], from_handle=lambda h: h)
    assert got.id == 3 and len(got.type_name) == 200


@pytest.mark.parametrize("tree", [
    {"$": "dict", "v": [[1]]},
    {"$": "dict", "v": [[1, 2, 3]]},
    {"$": "dict", "v": "not a list"},
    {"$": "dict", "v": [[[1, 2], "list key"]]},
    {"$": "tuple", "v": {"not": "a list"}},
    {"$": "int", "v": 5},
    {"$": "float", "v": 1.5},
    {"$": "complex", "v": "1+2j"},
])
def test_decode_rejects_malformed_containers_and_scalars(tree):
    with pytest.raises(ProtocolError):
        decode_alone(tree)


@pytest.mark.parametrize("tree", [
    {"$": "int", "v": "not a number"},
    {"$": "int", "v": "12g"},                 # not hexadecimal
    {"$": "float", "v": "not a number"},
    {"$": "complex", "v": ["1.0"]},           # wrong number of parts
    {"$": "complex", "v": [[], "1.0"]},       # a part that is not a string
])
def test_decode_malformed_scalar_payloads_raise_protocol_error(tree):
    with pytest.raises(ProtocolError):
        decode_alone(tree)


# ---------------------------------------------------------------------------- framing

def _frames():
    b1: list[bytes] = []
    t1 = encode({"x": np.arange(4.0), "s": "hello"}, b1)
    b2: list[bytes] = []
    t2 = encode([b"raw", torch.ones(2)], b2)
    return [({"op": "result", "id": 1, "value": t1}, b1), ({"op": "result", "id": 2, "value": t2}, b2),
            ({"op": "ready", "errors": [], "names": ["f"]}, [])]


def _check_frames(received):
    assert [m["id"] for m, _ in received[:2]] == [1, 2] and received[2][0]["op"] == "ready"
    first = decode(received[0][0]["value"], received[0][1])
    np.testing.assert_array_equal(first["x"], np.arange(4.0))
    second = decode(received[1][0]["value"], received[1][1])
    assert second[0] == b"raw" and torch.equal(second[1], torch.ones(2))


def test_frame_reader_byte_by_byte():
    data = b"".join(encode_frame(m, b) for m, b in _frames())
    reader = FrameReader(max_bytes=2**20)
    received = []
    for i in range(len(data)):
        reader.feed(data[i:i + 1])
        frame = reader.next()
        if frame is not None:
            received.append(frame)
            assert reader.next() is None
    assert len(received) == 3
    _check_frames(received)
    assert reader.next() is None and len(reader.data) == 0


def test_frame_reader_several_frames_in_one_chunk():
    data = b"".join(encode_frame(m, b) for m, b in _frames())
    reader = FrameReader(max_bytes=2**20)
    reader.feed(data + data[:5])  # and the beginning of a fourth frame
    received = [reader.next(), reader.next(), reader.next()]
    assert reader.next() is None
    _check_frames(received)
    reader.feed(data[5:])
    assert reader.next()[0]["id"] == 1


def test_frame_reader_refuses_oversized_frame_from_its_prefix_alone():
    frame = encode_frame({"op": "result", "id": 1, "value": {"$": "bytes", "b": 0}}, [bytes(5000)])
    reader = FrameReader(max_bytes=1000)
    reader.feed(frame[:16])  # only the fixed-size prefix: no need to buffer the rest first
    with pytest.raises(ProtocolError, match="over the limit"):
        reader.next()


def test_frame_reader_refuses_too_many_buffers_and_huge_headers():
    reader = FrameReader(max_bytes=2**40)
    reader.feed(frame_prefix(2, protocol.MAX_BUFFERS + 1, 0))
    with pytest.raises(ProtocolError):
        reader.next()
    reader = FrameReader(max_bytes=2**40)
    reader.feed(frame_prefix(protocol.MAX_HEADER_BYTES + 1, 0, 0))
    with pytest.raises(ProtocolError):
        reader.next()


@pytest.mark.parametrize("header", [b"{not json", b"\xff\xfe\x00garbage", b"", b"[" * 100_000 + b"]" * 100_000])
def test_frame_reader_malformed_json_header(header):
    reader = FrameReader(max_bytes=2**20)
    reader.feed(frame_prefix(len(header), 0, 0) + header)
    with pytest.raises(ProtocolError, match="malformed message header"):
        reader.next()


@pytest.mark.parametrize("header", [b"[1, 2]", b"3", b'"op"', b"null"])
def test_frame_reader_refuses_non_object_messages(header):
    reader = FrameReader(max_bytes=2**20)
    reader.feed(frame_prefix(len(header), 0, 0) + header)
    with pytest.raises(ProtocolError, match="JSON object"):
        reader.next()


def test_frame_reader_refuses_a_buffer_running_past_its_frame():
    header = b"{}"
    # declares 4 bytes of buffer data, but the buffer's own length says 100
    data = frame_prefix(len(header), 1, 4) + header + struct.pack("<Q", 100) + bytes(4) + bytes(200)
    reader = FrameReader(max_bytes=2**20)
    reader.feed(data)
    with pytest.raises(ProtocolError, match="runs past"):
        reader.next()


def test_frame_reader_buffer_swallowing_the_next_length_header():
    header = b"{}"
    # two buffers, 8 bytes of data in all; the first claims 16 bytes, eating the second's length field
    data = frame_prefix(len(header), 2, 8) + header + struct.pack("<Q", 16) + bytes(16)
    reader = FrameReader(max_bytes=2**20)
    reader.feed(data)
    with pytest.raises(ProtocolError):
        reader.next()


def test_encode_frame_header_is_plain_json():
    frame = encode_frame({"op": "call", "id": 7, "target": "f", "args": [], "kwargs": {"$": "dict", "v": []}}, [b"ab"])
    header_len, count, total = struct.unpack_from("<IIQ", frame)
    assert (count, total) == (1, 2)
    assert json.loads(frame[16:16 + header_len])["id"] == 7
