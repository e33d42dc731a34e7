"""A sandbox's writable space, bounded, and removal of whatever it holds that never fails.

Where the grader may mount (it runs as root), each sandbox gets a tmpfs of its own, bounded
in bytes (`size`) and in files (`nr_inodes`), holding its work folder and its /tmp; a write
past either bound fails in the student's code with "No space left on device", and grading
ends by unmounting it, whatever the student left there. Where it may not, bubblewrap gives
the sandbox size-limited tmpfs mounts of its own (bounded in bytes; the number of files is
bounded only by the kernel's default for a tmpfs) that vanish with it; without either, the
space is a plain folder, unbounded, and the result says so.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
import tempfile
from pathlib import Path

_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2


@functools.lru_cache(maxsize=None)
def _libc():
    """The C library this Python runs on (ctypes.util.find_library would run `ldconfig -p`, 45 ms of CPU)."""
    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(target: Path, size_mb: int, files: int) -> bool:
    options = f"size={size_mb}m,nr_inodes={files},mode=0755".encode()
    return _libc().mount(b"tmpfs", bytes(target), b"tmpfs", _MS_NOSUID | _MS_NODEV, options) == 0


def _unmount(target: Path) -> None:
    _libc().umount2(bytes(target), _MNT_DETACH)


@functools.lru_cache(maxsize=None)
def can_mount() -> bool:
    """Whether this grader may mount a tmpfs of its own (root, outside a restricted container)."""
    if os.geteuid() != 0:
        return False
    probe = Path(tempfile.mkdtemp(prefix="grader-probe-"))
    try:
        if not _mount_tmpfs(probe, 1, 16):
            return False
        _unmount(probe)
        return True
    finally:
        remove_tree(probe)


class Space:
    """The writable folders of one sandbox: `work` (its working directory) and `tmp`, bounded where possible."""

    def __init__(self, disk_mb: int, files: int, uid: int | None):
        self.root = Path(tempfile.mkdtemp(prefix="grader-space-"))
        self.root.chmod(0o755)
        self.bounded = can_mount() and _mount_tmpfs(self.root, disk_mb, files)
        self.work, self.tmp = self.root / "work", self.root / "tmp"
        self.work.mkdir(mode=0o700)
        self.tmp.mkdir()
        self.tmp.chmod(0o1777)
        if uid is not None:
            os.chown(self.work, uid, uid)

    def close(self) -> None:
        """Drop the space and everything in it; never raises."""
        if self.bounded:
            _unmount(self.root)
        remove_tree(self.root)


def unmount_below(folder: Path) -> None:
    """Detach every mount at or below `folder` (the spaces of a grader that was killed); never raises."""
    prefix = str(folder).rstrip("/")
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = {line.split()[4].encode().decode("unicode_escape") for line in lines if len(line.split()) > 4}
    for point in sorted((p for p in points if p == prefix or p.startswith(prefix + "/")), key=len, reverse=True):
        _unmount(Path(point))


def remove_tree(path: Path) -> None:
    """Remove a folder and all it holds, however deep, wide or hostile; never raises, never recurses.

    It walks down through file descriptors (so no path grows past PATH_MAX and links are never
    followed), keeping only the names of the folders above and those still to visit, and climbs
    back through "..".
    """
    try:
        current = _open_folder(str(path), None)
    except OSError:
        _unlink(path)
        return
    try:
        pending, names = [_clear(current)], []
        while True:
            if pending[-1]:
                child = pending[-1].pop()
                try:
                    below = _open_folder(child, current)
                except OSError:
                    continue  # cannot enter it: leave it rather than loop
                os.close(current)
                current = below
                names.append(child)
                pending.append(_clear(current))
                continue
            pending.pop()
            if not names:
                break
            above = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=current)
            os.close(current)
            current = above
            try:
                os.rmdir(names.pop(), dir_fd=current)
            except OSError:
                pass
    except OSError:
        pass
    finally:
        _close(current)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _open_folder(name: str, folder_fd: int | None) -> int:
    """Open a folder without following a link; one whose permissions shut us out is opened up first."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=folder_fd)
    except PermissionError:
        os.chmod(name, stat.S_IRWXU, dir_fd=folder_fd)
        return os.open(name, flags, dir_fd=folder_fd)


def _clear(folder_fd: int) -> list[str]:
    """Delete every entry of the folder that is not a folder; return the names of its sub-folders."""
    folders = []
    with os.scandir(folder_fd) as entries:
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            if is_folder:
                folders.append(entry.name)
            else:
                _unlink_in(entry.name, folder_fd)
    return folders


def _unlink_in(name: str, folder_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=folder_fd)
    except PermissionError:  # a folder without write permission: open it up, then try again
        try:
            os.chmod(folder_fd, stat.S_IRWXU)
            os.unlink(name, dir_fd=folder_fd)
        except OSError:
            pass
    except OSError:
        pass


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
