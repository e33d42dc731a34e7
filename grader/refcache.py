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
    """Results by call, bounded in bytes and entries; `added` holds what this process learnt (to hand to its parent).

    The tests may call the reference with what the submission returned, so a student's data can key
    entries: none may exceed `entry_bytes`, one grading may add at most `learn_bytes` and `learn_entries`,
    and the whole cache at most `limit_bytes` and `limit_entries`. A result past a bound is simply not
    kept (the reference computes it again when asked), so no grading's cost reaches the next one's. And a
    parent keeps only what two gradings learnt (the seeded tests' calls, which every grading makes), so
    calls keyed by one student's data never fill the batch's cache and crowd out the common ones.
    """

    def __init__(self, limit_bytes: int = 256 * 2**20, limit_entries: int = 20_000, entry_bytes: int = 4 * 2**20,
                 learn_bytes: int = 32 * 2**20, learn_entries: int = 2_000):
        self.entries: dict[str, object] = {}
        self.added: dict[str, object] = {}
        self.limit, self.size = limit_bytes, 0
        self.limit_entries, self.entry_bytes = limit_entries, entry_bytes
        self.learn_bytes, self.learn_entries, self.learnt = learn_bytes, learn_entries, 0
        self.seen_once: set[str] = set()  # keys one child learnt, kept once another learns them too

    def get(self, key: str):
        return copy.deepcopy(self.entries[key]) if key in self.entries else _MISSING

    def put(self, key: str, value, size: int) -> None:
        """Keep what the reference answered here, within the bounds."""
        if size > self.entry_bytes or self.learnt + size > self.learn_bytes or len(self.added) >= self.learn_entries:
            return
        if self._keep(key, copy.deepcopy(value), size):
            self.added[key] = self.entries[key]
            self.learnt += size

    def learn_afresh(self) -> None:
        """Start a grading: what it learns from now on is its own, to send back (the rest came from the parent)."""
        self.added, self.learnt = {}, 0

    def merge(self, entries: dict[str, object]) -> None:
        """Take in what a child learnt: the answers to calls that an earlier child learnt too."""
        for key, value in entries.items():
            if key in self.entries:
                continue
            if key not in self.seen_once:
                if len(self.seen_once) < 10 * self.limit_entries:
                    self.seen_once.add(key)
                continue
            size = _size(value)
            if size <= self.entry_bytes:
                self._keep(key, value, size)

    def _keep(self, key: str, value, size: int) -> bool:
        if self.size + size > self.limit or len(self.entries) >= self.limit_entries:
            return False
        self.entries[key] = value
        self.size += size
        return True


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
