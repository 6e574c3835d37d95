"""Small files kept in a cache folder: written atomically, the folder kept to a number of files.

Shared by the validated configurations (``logpipe.config_cache``) and the engine's translations and
day qualities (``logpipe.engines.translation_cache``), which keep their files the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` as ``path``, never half written: through a temporary file beside it (readable by its
    owner only, ``mkstemp``) and a rename. Raises OSError."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".cache-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def keep_newest(folder: Path, suffix: str, most: int, keep: int) -> None:
    """When ``folder`` holds more than ``most`` files ending in ``suffix``, remove the oldest (by mtime)
    until ``keep`` remain. Files that vanish or cannot be removed meanwhile are left to the next call."""
    entries: list[tuple[int, str]] = []
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                if entry.name.endswith(suffix):
                    with contextlib.suppress(OSError):
                        entries.append((entry.stat().st_mtime_ns, entry.path))
    except OSError:
        return
    if len(entries) <= most:
        return
    entries.sort()
    for _, path in entries[:len(entries) - keep]:
        with contextlib.suppress(OSError):
            os.unlink(path)


__all__ = ["keep_newest", "write_atomically"]
