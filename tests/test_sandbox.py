"""The sandbox's own view of the machine."""

from __future__ import annotations

from pathlib import Path

from grader.sandbox.launch import _bwrap_prefix


def test_private_tmp_is_mounted_before_binds_that_may_lie_under_it():
    args = _bwrap_prefix(Path("/tmp/work"), Path("/tmp/meta"), None)
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs + 1] == "/tmp"
    binds = [i for i, arg in enumerate(args) if arg in ("--bind", "--ro-bind")]
    assert all(i > tmpfs for i in binds if args[i + 2] != "/usr")


def test_the_view_holds_no_project_folders():
    args = _bwrap_prefix(Path("/tmp/work"), Path("/tmp/meta"), None)
    targets = [args[i + 2] for i, arg in enumerate(args) if arg in ("--bind", "--ro-bind")]
    root = Path(__file__).resolve().parent.parent
    assert str(root) not in targets
    assert not any(t.startswith(str(root / "assignments")) or t.startswith(str(root / "solutions")) for t in targets)
