"""The processes of one sandbox, as a group the trusted side controls from outside.

The grader needs four things of a sandbox's processes, none of which may depend on code
inside the sandbox: stop them all (while the other side is timed), know how much CPU they
used (to verify they really were stopped), bound how many there are, and kill every one of
them when grading ends. Where the grader may create control groups it uses one group per
sandbox: cgroup v2 (`cgroup.freeze`, `cpu.stat`, `pids.max`) or the v1 freezer, cpuacct and
pids controllers. A frozen group cannot run whatever signals it receives (a kernel timer
that sends SIGCONT wakes nothing). Elsewhere it falls back to signals and /proc: the
processes of the sandbox's own user (or, without one, the template's descendants) are
stopped with SIGSTOP and their CPU time is read from /proc/<pid>/stat, which shows, rather
than prevents, a process that continued itself.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("freezer", "cpuacct", "pids")
_TICKS = os.sysconf("SC_CLK_TCK")


@functools.lru_cache(maxsize=None)
def cgroup_version() -> int | None:
    """1 or 2 where the grader may create control groups here (v1: freezer, cpuacct and pids); None elsewhere.
    GRADER_CGROUP=v1, v2 or none chooses (a machine with both, such as systemd's hybrid layout, runs the tests
    under each)."""
    forced = os.environ.get("GRADER_CGROUP", "")
    if forced != "none" and forced != "v2" and all(_can_create(CGROUP_ROOT / c) for c in V1_CONTROLLERS):
        return 1
    if forced != "none" and forced != "v1" and _v2_root() is not None and _can_create(v2_parent()):
        return 2
    return None


def _v2_root() -> Path | None:
    """The cgroup v2 tree: /sys/fs/cgroup itself, or /sys/fs/cgroup/unified beside v1's controllers (hybrid)."""
    return next((root for root in (CGROUP_ROOT, CGROUP_ROOT / "unified") if (root / "cgroup.controllers").exists()),
                None)


def v2_parent() -> Path:
    """Where this grader's v2 groups go: a folder of its own in the v2 tree, so controllers can be enabled."""
    return (_v2_root() or CGROUP_ROOT) / "grader"


def _can_create(parent: Path) -> bool:
    probe = parent / f"grader-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        parent.mkdir(exist_ok=True)
        if parent == v2_parent():  # pids and cpu where the tree has them (a hybrid tree may have neither)
            _write(parent.parent / "cgroup.subtree_control", "+pids +cpu", quiet=True)
            _write(parent / "cgroup.subtree_control", "+pids +cpu", quiet=True)
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def _write(path: Path, text: str, quiet: bool = False) -> None:
    try:
        path.write_text(text)
    except OSError:
        if not quiet:
            raise


def for_sandbox(uid: int | None) -> "Group":
    """A fresh group for one sandbox: a control group where possible, else signals and /proc."""
    version = cgroup_version()
    if version is not None:
        try:
            return ControlGroup(version)
        except OSError:
            pass
    return SignalGroup(uid)


