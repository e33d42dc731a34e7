"""Leave nothing behind: each batch keeps its temporary files in a run folder of its own, and the next
batch reclaims the run folders and control groups of graders that were killed (even by SIGKILL).

A run folder `grader-run-<pid>-*` in the temporary folder holds a lock file its batch holds while it
lives; a run folder whose lock is free belongs to a dead batch: its mounts are detached and it is
removed. A sandbox's control group is named after the grading process that made it
(`grader-<pid>-*`); one whose process is gone has its processes killed and is removed.
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import time
from pathlib import Path

from grader.sandbox import groups
from grader.sandbox.space import remove_tree, unmount_below

RUN_PREFIX = "grader-run-"
_LOCK = "run.lock"


class RunFolder:
    """The batch's own temporary folder (its graders get it as TMPDIR), locked while the batch lives."""

    def __enter__(self) -> "RunFolder":
        reclaim()
        self.path = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-"))
        self.lock = os.open(self.path / _LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        unmount_below(self.path)
        remove_tree(self.path)
        os.close(self.lock)


def reclaim(base: Path | None = None) -> None:
    """Remove the run folders and control groups of batches and graders that are no longer alive; never raises."""
    base = Path(base or tempfile.gettempdir())
    for folder in base.glob(f"{RUN_PREFIX}*"):
        if folder.is_dir() and not folder.is_symlink() and _abandoned(folder):
            unmount_below(folder)
            remove_tree(folder)
    for group in _control_groups():
        if not _alive(_owner(group.name)):
            _remove_group(group)


def _abandoned(folder: Path) -> bool:
    try:
        lock = os.open(folder / _LOCK, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return not _alive(_owner(folder.name[len(RUN_PREFIX) - 1:]))  # made, but killed before its lock
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(lock)


def _owner(name: str) -> int | None:
    """The pid in a name such as grader-1234-ab12cd."""
    parts = name.split("-")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True  # not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _control_groups() -> list[Path]:
    version = groups.cgroup_version()
    if version == 1:
        parents = [groups.CGROUP_ROOT / c / "grader" for c in groups.V1_CONTROLLERS]
    elif version == 2:
        parents = [groups.v2_parent()]
    else:
        return []
    return [g for parent in parents if parent.is_dir() for g in parent.glob("grader-*") if g.is_dir()]


def _remove_group(group: Path) -> None:
    """Thaw the group (a killed grader may have left it frozen), kill its processes, remove it."""
    for name, thawed in (("cgroup.freeze", "0"), ("freezer.state", "THAWED")):
        try:
            (group / name).write_text(thawed)
        except OSError:
            pass
    for _ in range(50):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.02)
