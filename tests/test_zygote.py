"""The zygote: sandboxes forked from one warm process see nothing of one another.

Each test starts real sandboxes from a real zygote (bubblewrap, as root) and runs code in them through the
same proxy the tests of an assignment use."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import TINY_SOLUTION, TINY_TESTS, make_assignment
from grader.proxy import Side
from grader.runner import grade
from grader.sandbox.launch import Template, Zygote, detect

pytestmark = pytest.mark.skipif(not Zygote.available(detect()),
                                reason="a zygote needs bubblewrap and a grader running as root")

CONFIG = {"preload": ["numpy"], "forbidden": ["torch"],
          "limits": {"memory_mb": 512, "cpu_seconds": 60, "file_size_mb": 8, "processes": 16, "disk_mb": 16,
                     "files": 500}}

STUDENT = r'''
import os, re, secrets, socket, subprocess

SECRET = ("zygote-secret-" + "".join(str(secrets.randbelow(10)) for _ in range(24))).encode()
_kept = [SECRET * 3]

def leave_traces():
    """Files in every writable place, a process left running, an abstract socket listening."""
    for folder in ("/tmp", "/home/student", "/dev/shm"):
        with open(os.path.join(folder, "left-behind"), "wb") as handle:
            handle.write(SECRET)
    global _listener, _sleeper
    _listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _listener.bind("\0grader-zygote-test")
    _listener.listen()
    _sleeper = subprocess.Popen(["sleep", "300"])
    return os.getpid()

def look_around():
    """What this sandbox can see of any other."""
    found = {folder: sorted(os.listdir(folder)) for folder in ("/tmp", "/home/student", "/dev/shm")}
    found["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    found["own"] = [os.getpid(), os.getppid()]
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect("\0grader-zygote-test")
        found["socket"] = "connected"
    except OSError:
        found["socket"] = "refused"
    found["memory"] = _memory_holds(rb"zygote-secret-[0-9]{24}")
    found["own_secret"] = SECRET.decode()
    return found

def _memory_holds(pattern):
    """The other sandbox's secrets found in any readable page of this process (its own left out)."""
    import ctypes
    ctypes.CDLL(None).prctl(4, 1)  # PR_SET_DUMPABLE: a process that changed its user must ask to read its own memory
    hits = set()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as memory:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                memory.seek(start)
                chunk = memory.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            hits.update(m.decode() for m in re.findall(pattern, chunk))
    return sorted(hits - {SECRET.decode()})

def try_to_escape():
    """Root's tools, from the sandbox's own user: each must fail."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    outcomes = {"umount /grader": libc.umount2(b"/grader", 2), "mount tmpfs": libc.mount(b"t", b"/home", b"tmpfs", 0, None),
                "setuid 0": libc.setuid(0), "unshare mount": libc.unshare(0x00020000)}
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    held = {what: status[what].strip() for what in ("CapEff", "CapPrm", "CapAmb") if int(status[what], 16)}
    if status["NoNewPrivs"].strip() != "1":
        held["NoNewPrivs"] = status["NoNewPrivs"].strip()
    return {**{what: result for what, result in outcomes.items() if result == 0}, **held}

def imports_torch():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False
'''


@pytest.fixture
def zygote():
    started = Zygote(CONFIG)
    yield started
    started.close()


def sandbox(zygote: Zygote, isolation) -> Side:
    files = Path(tempfile.mkdtemp(prefix="zygote-test-"))
    template = Template(files, [{"label": "student.py", "source": STUDENT}], CONFIG, isolation, zygote)
    assert template.zygote is zygote, "the sandbox was not forked from the zygote"
    side = Side("submission", lambda: template, {"as_main": False}, call_timeout=60)
    side.template = template
    return side


def test_a_sandbox_sees_nothing_of_the_one_before_it(zygote):
    isolation = detect()
    first = sandbox(zygote, isolation)
    first.call("leave_traces")
    first_secret = first.call("look_around")["own_secret"]
    first_processes = first.template.group.pids()
    first.close()
    second = sandbox(zygote, isolation)
    try:
        seen = second.call("look_around")
        assert seen["/tmp"] == seen["/home/student"] == seen["/dev/shm"] == [], seen
        assert set(seen["processes"]) <= {1, *seen["own"]}, seen["processes"]  # its own template and worker
        assert seen["memory"] == [] and first_secret != seen["own_secret"], seen["memory"]
        assert not set(first_processes) & set(second.template.group.pids())
    finally:
        second.close()


def test_two_sandboxes_at_once_cannot_reach_each_other(zygote):
    isolation = detect()
    first, second = sandbox(zygote, isolation), sandbox(zygote, isolation)
    try:
        first_pid = first.call("leave_traces")
        seen = second.call("look_around")
        assert seen["socket"] == "refused", "an abstract socket of one sandbox was reachable from another"
        assert seen["/tmp"] == seen["/dev/shm"] == [] and seen["memory"] == [], seen
        assert first_pid in (1, 2) and set(seen["processes"]) <= {1, *seen["own"]}, seen["processes"]
        assert first.template.uid != second.template.uid
    finally:
        first.close()
        second.close()


def test_a_sandbox_cannot_undo_its_own_walls(zygote):
    """No capability left (effective, permitted or ambient), no new privileges, and root's tools fail."""
    side = sandbox(zygote, detect())
    try:
        assert side.call("try_to_escape") == {}
        assert side.call("imports_torch") is False  # the forbidden package is masked, as in a plain sandbox
    finally:
        side.close()