class Group:
    """What the trusted side can do to every process of one sandbox."""

    kind = "none"

    def enter(self) -> None:
        """Run in the child before it executes the sandbox (preexec_fn): join the group."""

    def attach(self, root_pid: int) -> None:
        """Tell the group the host pid of the sandbox's first process."""

    def adopt(self, pid: int) -> None:
        """Put a running process that has started nothing yet in the group, as the sandbox's first process."""
        self.attach(pid)

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU time used by the group's processes so far."""
        raise NotImplementedError

    def count(self) -> int:
        """Tasks (threads) now in the group."""
        raise NotImplementedError

    def pids(self) -> list[int]:
        """Host pids of the group's processes now."""
        raise NotImplementedError

    def limit_tasks(self, limit: int) -> None:
        """Bound the tasks of the group, where the kernel can (else the worker's RLIMIT_NPROC bounds them)."""

    def kill_all(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Kill every process of the group and remove it; never raises."""


class ControlGroup(Group):
    """One control group per sandbox (v1: in the freezer, cpuacct and pids hierarchies; v2: one folder)."""

    def __init__(self, version: int):
        self.version = version
        self.kind = f"cgroup v{version}"
        name = f"grader-{os.getpid()}-{secrets.token_hex(6)}"
        if version == 1:
            self.dirs = {c: CGROUP_ROOT / c / "grader" / name for c in V1_CONTROLLERS}
        else:
            self.dirs = dict.fromkeys(V1_CONTROLLERS, v2_parent() / name)
        self.made: list[Path] = []
        for folder in dict.fromkeys(self.dirs.values()):
            folder.mkdir(parents=True)
            self.made.append(folder)
        self._procs = [f / "cgroup.procs" for f in dict.fromkeys(self.dirs.values())]

    def enter(self) -> None:
        self.adopt(os.getpid())

    def adopt(self, pid: int) -> None:
        for procs in self._procs:
            with open(procs, "w") as handle:
                handle.write(str(pid))

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def _set_frozen(self, frozen: bool, timeout: float = 2.0) -> None:
        """Freeze or thaw, and wait (briefly) until the kernel says it is done."""
        if self.version == 1:
            state = self.dirs["freezer"] / "freezer.state"
            _write(state, "FROZEN" if frozen else "THAWED")
            done = lambda: state.read_text().strip() == ("FROZEN" if frozen else "THAWED")  # noqa: E731
        else:
            _write(self.dirs["freezer"] / "cgroup.freeze", "1" if frozen else "0")
            events = self.dirs["freezer"] / "cgroup.events"
            done = lambda: f"frozen {int(frozen)}" in events.read_text()  # noqa: E731
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.001)

    def cpu_seconds(self) -> float:
        if self.version == 1:
            return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
        stat = dict(line.split() for line in (self.dirs["cpuacct"] / "cpu.stat").read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6

    def count(self) -> int:
        current = self.dirs["pids"] / "pids.current"
        if current.exists():
            return int(current.read_text())
        return sum(len(list((Path("/proc") / str(pid) / "task").iterdir())) for pid in self.pids())

    def limit_tasks(self, limit: int) -> None:
        _write(self.dirs["pids"] / "pids.max", str(limit), quiet=self.version == 2)

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self._procs[0].read_text().split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        """Kill every process of the group (v2's cgroup.kill where the kernel has it, else freeze, kill each
        process, thaw so that the kills land), until the group is empty."""
        kill = self.dirs["freezer"] / "cgroup.kill"
        for pause in _pauses():
            pids = self.pids()
            if not pids:
                return
            if self.version == 2 and kill.exists():
                _write(kill, "1")
            else:
                self.freeze()
                for pid in pids:
                    _kill(pid, signal.SIGKILL)
                self.thaw()
            time.sleep(pause)

    def close(self) -> None:
        try:
            self.kill_all()
        except OSError:
            pass
        for folder in reversed(self.made):
            for pause in _pauses(100):  # the kernel removes a group once its last task is gone
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(pause)


class SignalGroup(Group):
    """Without control groups: the processes of the sandbox's own user (or the template's descendants), by signals."""

    kind = "signals"

    def __init__(self, uid: int | None):
        self.uid = uid
        self.root_pid: int | None = None

    def attach(self, root_pid: int) -> None:
        self.root_pid = root_pid

    def pids(self) -> list[int]:
        """The sandbox's processes now: every process of its user, or the template and its descendants."""
        table = _process_table()
        if self.uid is not None:
            return [pid for pid, (_, uid) in table.items() if uid == self.uid]
        if self.root_pid is None:
            return []
        members, frontier = {self.root_pid}, [self.root_pid]
        while frontier:
            parent = frontier.pop()
            for pid, (ppid, _) in table.items():
                if ppid == parent and pid not in members:
                    members.add(pid)
                    frontier.append(pid)
        return sorted(members & set(table))

    def freeze(self) -> None:
        self._signal_until_stable(signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.pids():
            _kill(pid, signal.SIGCONT)

    def _signal_until_stable(self, signum: int) -> None:
        signalled: set[int] = set()
        for _ in range(20):  # a process may fork while we go: again until no new one appears
            pids = set(self.pids()) - signalled
            if not pids:
                return
            for pid in pids:
                _kill(pid, signum)
            signalled |= pids

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        return total / _TICKS

    def count(self) -> int:
        return len(self.pids())

    def kill_all(self) -> None:
        for _ in range(20):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                _kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def close(self) -> None:
        try:
            if self.uid is not None:  # a user of its own: whatever runs as it now is what the sandbox left
                self.kill_all()
        except OSError:
            pass


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, real uid) of every process on the host."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(line.split(":", 1) for line in status if line.startswith(("PPid", "Uid")))
            table[int(entry)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
        except (OSError, KeyError, ValueError):
            continue
    return table


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _pauses(count: int = 50):
    """`count` waits between polls of the kernel: 1 ms at first (it is usually done by then), up to 10 ms."""
    for attempt in range(count):
        yield min(0.001 * 2**attempt, 0.01)
