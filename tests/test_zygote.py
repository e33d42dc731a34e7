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
from grader.sandbox.launch import Template, Zygote, _code_paths, detect

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

def hold_terminal():
    """A pseudo-terminal kept open (any process may open one)."""
    global _terminal
    _terminal = os.openpty()
    return os.ttyname(_terminal[1])

def terminals():
    return sorted(name for name in os.listdir("/dev/pts") if name != "ptmx")

def mount_past_limits():
    """A user namespace of its own, where the sandbox's user is root, and a tmpfs far over `disk_mb` in it."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    uid = os.getuid()
    libc.prctl(4, 1)  # PR_SET_DUMPABLE: else /proc/self/uid_map stays root's
    if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
        return "no user namespace"
    with open("/proc/self/setgroups", "w") as setgroups:
        setgroups.write("deny")
    with open("/proc/self/uid_map", "w") as uid_map:
        uid_map.write(f"0 {uid} 1")
    if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=4g") != 0:
        return "no mount"
    return os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize

def torch_from_memory():
    """The forbidden package's modules found among the live objects, put back, and used."""
    import gc, sys
    gc.unfreeze()
    for found in gc.get_objects():
        if type(found) is type(sys) and found.__name__.split(".")[0] == "torch":
            sys.modules.setdefault(found.__name__, found)
    sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__name__ != "_ForbiddenFinder"]
    try:
        import torch
    except ImportError:
        return None
    return float(torch.tensor([1.0, 2.0]).sum()) if hasattr(torch, "tensor") else None  # else the masked, empty one

def imports_torch():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False
'''


# The grader's own code, where it lies under /tmp (a checkout there), is bound again over each sandbox's /tmp,
# read-only, as a sandbox started cold shows it too: the only thing of the host a sandbox's /tmp may hold.
CODE_UNDER_TMP = sorted({Path(path).relative_to("/tmp").parts[0] for path in _code_paths() if path.startswith("/tmp/")})


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
        assert seen["/tmp"] == CODE_UNDER_TMP and seen["/home/student"] == seen["/dev/shm"] == [], seen
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
        assert seen["/tmp"] == CODE_UNDER_TMP and seen["/dev/shm"] == [] and seen["memory"] == [], seen
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


def test_two_sandboxes_at_once_share_no_terminals(zygote):
    """Each sandbox forked from a zygote mounts a devpts of its own: a pseudo-terminal one sandbox opens does not
    show in another's /dev/pts (before, they shared the zygote's: a channel between sandboxes, and one pool of
    terminals for all of them)."""
    isolation = detect()
    first, second = sandbox(zygote, isolation), sandbox(zygote, isolation)
    try:
        assert first.call("hold_terminal").startswith("/dev/pts/")
        assert second.call("terminals") == [], "one sandbox's terminal showed in another's /dev/pts"
    finally:
        first.close()
        second.close()


def test_a_sandbox_cannot_mount_a_file_system_past_its_limits(zygote):
    """No user namespace for the sandbox's user (a seccomp filter, set where the grader is root and bubblewrap's
    --disable-userns does not apply). Before: it made one, was root in it, and mounted a tmpfs of any size, its
    files held in memory past the `disk_mb` and `files` limits, where one submission could take the machine's
    memory from the others of a batch."""
    side = sandbox(zygote, detect())
    try:
        assert side.call("mount_past_limits") == "no user namespace"
    finally:
        side.close()


def test_a_forbidden_package_a_preloaded_module_imports_is_not_in_the_sandbox():
    """A preload entry of a forbidden package (`torch.nn` where torch is forbidden) is not preloaded, and a zygote
    whose preloads brought a forbidden package in says it cannot serve: the package is never in a sandbox's
    memory, where a submission could find it among the live objects and use it although `import torch` is
    refused. (Before: the zygote preloaded torch.nn, and the sandbox put torch back and used it.)"""
    config = {**CONFIG, "preload": ["numpy", "torch.nn"]}
    zygote = Zygote(config)
    try:
        template = Template(Path(tempfile.mkdtemp(prefix="zygote-test-")), [{"label": "student.py", "source": STUDENT}],
                            config, detect(), zygote)
        assert template.zygote is zygote
        side = Side("submission", lambda: template, {"as_main": False}, call_timeout=60)
        side.template = template
        try:
            assert side.call("imports_torch") is False
            assert side.call("torch_from_memory") is None, "the forbidden package was usable from the zygote's memory"
        finally:
            side.close()
    finally:
        zygote.close()
