"""The isolation probe's answer, kept per machine and grader version in the grader's own cache folder."""

from __future__ import annotations

import json

from grader.isolation_cache import _cache_file, cached_detect, cached_masked_paths
from grader.sandbox.launch import detect


def test_the_probe_is_remembered_and_a_file_others_may_write_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    probed = cached_detect()
    path = _cache_file()
    assert path.parent == tmp_path / "dl-grader" and path.parent.stat().st_mode & 0o777 == 0o700
    if not (probed.level == "bubblewrap" or probed.own_users):
        assert not path.exists()  # student code could write the cache folder here: nothing is kept
        return
    assert json.loads(path.read_text())["level"] == probed.level
    path.write_text(json.dumps({"level": "rlimits", "own_users": True, "warning": "from the cache"}))
    assert cached_detect().warning == "from the cache"  # answered from the file, not probed again
    path.chmod(0o666)
    assert cached_detect() == detect()  # a file others may write is not trusted
    monkeypatch.setenv("GRADER_ISOLATION", "rlimits")
    assert _cache_file() != path  # another key: probed again


def test_the_masked_paths_are_remembered_while_the_package_folders_stay_as_they_were(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "site"
    (folder / "forbidden_pkg").mkdir(parents=True)
    (folder / "forbidden_pkg-1.0.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(folder))
    listed = cached_masked_paths.__wrapped__(("forbidden_pkg",))
    assert listed == (str(folder / "forbidden_pkg"), str(folder / "forbidden_pkg-1.0.dist-info"))
    [cache] = (tmp_path / "dl-grader").glob("masked-*.json")
    cache.write_text(json.dumps({"paths": [str(folder / "forbidden_pkg")]}))
    assert cached_masked_paths.__wrapped__(("forbidden_pkg",)) == (str(folder / "forbidden_pkg"),)  # from the file
    cache.write_text(json.dumps({"paths": ["/etc/passwd"]}))
    assert cached_masked_paths.__wrapped__(("forbidden_pkg",)) == listed  # a path outside the folders: ignored
    (folder / "forbidden_pkg.py").write_text("")  # the folder changed: listed again, under another key
    assert str(folder / "forbidden_pkg.py") in cached_masked_paths.__wrapped__(("forbidden_pkg",))
    assert len(list((tmp_path / "dl-grader").glob("masked-*.json"))) == 2