def test_a_grading_forks_both_sides_from_one_zygote(tmp_path, monkeypatch):
    """A single call grades through a zygote of its own: the reference and the submission forked from it."""
    forked = []
    original = Zygote.fork

    def counting(self, meta, config, *rest):
        forked.append(config["forbidden"])
        return original(self, meta, config, *rest)

    monkeypatch.setattr(Zygote, "fork", counting)
    tests = TINY_TESTS.replace("def test_work(submission):\n", "def test_work(submission, reference):\n"
                               "    assert reference.work() is True\n")
    assignment = make_assignment(tmp_path / "course", tests, TINY_SOLUTION, forbidden=["torch"])
    (tmp_path / "tiny.py").write_text(TINY_SOLUTION)
    result = grade(assignment, tmp_path / "tiny.py")
    assert result.score == result.max_score == 2, [t.message for t in result.tests]
    assert sorted(forked) == [[], ["torch"]]  # the reference's sandbox, then the submission's (torch masked)


def test_a_dead_zygote_leaves_sandboxes_to_start_afresh(zygote):
    """A zygote that died (killed, out of memory) serves no more sandboxes: each starts cold, and works."""
    zygote.process.kill()
    zygote.process.wait()
    files = Path(tempfile.mkdtemp(prefix="zygote-test-"))
    template = Template(files, [{"label": "student.py", "source": STUDENT}], CONFIG, detect(), zygote)
    side = Side("submission", lambda: template, {"as_main": False}, call_timeout=60)
    side.template = template
    try:
        assert template.zygote is None and side.call("imports_torch") is False
    finally:
        side.close()


def test_a_zygote_that_cannot_build_namespaces_leaves_its_sandboxes_to_start_cold(zygote):
    """A zygote says whether it can build a sandbox's namespaces (a container may allow bubblewrap and refuse
    namespaces nested in it): a template meant to be forked from one that cannot starts cold, and works."""
    files = Path(tempfile.mkdtemp(prefix="zygote-test-"))
    template = Template(files, [{"label": "student.py", "source": STUDENT}], CONFIG, detect(), zygote)
    assert template.zygote is zygote and zygote.ready() is True  # this machine can
    zygote.usable = False  # as the zygote's own check answers where it cannot
    side = Side("submission", lambda: template, {"as_main": False}, call_timeout=60)
    side.template = template
    try:
        assert side.call("imports_torch") is False and side.call("try_to_escape") == {}
        assert isinstance(template.process, subprocess.Popen)  # bubblewrap started it, not the zygote
    finally:
        side.close()
