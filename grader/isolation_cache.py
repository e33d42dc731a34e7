"""The isolation probe and the masked-paths listing, remembered per machine and grader version.

Probing (starting bubblewrap and a Python in it) costs about 0.2-0.4 s, in every grading process.
Its answer is kept in a cache folder of the grader's own (`$XDG_CACHE_HOME/dl-grader`, else
`~/.cache/dl-grader`, mode 0700), under a key that changes with the grader's version, the Python,
bubblewrap, the kernel, the user and GRADER_ISOLATION, so a change to any of them probes again. Only
an answer under which student code cannot write that folder is kept (bubblewrap, or a user of its
own); a cache file that is not the grader's own, or that others may write, is ignored.

Where a forbidden package lies (reading every installed distribution's metadata, about 0.1 s) is kept
there too, keyed by the packages and by the state of the folders it was found in (their paths and
modification times: installing or removing a package changes them). It is only asked for under
bubblewrap, whose sandbox does not see that folder; a listing naming a path outside those folders is
ignored.
"""

from __future__ import annotations

import hashlib
import functools
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import grader
from grader.atomic import write_atomic
from grader.sandbox.launch import Isolation, detect, masked_paths, package_folders


def cached_detect() -> Isolation:
    """detect(), answered from the cache when this machine and grader were probed before."""
    path = _cache_file()
    if path is not None:
        known = _read(path)
        if known is not None:
            return known
    isolation = detect()
    if path is not None and (isolation.level == "bubblewrap" or isolation.own_users):
        _write(path, {"level": isolation.level, "own_users": isolation.own_users, "warning": isolation.warning})
    return isolation


@functools.lru_cache(maxsize=None)
def cached_masked_paths(packages: tuple[str, ...]) -> tuple[str, ...]:
    """masked_paths(packages), answered from the cache while the package folders are as they were."""
    if not packages:
        return ()
    folders = package_folders()
    states = []
    for folder in folders:
        try:
            states.append(f"{folder}:{os.stat(folder).st_mtime_ns}")
        except OSError:
            states.append(f"{folder}:absent")
    path = _cache_path("masked", [grader.__version__, sys.executable, *packages, "", *states])
    known = _read_json(path) if path is not None else None
    paths = known.get("paths") if isinstance(known, dict) else None
    if isinstance(paths, list) and all(isinstance(p, str) and os.path.dirname(p) in folders for p in paths):
        return tuple(paths)
    found = masked_paths(packages)
    if path is not None:
        _write(path, {"paths": list(found)})
    return found


def _cache_file() -> Path | None:
    return _cache_path("isolation", _probe_key())


def _cache_path(kind: str, parts: list[str]) -> Path | None:
    """The file of the grader's cache folder that holds `kind` for the key `parts`; None without a home."""
    home = os.environ.get("XDG_CACHE_HOME") or (os.path.join(os.path.expanduser("~"), ".cache")
                                                if os.path.expanduser("~") != "~" else None)
    if not home:
        return None
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return Path(home) / "dl-grader" / f"{kind}-{key}.json"


def _probe_key() -> list[str]:
    """Everything the probe's answer depends on."""
    parts = [grader.__version__, sys.executable, sys.version, os.uname().release, str(os.getuid()),
             os.environ.get("GRADER_ISOLATION", "")]
    for program in (sys.executable, shutil.which("bwrap")):
        try:
            info = os.stat(program) if program else None
        except OSError:
            info = None
        parts.append(f"{program}:{info.st_mtime_ns}:{info.st_size}" if info else f"{program}:absent")
    return parts


def _write(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data).encode())
    except OSError:
        pass  # no cache: the next process works it out again


def _read_json(path: Path):
    """The file's JSON where the file and its folder are the grader's own and only it may write them; else None."""
    try:
        for place in (path.parent, path):
            info = os.stat(place, follow_symlinks=False)
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or stat.S_ISLNK(info.st_mode):
                return None
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None


def _read(path: Path) -> Isolation | None:
    data = _read_json(path)
    try:
        if data.get("level") not in ("bubblewrap", "rlimits") or type(data.get("own_users")) is not bool:
            return None
        warning = data.get("warning")
        return Isolation(data["level"], data["own_users"], warning if isinstance(warning, str) else None)
    except AttributeError:  # not a dict
        return None
