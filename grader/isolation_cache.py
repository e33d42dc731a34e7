"""The isolation probe, remembered per machine and grader version.

Probing (starting bubblewrap and a Python in it) costs about 0.2-0.4 s, in every grading process.
Its answer is kept in a cache folder of the grader's own (`$XDG_CACHE_HOME/dl-grader`, else
`~/.cache/dl-grader`, mode 0700), under a key that changes with the grader's version, the Python,
bubblewrap, the kernel, the user and GRADER_ISOLATION, so a change to any of them probes again. Only
an answer under which student code cannot write that folder is kept (bubblewrap, or a user of its
own); a cache file that is not the grader's own, or that others may write, is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import grader
from grader.atomic import write_atomic
from grader.sandbox.launch import Isolation, detect


def cached_detect() -> Isolation:
    """detect(), answered from the cache when this machine and grader were probed before."""
    path = _cache_file()
    if path is not None:
        known = _read(path)
        if known is not None:
            return known
    isolation = detect()
    if path is not None and (isolation.level == "bubblewrap" or isolation.own_users):
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(path, json.dumps({"level": isolation.level, "own_users": isolation.own_users,
                                           "warning": isolation.warning}).encode())
        except OSError:
            pass  # no cache: the next process probes again
    return isolation


def _cache_file() -> Path | None:
    home = os.environ.get("XDG_CACHE_HOME") or (os.path.join(os.path.expanduser("~"), ".cache")
                                                if os.path.expanduser("~") != "~" else None)
    if not home:
        return None
    parts = [grader.__version__, sys.executable, sys.version, os.uname().release, str(os.getuid()),
             os.environ.get("GRADER_ISOLATION", "")]
    for program in (sys.executable, shutil.which("bwrap")):
        try:
            info = os.stat(program) if program else None
        except OSError:
            info = None
        parts.append(f"{program}:{info.st_mtime_ns}:{info.st_size}" if info else f"{program}:absent")
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return Path(home) / "dl-grader" / f"isolation-{key}.json"


def _read(path: Path) -> Isolation | None:
    try:
        for place in (path.parent, path):
            info = os.stat(place, follow_symlinks=False)
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or stat.S_ISLNK(info.st_mode):
                return None
        data = json.loads(path.read_text())
        if data.get("level") not in ("bubblewrap", "rlimits") or type(data.get("own_users")) is not bool:
            return None
        warning = data.get("warning")
        return Isolation(data["level"], data["own_users"], warning if isinstance(warning, str) else None)
    except (OSError, ValueError, AttributeError):
        return None
