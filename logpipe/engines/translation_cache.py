"""DuckDB translations remembered between processes, in the cache folder.

Why: translating the ``logs`` view (with its shape masks) and a saved query for DuckDB is about a
second of sqlglot and compiler work, paid again by every ``logpipe query run`` although neither the
text nor the translator changed - a short query's process spent more time translating than DuckDB
spent answering. Each translation is kept in a small JSON file named by a hash of everything it
depends on: the Athena text, the parameter types and NULL values that shaped it, logpipe's
translator code (the modification times of ``logpipe/engines``) and sqlglot's installed version. A
change to any of them is a different name, so a stale translation is never read.

Only translations whose inputs and outputs are plain JSON values (strings, numbers, booleans, NULL)
are kept; any other one is simply translated again. The files are written atomically and readable by
their owner only (``mkstemp``); a cache folder that cannot be read or written costs time, never an
error. Each kind's folder is kept to ``MAX_FILES`` files, the least recently used going first. Like
the downloaded objects beside them, the files are trusted as the user's own: whoever can
write the cache folder can already change the data a query reads.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

import logpipe
from logpipe.cache_files import keep_newest, write_atomically

FOLDER = "translations"
FORMAT = 1
_PLAIN = (str, int, float, bool, type(None))
# Each kind's folder keeps at most this many files, the least recently used going first (a file read
# is marked used at most once a day); it is tidied at a process's first save and every PRUNE_EVERY saves.
MAX_FILES = 10_000
PRUNE_EVERY = 256
TOUCH_AFTER_NS = 86_400 * 1_000_000_000
_saves: dict[str, int] = {}


@functools.lru_cache(maxsize=1)
def translator_stamp() -> str:
    """What a translation depends on beyond its text: logpipe's engine code and sqlglot's version."""
    package = Path(__file__).resolve().parent
    files = [*package.glob("*.py"), *(package / "trino").glob("*.py")]
    newest = max((p.stat().st_mtime_ns for p in files), default=0)
    spec = importlib.util.find_spec("sqlglot")  # found without importing it (an upgrade rewrites it)
    sqlglot = os.stat(spec.origin).st_mtime_ns if spec is not None and spec.origin else 0
    return f"{FORMAT}:{logpipe.__version__}:{sqlglot}:{newest}:{len(files)}"


def _file(folder: str | os.PathLike[str], key: Any, kind: str) -> Path:
    digest = hashlib.sha256(json.dumps([translator_stamp(), key], sort_keys=True, default=str).encode()).hexdigest()
    return Path(folder).expanduser() / kind / f"{digest[:40]}.json"


def plain(value: Any) -> bool:
    """Whether a value survives a JSON round trip as the same type and value."""
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    return type(value) in _PLAIN


def load(folder: str | os.PathLike[str] | None, key: Any, kind: str = FOLDER) -> Any:
    """The remembered value for ``key`` (a JSON value), or None. ``kind``: the subfolder of such values
    (``translations``; the engine keeps other values of its own the same way, e.g. ``quality``)."""
    if not folder:
        return None
    file = _file(folder, key, kind)
    try:
        with open(file, encoding="utf-8") as handle:
            data = json.loads(handle.read())
            used = os.fstat(handle.fileno()).st_mtime_ns
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != json.loads(json.dumps(key, default=str)):
        return None  # a hash collision or a foreign file: never trusted
    if time.time_ns() - used > TOUCH_AFTER_NS:  # still in use: not the least recently used (see save)
        with contextlib.suppress(OSError):
            os.utime(file)
    return data.get("value")


def save(folder: str | os.PathLike[str] | None, key: Any, value: Any, kind: str = FOLDER) -> None:
    """Remember ``value`` (a JSON value) for ``key`` in ``kind``, atomically; failures are ignored."""
    if not folder:
        return
    file = _file(folder, key, kind)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(file, json.dumps({"key": key, "value": value}, default=str).encode("utf-8"))
    except (OSError, TypeError, ValueError):
        return
    count = _saves.get(str(file.parent), 0)
    _saves[str(file.parent)] = count + 1
    if count % PRUNE_EVERY == 0:  # down to nine tenths: the next prune is not due at the next save
        keep_newest(file.parent, ".json", MAX_FILES, MAX_FILES * 9 // 10)


__all__ = ["FOLDER", "FORMAT", "MAX_FILES", "PRUNE_EVERY", "TOUCH_AFTER_NS", "load", "plain", "save", "translator_stamp"]
