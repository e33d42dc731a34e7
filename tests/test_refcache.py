"""The reference's results, computed once per batch: only plain results of the same call are reused."""

from __future__ import annotations

import numpy as np

from grader.proxy import Proxy, RemoteObject
from grader.refcache import CachedSide, ReferenceCache
from grader.sandbox.launch import Template, detect

from conftest import SIDE_LIMITS

SOURCE = """
import numpy as np
calls = []

def count(x):
    calls.append(x)
    return len(calls)

def scaled(a, by=1.0):
    calls.append(by)
    return a * by

class Box:
    def __init__(self):
        self.n = 0
    def bump(self):
        self.n += 1
        return self.n

def box():
    return Box()

def fill(a):
    a[:] = 7
"""


def reference(tmp_path, cache: ReferenceCache) -> CachedSide:
    folder = tmp_path / f"side{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    config = {"preload": ["numpy"], "limits": SIDE_LIMITS, "forbidden": []}
    return CachedSide("reference", lambda: Template(folder, [{"label": "ref.py", "source": SOURCE}], config, detect()),
                      {}, call_timeout=30, cache=cache)


def test_the_same_call_is_answered_once_and_other_calls_go_to_the_sandbox(tmp_path):
    cache = ReferenceCache()
    side = reference(tmp_path, cache)
    try:
        ref = Proxy(side)
        assert ref.count(1) == 1 and ref.count(1) == 1  # the same call: answered from the cache
        assert ref.count(2) == 2  # other arguments: computed
        first = ref.scaled(np.arange(3.0), by=2.0)
        first[0] = 99  # a caller that changes what it got changes no later answer
        assert ref.scaled(np.arange(3.0), by=2.0).tolist() == [0.0, 2.0, 4.0]
        assert ref.scaled(np.arange(3.0), by=3.0).tolist() == [0.0, 3.0, 6.0]
        made = ref.box()
        assert isinstance(made, RemoteObject) and made.bump() == 1 and made.bump() == 2  # objects: never reused
        assert ref.box() is not made
        result, args, _ = ref.fill.call_reporting_arguments(np.zeros(2))
        assert args[0].tolist() == [7, 7]  # in-place calls: computed, with their arguments
    finally:
        side.close()
    following = reference(tmp_path, cache)  # the next student's grading, in a sandbox of its own
    try:
        assert Proxy(following).count(1) == 1 and Proxy(following).scaled(np.arange(3.0), by=2.0)[2] == 4.0
        assert following.template is None  # every call was known: its sandbox never started
    finally:
        following.close()


def test_calls_one_grading_keys_never_crowd_out_the_common_ones():
    """A parent keeps only answers that two children learnt: students who fill their own gradings' caches with
    calls keyed by their data (as many and as large as a grading may add) leave room for every common call.
    Before: twenty such students filled the batch's cache, and the common calls learnt after them were lost."""
    parent = ReferenceCache()
    for student in range(20):
        child = ReferenceCache()
        child.learn_afresh()
        for call in range(2_000):
            child.put(f"student {student} call {call}", np.zeros(1_000), 8_128)
        assert child.learnt <= child.learn_bytes and len(child.added) <= child.learn_entries
        parent.merge(child.added)
    assert parent.entries == {}
    for _ in range(2):  # two students' gradings make the seeded tests' call
        child = ReferenceCache()
        child.put("the seeded test's call", np.arange(3.0), 152)
        parent.merge(child.added)
    assert parent.get("the seeded test's call").tolist() == [0.0, 1.0, 2.0]


def test_one_answer_past_a_bound_is_not_kept_and_costs_nothing_later():
    cache = ReferenceCache()
    cache.put("80 MB", np.zeros(10_000_000), 80_000_128)
    assert cache.added == {} and cache.size == 0
