"""The trusted side's decoding of worker replies, attacked: random frames and trees, and crafted slow ones.

A hostile worker controls every byte of its replies. Whatever it sends, FrameReader.next() and
decode() must give plain data of exact built-in types or raise ProtocolError, and must do so
quickly: a reply built to be slow to decode (dict keys with colliding hashes, huge containers,
huge numbers, deep nesting) is refused in well under a second of work, not minutes.
"""

from __future__ import annotations

import copy
import json
import math
import struct
import sys
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader import protocol
from grader.protocol import DecodeTimeout, FrameReader, Handle, ProtocolError, decode, encode

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FAST = 5.0  # seconds: far above what these take (milliseconds to a second), far below what the attacks took
P61 = 2**61 - 1  # hash(k * P61) == 0 for every int k


def frame(header: bytes, buffers=()) -> bytes:
    """A frame with `header` as its JSON text (not necessarily valid JSON) and `buffers`."""
    body = b"".join(struct.pack("<Q", len(b)) + b for b in buffers)
    return struct.pack("<IIQ", len(header), len(buffers), sum(len(b) for b in buffers)) + header + body


def result_frame(tree, buffers=()) -> bytes:
    header = json.dumps({"op": "result", "id": 1, "value": tree}, separators=(",", ":")).encode()
    return frame(header, buffers)


def receive(data: bytes):
    """What the trusted side does with a reply: read the frame, decode its value."""
    reader = FrameReader(max_bytes=2**31)
    reader.feed(data)
    message, buffers = reader.next()
    return decode(message.get("value"), buffers, from_handle=Remote)


class Remote:
    """What a test's from_handle makes of a handle."""

    def __init__(self, handle: Handle):
        self.handle = handle


class Timer:
    """Wall-clock seconds of a with-block, in `elapsed`."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_):
        self.elapsed = time.perf_counter() - self.start


NUMPY_SCALAR_TYPES = {np.dtype(d).type for d in protocol.NUMPY_DTYPES}
TORCH_DTYPES = {getattr(torch, name) for name in protocol.TORCH_DTYPES}


def assert_plain(value, depth: int = 0) -> None:
    """`value` is plain data of exact built-in types, fresh arrays and tensors of allowed dtypes, or a handle."""
    assert depth <= protocol.MAX_DEPTH + 1
    kind = type(value)
    if value is None or kind in (bool, int, float, complex, str, bytes, Remote) or kind in NUMPY_SCALAR_TYPES:
        return
    if kind in (list, tuple):
        for item in value:
            assert_plain(item, depth + 1)
    elif kind is dict:
        for key, item in value.items():
            assert type(key) is str or (type(key) is int and abs(key) < 2**31), f"dict key {key!r}"
            assert_plain(item, depth + 1)
    elif kind is np.ndarray:
        assert value.dtype.str in protocol.NUMPY_DTYPES and value.flags.owndata and value.flags.writeable
    elif kind is torch.Tensor:
        assert value.dtype in TORCH_DTYPES and value.is_leaf
    else:
        raise AssertionError(f"a decoded value of type {kind.__name__}")


def same(a, b) -> bool:
    """Equal values of the same exact types; floats compared bit for bit (any NaN equals any NaN)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)
    if type(a) is complex:
        return same(a.real, b.real) and same(a.imag, b.imag)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if type(a) is np.ndarray or type(a) in NUMPY_SCALAR_TYPES:
        return a.dtype == b.dtype and np.shape(a) == np.shape(b) and a.tobytes() == b.tobytes()
    if type(a) is torch.Tensor:
        raw = (lambda t: t.detach().view(torch.int16) if t.dtype == torch.bfloat16 else t.detach())
        return (a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
                and raw(a).numpy().tobytes() == raw(b).numpy().tobytes())
    return a == b


# ---------------------------------------------------------------------------- (a) random frames

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)


def _splice(parts) -> bytes:
    text, at, cut, insert = parts
    at = min(at, len(text))
    return text[:at] + insert + text[at + cut:]


json_texts = json_values.map(lambda v: json.dumps(v).encode())
headers = st.one_of(
    st.binary(max_size=120),
    json_texts,
    json_values.map(lambda v: json.dumps({"op": "result", "id": 1, "value": v}).encode()),
    st.tuples(json_texts, st.integers(0, 100), st.integers(0, 4), st.binary(max_size=6)).map(_splice),
    st.sampled_from([b"1e999999", b'"\\ud800"', b"NaN", b"\xef\xbb\xbf{}", b'{"a":1,"a":2}', b'{"\\u0000":0}', b"\x00{}"]),
    st.tuples(st.sampled_from([b"1", b"9", b"[", b"{", b" "]), st.integers(4290, 4310)).map(lambda t: t[0] * t[1]),
)


