"""The sandbox's own view of the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.sandbox import groups
from grader.sandbox.launch import _bwrap_prefix, masked_paths
from grader.sandbox.space import Space, can_mount, remove_tree

ROOT = Path(__file__).resolve().parent.parent


def test_private_tmp_is_mounted_before_binds_that_may_lie_under_it():
    args = _bwrap_prefix(Path("/tmp/work"), Path("/tmp/meta"), None, False, {"disk_mb": 8})
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs + 1] == "/tmp"
    binds = [i for i, arg in enumerate(args) if arg in ("--bind", "--ro-bind")]
    assert all(i > tmpfs for i in binds if args[i + 2] != "/usr")


def test_the_view_holds_no_project_folders():
    args = _bwrap_prefix(Path("/tmp/work"), Path("/tmp/meta"), None, False, {"disk_mb": 8})
    targets = [args[i + 2] for i, arg in enumerate(args) if arg in ("--bind", "--ro-bind")]
    assert str(ROOT) not in targets
    assert not any(t.startswith(str(ROOT / "assignments")) or t.startswith(str(ROOT / "solutions")) for t in targets)


# -- writable space ---------------------------------------------------------------------------

def test_remove_tree_takes_deep_wide_and_hostile_trees(tmp_path):
    top = tmp_path / "tree"
    top.mkdir()
    here = os.open(top, os.O_RDONLY)
    for _ in range(3000):  # far deeper than the recursion limit, and far longer than PATH_MAX
        os.mkdir("d" * 100, dir_fd=here)
        below = os.open("d" * 100, os.O_RDONLY, dir_fd=here)
        os.close(here)
        here = below
    os.close(here)
    for i in range(2000):
        (top / f"w{i}").mkdir()
    (top / "link").symlink_to(ROOT)
    os.mkfifo(top / "fifo")
    locked = top / "locked"
    locked.mkdir()
    (locked / "inside").write_text("x")
    locked.chmod(0)
    remove_tree(top)
    assert not top.exists()
    assert ROOT.exists() and (ROOT / "README.md").exists()


def test_remove_tree_of_nothing_or_a_file_never_raises(tmp_path):
    remove_tree(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    assert not (tmp_path / "file").exists()


@pytest.mark.skipif(not can_mount(), reason="needs a grader that may mount a tmpfs (root)")
def test_the_space_is_bounded_in_bytes_and_files_and_gone_when_closed():
    space = Space(disk_mb=4, files=50, uid=None)
    assert space.bounded
    with pytest.raises(OSError, match="No space left"):
        (space.work / "big").write_bytes(bytes(5 * 2**20))
    (space.work / "big").unlink()
    with pytest.raises(OSError, match="No space left"):
        for i in range(100):
            (space.tmp / f"f{i}").touch()
    root = space.root
    space.close()
    assert not root.exists()
    assert str(root) not in Path("/proc/mounts").read_text()


# -- the processes of a sandbox ------------------------------------------------------------------

BUSY = "import os\nif os.fork() == 0:\n    os.setsid()\nwhile True:\n    pass\n"


def _busy_group(group):
    process = subprocess.Popen([sys.executable, "-c", BUSY], preexec_fn=group.enter, start_new_session=True)
    group.attach(process.pid)
    time.sleep(0.3)
    return process


def test_a_frozen_group_uses_no_cpu_and_killing_it_leaves_nothing(cgroups):
    group = groups.for_sandbox(None)
    assert group.kind == (f"cgroup v{cgroups}" if cgroups else "signals")
    process = _busy_group(group)
    try:
        assert group.count() >= 2  # the process and the child it forked
        group.freeze()
        time.sleep(0.1)
        before = group.cpu_seconds()
        time.sleep(0.3)
        assert group.cpu_seconds() - before <= 0.001
        group.thaw()
        time.sleep(0.3)
        assert group.cpu_seconds() - before > 0.1
    finally:
        group.kill_all()
        group.close()
        process.wait(timeout=10)
    time.sleep(0.1)
    assert group.count() == 0


def test_forbidden_packages_are_found_wherever_python_looks():
    paths = masked_paths(("torch",))
    names = {os.path.basename(p) for p in paths}
    assert "torch" in names
    assert any(name.startswith("torch-") and name.endswith(".dist-info") for name in names)
    assert masked_paths(("no_such_package_anywhere",)) == ()
