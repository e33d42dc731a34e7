"""Reference results computed once per batch.

The tests are seeded, so every student's grading calls the reference with the same arguments. A
grading job keeps what the reference returned, per function name and arguments, and answers the
same call from there: the reference's sandbox then need not start at all. Only plain results of
module-level functions are kept (never a call that returns or takes an object living in the
sandbox, never an in-place call whose arguments come back, never a timed call, which goes through
`Side.timed`), and each answer is a fresh copy.
"""

from __future__ import annotations

import copy
import hashlib
import json

from grader.proxy import RemoteObject, Side

_MISSING = object()


class ReferenceCache:
    """Results by call, bounded in bytes; `added` holds what this process learnt (to hand to its parent)."""

    def __init__(self, limit_bytes: int = 256 * 2**20):
        self.entries: dict[str, object] = {}
        self.added: dict[str, object] = {}
        self.limit, self.size = limit_bytes, 0

    def get(self, key: str):
        return copy.deepcopy(self.entries[key]) if key in self.entries else _MISSING

    def put(self, key: str, value, size: int) -> None:
        if self.size + size <= self.limit:
            self.entries[key] = self.added[key] = copy.deepcopy(value)
            self.size += size

    def merge(self, entries: dict[str, object]) -> None:
        """Take in what a child learnt."""
        for key, value in entries.items():
            if key not in self.entries:
                self.put(key, value, _size(value))


class CachedSide(Side):
    """The reference's side, answering repeated calls of module-level functions from a ReferenceCache."""

    def __init__(self, *args, cache: ReferenceCache, **kwargs):
        super().__init__(*args, **kwargs)
        self.cache = cache

    def call(self, target, args=(), kwargs=None, timeout: float | None = None, echo: bool = False):
        if echo or not isinstance(target, str) or _holds_remote([args, kwargs]):
            return super().call(target, args, kwargs, timeout, echo)
        tree, buffers = self._encode_args([list(args), dict(kwargs or {})])
        digest = hashlib.sha256(json.dumps([target, tree], sort_keys=True, default=repr).encode())
        for buffer in buffers:
            digest.update(len(buffer).to_bytes(8, "little") + bytes(buffer))
        key = digest.hexdigest()
        value = self.cache.get(key)
        if value is _MISSING:
            value = super().call(target, args, kwargs, timeout)
            if not _holds_remote(value):
                self.cache.put(key, value, _size(value))
        return value


def _holds_remote(value) -> bool:
    if isinstance(value, RemoteObject):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_remote(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_remote(v) for v in value.values())
    return False


def _size(value) -> int:
    """Roughly how many bytes a plain value holds."""
    if isinstance(value, (list, tuple)):
        return 64 + sum(_size(v) for v in value)
    if isinstance(value, dict):
        return 64 + sum(_size(k) + _size(v) for k, v in value.items())
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return 128 + nbytes
    if hasattr(value, "element_size") and hasattr(value, "numel"):
        return 128 + value.element_size() * value.numel()
    return 64 + len(value) if isinstance(value, (str, bytes)) else 64