@st.composite
def frames(draw) -> bytes:
    header = draw(headers)
    if draw(st.booleans()):
        return frame(header, draw(st.lists(st.binary(max_size=40), max_size=4)))
    # a buffer section that need not match what the prefix declares
    declared = struct.pack("<IIQ", draw(st.sampled_from([len(header), len(header) + 1, max(0, len(header) - 1)])),
                           draw(st.integers(0, 6)), draw(st.integers(0, 100)))
    return declared + header + draw(st.binary(max_size=100))


def _outcome(reader: FrameReader):
    try:
        got = reader.next()
    except ProtocolError as error:
        return ("error", str(error))
    if got is None:
        return None
    message, buffers = got
    assert type(message) is dict and type(buffers) is list and all(type(b) is bytes for b in buffers)
    return ("frame", json.dumps(message, sort_keys=True), buffers)


@FUZZ
@given(frames(), st.data())
def test_any_bytes_give_a_frame_or_protocol_error_however_they_are_chunked(data, draw):
    with Timer() as timer:
        whole = FrameReader(max_bytes=2**20)
        whole.feed(data)
        expected = _outcome(whole)
    assert timer.elapsed < FAST
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=4)))
    chunked = FrameReader(max_bytes=2**20)
    outcome = None
    for start, end in zip([0, *cuts], [*cuts, len(data)]):
        chunked.feed(data[start:end])
        outcome = _outcome(chunked)
        if outcome is not None:
            break
    assert outcome == expected
    if expected is not None and expected[0] == "frame":
        message = json.loads(expected[1])
        try:
            assert_plain(decode(message.get("value"), expected[2], from_handle=Remote))
        except ProtocolError:
            pass


# ---------------------------------------------------------------------------- plain data

def _arrays(dtypes, shapes=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)):
    return st.sampled_from(sorted(dtypes)).flatmap(lambda dtype: hnp.arrays(np.dtype(dtype), shapes))


def _tensor(pair):
    array, requires_grad = pair
    tensor = torch.from_numpy(array.copy())
    return tensor.requires_grad_(requires_grad) if tensor.is_floating_point() or tensor.is_complex() else tensor


tensors = st.one_of(
    st.tuples(_arrays(["<f4", "<f8", "<f2", "<c8", "<c16", "<i8", "<i4", "<i2", "|i1", "|u1", "|b1"]), st.booleans())
    .map(_tensor),
    st.lists(st.floats(width=32, allow_nan=False), max_size=6).map(lambda v: torch.tensor(v, dtype=torch.bfloat16)),
)
plain_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.builds(lambda bits, sign: sign * (2**bits - 1), st.integers(1, protocol.MAX_INT_BITS), st.sampled_from([1, -1])),
    st.floats(), st.complex_numbers(), st.text(), st.binary(max_size=32),
    _arrays(protocol.NUMPY_DTYPES), _arrays(protocol.NUMPY_DTYPES, shapes=()).map(lambda a: a[()]), tensors,
)


def _plain(leaves):
    return st.recursive(leaves, lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5) | st.integers(-(2**31) + 1, 2**31 - 1), children, max_size=4),
    ), max_leaves=20)


plain_values = _plain(plain_leaves)


# ---------------------------------------------------------------------------- (b) random and mutated trees

buffer_refs = st.one_of(st.integers(-2, 7), st.sampled_from([None, "0", 0.0, True, [0], 2**70]))
numpy_dtypes = st.one_of(st.sampled_from(sorted(protocol.NUMPY_DTYPES)),
                         st.sampled_from(["O", "|O", "|V8", "<U1", "|S8", ">f8", "<M8[ns]", "float64", "", "<f16",
                                          "[('a', '<i4')]", "x" * 100]),
                         st.text(max_size=6), st.integers(), st.none())
torch_dtypes = st.one_of(st.sampled_from(protocol.TORCH_DTYPES),
                         st.sampled_from(["uint16", "object", "torch.float32", "<f4", "float", "qint8"]),
                         st.text(max_size=6), st.none())
shapes = st.one_of(
    st.lists(st.integers(0, 4), max_size=3),
    st.lists(st.sampled_from([0, 1, 2, -1, 2**31, 2**40, 2**62, 2**63, 2**64, 10**30]), max_size=4),
    st.lists(st.integers(0, 2), min_size=33, max_size=40),
    st.sampled_from([None, "2", 3, [1.0], ["2"], [True], [[1]], {"$": "tuple", "v": [1]}]),
)
int_payloads = st.one_of(st.integers().map(lambda n: format(n, "x")), st.text(max_size=8), st.integers(),
                         st.integers(16_380, 16_390).map(lambda n: "f" * n),  # around the limit of 16385
                         st.sampled_from(["0x10", "1_0", " a ", ""]))
