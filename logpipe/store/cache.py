"""The local cache folder (``[store] cache_dir``): downloaded S3 objects and salvaged copies of damaged
ones, bounded by ``[store] cache_max_bytes``.

Why least recently used: a query reads one window's objects, often the same recent hours again (the
scheduler's windows, a person rerunning a query); old hours are rarely read twice. A file's mtime is
its last use (set when a query uses it: atime is unreliable on ``relatime``/``noatime`` mounts).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from pathlib import Path

from logpipe.errors import StoreError

log = logging.getLogger(__name__)

DEFAULT_CACHE_MAX_BYTES = 10 * 1024**3
STALE_PART_SECONDS = 3600  # a .part file untouched this long belongs to a process that died


def disk_error(exc: OSError, folder: Path, what: str) -> StoreError:
    """A user's error for a failed write into one of our folders (a full disk says so, and where)."""
    if exc.errno == errno.ENOSPC:
        return StoreError(f"no space left in {folder} while {what}: free space there, move [store] cache_dir, "
                          "or lower [store] cache_max_bytes")
    if exc.errno == errno.EDQUOT:
        return StoreError(f"disk quota exceeded in {folder} while {what}")
    return StoreError(f"cannot write in {folder} while {what}: {exc.strerror or exc}")


def touch(paths: list[Path]) -> None:
    """Mark files as used now (the LRU clock)."""
    now = time.time()
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path, (now, now))


def evict(root: Path, max_bytes: int, keep: set[Path] | None = None) -> int:
    """Remove least recently used files under ``root`` until it holds at most ``max_bytes``, and
    ``.part`` files left by a dead process; returns the bytes freed. Files in ``keep`` (what the
    current query reads) stay whatever their age: a window larger than the bound is read, and said."""
    keep = keep or set()
    if not root.is_dir():
        return 0
    files: list[tuple[float, int, Path]] = []
    total, freed = 0, 0
    now = time.time()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                st = path.stat()
            except OSError:
                continue
            if name.endswith(".part"):
                if now - st.st_mtime > STALE_PART_SECONDS:
                    path.unlink(missing_ok=True)
                continue
            total += st.st_size
            if path not in keep:
                files.append((st.st_mtime, st.st_size, path))
    if total <= max_bytes:
        return 0
    for _mtime, size, path in sorted(files):
        if total <= max_bytes:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        freed += size
    if total > max_bytes:
        log.warning("the cache %s holds %d bytes the current query needs, more than [store] cache_max_bytes (%d)",
                    root, total, max_bytes)
    return freed


__all__ = ["DEFAULT_CACHE_MAX_BYTES", "disk_error", "evict", "touch"]
