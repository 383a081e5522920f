"""The build cache's housekeeping: a size cap with least-recently-used eviction.

Every change to the generator's sources makes new build folders (one per unit and
configuration, tens to hundreds of MB each), and nothing ever reads the old ones again. So
after each new build the cache under ``$SYSTOLICA_CACHE/builds`` is held under a cap
(``SYSTOLICA_CACHE_MAX_GB``, default 16; ``0`` turns the cap off): the entries used longest
ago go first. An entry used in the last two hours is never removed (another process of the
same test run may be about to run it), nor one whose lock another process holds (it is being
built). Every cache hit marks its entry used (the folder's mtime).

``systolica cache`` shows the cache; ``--prune`` applies the cap now and ``--clear`` empties it.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_MAX_GB", "GRACE_S", "Entry", "entries", "mark_used", "max_bytes", "prune", "prune_after_build",
           "clear", "cache_command", "add_cache_command"]

DEFAULT_MAX_GB = 16.0
#: Entries used this recently are never removed.
GRACE_S = 2 * 3600.0
_ENV = "SYSTOLICA_CACHE_MAX_GB"


@dataclass(frozen=True)
class Entry:
    """One build (a folder, or a lone executable) in the cache."""

    path: Path
    size: int
    last_used: float


def _cap(gb: float, what: str) -> int | None:
    """``gb`` gigabytes as a cap in bytes (None: no cap); ``what`` names the setting."""
    if not (math.isfinite(gb) and gb >= 0):
        raise ValueError(f"{what}: allowed: gigabytes >= 0 (0: no cap)")
    return None if gb == 0 else int(gb * 1e9)


def max_bytes() -> int | None:
    """The cap from ``SYSTOLICA_CACHE_MAX_GB`` (None: no cap)."""
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return int(DEFAULT_MAX_GB * 1e9)
    try:
        gb = float(raw)
    except ValueError:
        raise ValueError(f"{_ENV}={raw!r}: not a number; allowed: gigabytes >= 0 (0: no cap)") from None
    return _cap(gb, f"{_ENV}={raw!r}")


def mark_used(path: Path) -> None:
    """Record that ``path`` (a build folder or file) was just used."""
    try:
        os.utime(path)
    except OSError:
        pass


def _size(path: Path) -> int:
    if not path.is_dir():
        return path.lstat().st_size
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def entries(builds: Path) -> list[Entry]:
    """The cache's entries, least recently used first (lock files are not entries)."""
    out = []
    if not builds.is_dir():
        return out
    for p in builds.iterdir():
        if p.name.endswith(".lock") or p.name.endswith(".tmp"):
            continue
        try:
            out.append(Entry(p, _size(p), p.lstat().st_mtime))
        except OSError:
            continue
    return sorted(out, key=lambda e: e.last_used)


def _remove_unless_locked(e: Entry) -> bool:
    lock = e.path.with_name(e.path.name + ".lock")
    f = None
    try:
        if lock.exists():
            f = open(lock, "a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # being built or read right now
        if e.path.is_dir():
            shutil.rmtree(e.path, ignore_errors=True)
        else:
            e.path.unlink(missing_ok=True)
        # the lock file stays: another process may be waiting on it (zero bytes)
        return True
    finally:
        if f is not None:
            f.close()


def prune(builds: Path, limit: int | None, *, grace_s: float = GRACE_S, now: float | None = None,
          log: bool = True) -> list[Entry]:
    """Remove least recently used entries until the cache holds at most ``limit`` bytes
    (entries used within ``grace_s`` stay). Returns what was removed."""
    if limit is None:
        return []
    now = time.time() if now is None else now
    found = entries(builds)
    total = sum(e.size for e in found)
    removed = []
    for e in found:
        if total <= limit:
            break
        if now - e.last_used < grace_s:
            break  # sorted: every later entry is newer still
        if _remove_unless_locked(e):
            removed.append(e)
            total -= e.size
    if removed and log:
        freed = sum(e.size for e in removed)
        print(f"[systolica] build cache over {limit / 1e9:g} GB ({_ENV}): removed {len(removed)} "
              f"least recently used builds ({freed / 1e9:.1f} GB), {total / 1e9:.1f} GB left",
              file=sys.stderr, flush=True)
    return removed


def prune_after_build(builds: Path) -> None:
    """Called after each new build: apply the cap, never fail the build over it."""
    try:
        limit = max_bytes()
    except ValueError as e:
        print(f"[systolica] build cache not pruned: {e}", file=sys.stderr, flush=True)
        return
    prune(builds, limit)


def clear(builds: Path) -> list[Entry]:
    """Remove every entry whose lock no process holds."""
    return [e for e in entries(builds) if _remove_unless_locked(e)]


def cache_command(args) -> int:
    """``systolica cache``: what the build cache holds; ``--prune`` / ``--clear``."""
    from .runner import cache_root

    builds = cache_root() / "builds"
    try:
        limit = max_bytes() if args.max_gb is None else _cap(args.max_gb, f"--max-gb {args.max_gb:g}")
    except ValueError as e:
        print(f"systolica cache: {e}", file=sys.stderr)
        return 2
    if args.clear:
        gone = clear(builds)
        print(f"removed {len(gone)} builds ({sum(e.size for e in gone) / 1e9:.1f} GB) from {builds}")
    elif args.prune:
        gone = prune(builds, limit, grace_s=0.0 if args.max_gb is not None else GRACE_S, log=False)
        print(f"removed {len(gone)} least recently used builds ({sum(e.size for e in gone) / 1e9:.1f} GB)")
    found = entries(builds)
    cap = "no cap" if limit is None else f"cap {limit / 1e9:g} GB"
    print(f"{builds}: {len(found)} builds, {sum(e.size for e in found) / 1e9:.1f} GB ({cap})")
    if found:
        age_h = (time.time() - found[0].last_used) / 3600
        print(f"  least recently used: {found[0].path.name} ({age_h:.1f} h ago)")
    return 0


def add_cache_command(sub) -> None:
    c = sub.add_parser("cache", help="the Verilator build cache: size, --prune to the cap, --clear")
    c.add_argument("--prune", action="store_true",
                   help=f"remove least recently used builds down to the cap ({_ENV}, default "
                        f"{DEFAULT_MAX_GB:g}; builds used in the last {GRACE_S / 3600:g} h stay)")
    c.add_argument("--max-gb", type=float, dest="max_gb",
                   help="the cap for --prune instead of the variable (0: no cap); with it, recent "
                        "builds are removed too")
    c.add_argument("--clear", action="store_true", help="remove every build no process is building")
    c.set_defaults(func=cache_command)