float_payloads = st.one_of(st.floats().map(repr), st.text(max_size=8), st.floats(),
                           st.integers(60, 70).map(lambda n: "1" * n),  # around the limit of 64
                           st.sampled_from(["1e999999", "-inf", "nan", "1_0.5", "0x1p3", ""]))
dict_keys = st.one_of(st.text(max_size=4), st.integers(), st.floats(), st.booleans(), st.none(),
                      st.sampled_from([2**31 - 1, -(2**31) + 1, 2**31, -(2**31), {"$": "int", "v": "ff"},
                                       {"$": "tuple", "v": [1]}, [1], {"$": "float", "v": "1.5"}]))


def _tagged(tag: str, **fields):
    """A tagged tree whose fields may each be missing."""
    return st.fixed_dictionaries({"$": st.just(tag)}, optional=fields)


leaf_trees = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
    _tagged("int", v=int_payloads),
    _tagged("float", v=float_payloads),
    _tagged("complex", v=st.one_of(st.lists(float_payloads, max_size=3), float_payloads)),
    _tagged("bytes", b=buffer_refs),
    _tagged("npscalar", dtype=numpy_dtypes, b=buffer_refs),
    _tagged("nd", dtype=numpy_dtypes, shape=shapes, b=buffer_refs),
    _tagged("tensor", dtype=torch_dtypes, shape=shapes, b=buffer_refs,
            requires_grad=st.one_of(st.booleans(), st.none(), st.integers(), st.text(max_size=2))),
    _tagged("handle", id=st.one_of(st.integers(), st.text(max_size=3), st.booleans()),
            type=st.one_of(st.text(max_size=8), st.integers(), st.integers(199, 1000).map(lambda n: "T" * n))),
    st.fixed_dictionaries({"$": st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.none()))}),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)


def _containers(children):
    entries = st.one_of(st.tuples(dict_keys, children).map(list), st.lists(children, max_size=3), children)
    return st.one_of(
        st.lists(children, max_size=5),
        _tagged("tuple", v=st.one_of(st.lists(children, max_size=5), children)),
        _tagged("dict", v=st.one_of(st.lists(entries, max_size=5), children)),
    )


trees = st.recursive(leaf_trees, _containers, max_leaves=25)
buffer_lists = st.lists(st.sampled_from([0, 1, 2, 4, 8, 16, 24, 32, 48, 64]).map(bytes), max_size=6)
junk = st.one_of(leaf_trees, st.sampled_from(["nd", "tensor", "tuple", "dict", "<f8", "float32", 2**31, [[1, 2]]]))


def _slots(tree, found: list) -> list:
    """Every (container, key or index) of a JSON tree, where a mutation can go."""
    if type(tree) in (list, dict):
        found += [(tree, key) for key in (range(len(tree)) if type(tree) is list else list(tree))]
        for child in (tree if type(tree) is list else tree.values()):
            _slots(child, found)
    return found


@st.composite
def mutated_encodings(draw):
    """The tree and buffers of a real value (handles included), with a few fields, elements or buffers spoilt."""
    buffers: list[bytes] = []
    tree = [encode(draw(_plain(plain_leaves | st.builds(Handle, st.integers(), st.text(max_size=5)))), buffers)]
    for _ in range(draw(st.integers(0, 3))):
        slots = _slots(tree, [])
        how = draw(st.sampled_from(["replace", "replace", "delete", "buffer"]))
        if how == "buffer" and buffers:
            buffers[draw(st.integers(0, len(buffers) - 1))] = draw(st.binary(max_size=40))
        elif how == "delete" and len(slots) > 1:
            container, key = draw(st.sampled_from(slots[1:]))
            del container[key]
        else:
            container, key = draw(st.sampled_from(slots))
            container[key] = copy.deepcopy(draw(junk))  # junk may hold shared constants
    return tree[0], buffers


def _decoded_in_time(tree, buffers) -> None:
    with Timer() as timer:
        try:
            value = decode(tree, buffers, from_handle=Remote)
        except ProtocolError:
            value = None
    assert timer.elapsed < FAST
    assert_plain(value)


@FUZZ
@given(trees, buffer_lists)
def test_any_tree_decodes_to_plain_data_or_a_protocol_error(tree, buffers):
    _decoded_in_time(tree, buffers)


