"""The build cache's cap (sim/build_cache.py): least recently used builds go first, recent
and locked ones stay, bad settings are refused in one line."""

import fcntl
import os
import subprocess
import sys
import time

import pytest

from systolica.sim import build_cache as bc


def _entry(builds, name, size, age_s, now):
    d = builds / name
    (d / "obj").mkdir(parents=True)
    (d / "obj" / "blob").write_bytes(b"x" * size)
    (builds / f"{name}.lock").touch()
    t = now - age_s
    os.utime(d, (t, t))
    return d


def test_prune_removes_least_recently_used_first(tmp_path):
    now = time.time()
    for i, age in enumerate((50_000, 40_000, 30_000, 20_000)):
        _entry(tmp_path, f"b{i}", 1000, age, now)
    removed = bc.prune(tmp_path, 2500, grace_s=0, now=now, log=False)
    assert [e.path.name for e in removed] == ["b0", "b1"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["b2", "b3"]
    assert sum(e.size for e in bc.entries(tmp_path)) == 2000


def test_prune_keeps_recent_and_locked_builds(tmp_path):
    now = time.time()
    _entry(tmp_path, "old_locked", 1000, 90_000, now)
    _entry(tmp_path, "old", 1000, 80_000, now)
    _entry(tmp_path, "recent", 1000, 60, now)
    with open(tmp_path / "old_locked.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        removed = bc.prune(tmp_path, 0, grace_s=3600, now=now, log=False)
    assert [e.path.name for e in removed] == ["old"]
    assert (tmp_path / "old_locked").is_dir() and (tmp_path / "recent").is_dir()


def test_under_the_cap_nothing_goes_and_mark_used_renews(tmp_path):
    now = time.time()
    a = _entry(tmp_path, "a", 1000, 9000, now)
    _entry(tmp_path, "b", 1000, 5000, now)
    assert bc.prune(tmp_path, 2000, grace_s=0, now=now, log=False) == []
    bc.mark_used(a)  # a hit: a is now the newest
    removed = bc.prune(tmp_path, 1000, grace_s=0, log=False)
    assert [e.path.name for e in removed] == ["b"]


@pytest.mark.parametrize("raw, expect", [("", int(bc.DEFAULT_MAX_GB * 1e9)), ("0", None), ("2.5", 2_500_000_000)])
def test_cap_from_the_environment(monkeypatch, raw, expect):
    monkeypatch.setenv("SYSTOLICA_CACHE_MAX_GB", raw)
    assert bc.max_bytes() == expect


@pytest.mark.parametrize("raw", ["x", "-1", "nan", "inf"])
def test_bad_cap_is_one_line(monkeypatch, tmp_path, raw):
    monkeypatch.setenv("SYSTOLICA_CACHE_MAX_GB", raw)
    with pytest.raises(ValueError, match="SYSTOLICA_CACHE_MAX_GB"):
        bc.max_bytes()
    env = dict(os.environ, SYSTOLICA_CACHE=str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "systolica.cli", "cache"], env=env, capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "SYSTOLICA_CACHE_MAX_GB" in p.stderr and "Traceback" not in p.stderr


def test_cache_command_prunes_to_the_given_cap(tmp_path):
    now = time.time()
    for i in range(3):
        _entry(tmp_path / "builds", f"b{i}", 1_000_000, 100 * (3 - i), now)
    env = dict(os.environ, SYSTOLICA_CACHE=str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "systolica.cli", "cache", "--prune", "--max-gb", "0.0015"],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "removed 2 least recently used builds" in p.stdout
    assert sorted(x.name for x in (tmp_path / "builds").iterdir() if x.is_dir()) == ["b2"]