@FUZZ
@given(mutated_encodings())
def test_spoilt_encodings_decode_to_plain_data_or_a_protocol_error(encoding):
    _decoded_in_time(*encoding)


@FUZZ
@given(st.one_of(st.tuples(trees, buffer_lists), mutated_encodings()))
def test_any_tree_through_a_frame_decodes_or_raises_protocol_error(encoding):
    try:
        assert_plain(receive(result_frame(*encoding)))
    except ProtocolError:
        pass


# ---------------------------------------------------------------------------- (c) round trips

@FUZZ
@given(plain_values)
def test_plain_data_round_trips_exactly(value):
    buffers: list[bytes] = []
    got = receive(result_frame(encode(value, buffers), buffers))
    assert same(got, value)
    assert_plain(got)


# ---------------------------------------------------------------------------- (d) crafted attacks

def assert_refused_fast(data: bytes, match: str) -> None:
    with Timer() as timer, pytest.raises(ProtocolError, match=match):
        receive(data)
    assert timer.elapsed < FAST, f"refusing took {timer.elapsed:.1f} s"


def _dict_tree(keys) -> dict:
    return {"$": "dict", "v": [[key, 0] for key in keys]}


@pytest.mark.parametrize("name,key", [
    ("int", lambda k: {"$": "int", "v": format(k * P61, "x")}),                          # hash 0
    ("plain JSON int", lambda k: k * P61),                                                # hash 0
    ("complex", lambda k: {"$": "complex", "v": [repr(float(2**52 - 1_000_003 * k)), repr(float(k))]}),  # hash 2**52
    ("tuple", lambda k: {"$": "tuple", "v": [{"$": "int", "v": format(k * P61, "x")}]}),  # one hash for all
    ("float", lambda k: {"$": "float", "v": repr(float(k) * 2.0**61)}),
    ("plain JSON float", lambda k: k + 0.5),
])
def test_dict_keys_with_colliding_hashes_are_refused_fast(name, key):
    keys = [key(k) for k in range(1, 100_001)]
    assert_refused_fast(result_frame(_dict_tree(keys)), "dict keys must be str or small int")


def test_the_colliding_keys_do_collide():
    assert {hash(k * P61) for k in range(1, 1000)} == {0}
    assert len({hash(complex(2**52 - 1_000_003 * k, k)) for k in range(1000)}) == 1
    assert len({hash((k * P61,)) for k in range(1, 1000)}) == 1


def test_many_small_int_keys_whose_low_bits_agree_decode_fast():
    # small ints hash to themselves, so at worst they share the low bits probing starts from
    data = result_frame(_dict_tree((k << 12) - 2**30 for k in range(2**19)))
    with Timer() as timer:
        got = receive(data)
    assert len(got) == 2**19 and timer.elapsed < FAST


def test_a_list_of_ten_million_small_ints_is_refused_fast():
    data = frame(b'{"op":"result","id":1,"value":[' + b",".join([b"0"] * 10**7) + b"]}")
    assert_refused_fast(data, "over the limit")
    with Timer() as timer, pytest.raises(ProtocolError, match="over the limit"):
        decode([0] * 10**7, [])
    assert timer.elapsed < FAST


def test_more_parts_than_max_nodes_is_refused_fast():
    tree = [[0] * 1000 for _ in range(protocol.MAX_NODES // 1000 + 1)]
    with Timer() as timer, pytest.raises(ProtocolError, match=f"more than {protocol.MAX_NODES} parts"):
        decode(tree, [])
    assert timer.elapsed < FAST


def test_a_dict_over_the_container_limit_is_refused_fast():
    assert_refused_fast(result_frame(_dict_tree(range(protocol.MAX_ITEMS + 1))), "a dict of .* items is over the limit")


def test_a_list_of_a_million_floats_still_decodes():
    rng = np.random.default_rng(0)
    value = (rng.standard_normal(10**6) * 10.0 ** rng.integers(-300, 300, 10**6)).tolist()
    buffers: list[bytes] = []
    data = result_frame(encode(value, buffers), buffers)
    assert len(data) < protocol.MAX_HEADER_BYTES
    with Timer() as timer:
        got = receive(data)
    assert got == value and timer.elapsed < FAST


def test_a_ten_megabyte_hex_int_is_refused_fast():
    assert_refused_fast(result_frame({"$": "int", "v": "f" * 10**7}), "over the limit")
    with pytest.raises(ProtocolError, match="over the limit"):
        encode(2**(protocol.MAX_INT_BITS + 1), [])
    assert decode(encode(-(2**protocol.MAX_INT_BITS) + 1, []), []) == -(2**protocol.MAX_INT_BITS) + 1


@pytest.mark.parametrize("tree", [{"$": "float", "v": "1" * 10**6}, {"$": "complex", "v": ["1", "2" * 10**6]}])
def test_long_float_strings_are_refused(tree):
    assert_refused_fast(result_frame(tree), "over the limit")


def test_deep_nesting_is_refused_fast():
    assert_refused_fast(frame(b"[" * 10**6 + b"]" * 10**6), "malformed message header")
    tree: list = []
    for _ in range(100_000):
        tree = [tree]
    with Timer() as timer, pytest.raises(ProtocolError, match="nested deeper"):
        decode(tree, [])
    assert timer.elapsed < FAST


@pytest.mark.parametrize("header", [b"1" * 10**6, b"-" + b"1" * 10**6, b"[" + b"7" * 10**6 + b"]", b"1" * 4301,
                                    b'{"op":"result","id":' + b"9" * 10**6 + b"}", b"1e" + b"9" * 10**6,
                                    b"0." + b"1" * 10**6])
@pytest.mark.parametrize("int_digits_limit", [None, 0])
def test_a_header_with_a_million_digit_number_is_refused_fast(header, int_digits_limit):
    saved = sys.get_int_max_str_digits()
    if int_digits_limit is not None:  # the interpreter's own limit lifted: the reader must not depend on it
        sys.set_int_max_str_digits(int_digits_limit)
    try:
        assert_refused_fast(frame(header), "malformed message header|JSON object")
    finally:
        sys.set_int_max_str_digits(saved)


def test_headers_over_the_limit_are_refused_from_the_prefix():
    reader = FrameReader(max_bytes=2**40)
    reader.feed(struct.pack("<IIQ", protocol.MAX_HEADER_BYTES + 1, 0, 0))
    with pytest.raises(ProtocolError, match="message header of"):
        reader.next()


def test_a_deadline_already_passed_stops_decoding():
    with pytest.raises(DecodeTimeout, match="took longer than the call's time limit"):
        decode([1, 2], [], deadline=time.monotonic() - 1)
    assert issubclass(DecodeTimeout, ProtocolError)


def test_a_deadline_that_passes_while_decoding_stops_it():
    tree = [{"$": "tuple", "v": [i]} for i in range(200_000)]
    with Timer() as timer, pytest.raises(DecodeTimeout):
        decode(tree, [], deadline=time.monotonic() + 0.01)
    assert timer.elapsed < FAST
    assert len(decode(tree, [], deadline=time.monotonic() + 600)) == 200_000


@pytest.mark.parametrize("shape", [[0, 2**62], [0, 2**63], [0, 2**64], [0, 10**30], [2**31] * 3, [0, 2**40, 2**40],
                                   [0] + [2**20] * 3])
@pytest.mark.parametrize("tag", ["nd", "tensor"])
def test_absurd_shapes_are_a_protocol_error(shape, tag):
    dtype = "<f8" if tag == "nd" else "float64"
    with pytest.raises(ProtocolError, match="shape"):
        decode({"$": tag, "dtype": dtype, "shape": shape, "b": 0}, [b""])


def test_a_huge_zero_size_shape_within_the_limit_is_fine():
    got = decode({"$": "nd", "dtype": "<f8", "shape": [0, protocol.MAX_ARRAY_ELEMENTS], "b": 0}, [b""])
    assert got.shape == (0, protocol.MAX_ARRAY_ELEMENTS)


def test_a_buffer_used_by_two_values_is_refused():
    # one large buffer referred to over and over would make each reference a fresh copy of it
    tree = [{"$": "nd", "dtype": "|u1", "shape": [2**20], "b": 0}] * 1000
    with Timer() as timer, pytest.raises(ProtocolError, match="used by two values"):
        decode(tree, [bytes(2**20)])
    assert timer.elapsed < FAST
    with pytest.raises(ProtocolError, match="used by two values"):
        decode([{"$": "bytes", "b": 0}, {"$": "npscalar", "dtype": "|u1", "b": 0}], [b"x"])


@pytest.mark.parametrize("tag", ["x" * 10**6, ["x"] * 10**6])
def test_error_messages_do_not_echo_huge_fields(tag):
    for tree in ({"$": tag}, {"$": "nd", "dtype": tag, "shape": [1], "b": 0}, {"$": "nd", "dtype": "<f8", "shape": tag}):
        with pytest.raises(ProtocolError) as info:
            decode(tree, [bytes(8)])
        assert len(str(info.value)) < 300
