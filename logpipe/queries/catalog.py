"""What ``logpipe query list`` shows, remembered between processes.

Listing the saved queries means parsing every file and translating it for DuckDB (its "runs on"
column): about a second of sqlglot work for the shipped queries, every time someone types the
command. The catalogue keeps each file's listing line in the cache folder, keyed by the file's path,
mtime and size and by the translator's own code and sqlglot's version, so a file is parsed again only
when it or the translator changed. The cached lines are shown, never run: a query that runs is always
loaded from its file (``logpipe.queries.loader``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import logpipe
from logpipe.errors import LogpipeError
from logpipe.queries.loader import query_dirs

CATALOG_FILE = "query-catalog.json"
CATALOG_FORMAT = 2  # 2: the window

if TYPE_CHECKING:
    from logpipe.config import Config


@dataclass(frozen=True)
class CatalogEntry:
    """One saved query as ``query list`` shows it."""

    name: str
    description: str
    schedule: str | None
    window: str
    params: list[tuple[str, str, bool]]  # (name, type, required)
    athena_only: str | None  # why it runs on Athena only, or None: both engines
    path: str


def _translator_stamp() -> str:
    """What the "runs on" verdict depends on beyond the file: logpipe's translator code, sqlglot."""
    package = Path(logpipe.__file__).parent / "engines"
    newest = max((p.stat().st_mtime_ns for p in (package / "trino").glob("*.py")), default=0)
    newest = max(newest, (package / "transpile.py").stat().st_mtime_ns)
    # sqlglot's installed files, found without importing it (an upgrade rewrites them)
    spec = importlib.util.find_spec("sqlglot")
    sqlglot = os.stat(spec.origin).st_mtime_ns if spec is not None and spec.origin else 0
    return f"{CATALOG_FORMAT}:{logpipe.__version__}:{sqlglot}:{newest}"


def _entry(path: Path) -> CatalogEntry:
    from logpipe.queries.loader import load_query_file
    from logpipe.queries.runner import athena_only

    query = load_query_file(path)
    return CatalogEntry(query.name, query.description, query.schedule, query.window,
                        [(p.name, p.type, p.required) for p in query.params], athena_only(query), str(path))


def _read(file: Path, stamp: str) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("stamp") != stamp or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _write(file: Path, stamp: str, files: dict[str, Any]) -> None:
    """Atomically (a reader never sees half a file); a cache folder that cannot be written is no error."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".query-catalog-", dir=file.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"stamp": stamp, "files": files}, out)
        os.replace(tmp, file)
    except OSError:
        pass


def query_catalog(config: Config, errors: list[str] | None = None) -> dict[str, CatalogEntry]:
    """Every saved query's listing line by name (a later folder's query replaces a shipped one, as in
    ``load_queries``); files that changed are parsed again and the catalogue updated.

    ``errors``: a broken file's error (file and line) goes there and the other queries are still
    listed; without it, the first broken file raises."""
    file = Path(config.store.cache_dir).expanduser() / CATALOG_FILE
    stamp = _translator_stamp()
    cached = _read(file, stamp)
    files: dict[str, Any] = {}
    found: dict[str, CatalogEntry] = {}
    for folder in query_dirs(config):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.sql")):
            info = path.stat()
            key = str(path.resolve())
            known = cached.get(key)
            entry: CatalogEntry | None = None
            if isinstance(known, dict) and known.get("mtime_ns") == info.st_mtime_ns and known.get("size") == info.st_size:
                try:
                    raw = known["entry"]
                    entry = CatalogEntry(**{**raw, "params": [tuple(p) for p in raw["params"]]})
                except (KeyError, TypeError):
                    entry = None
            if entry is None:
                try:
                    entry = _entry(path)
                except LogpipeError as exc:
                    if errors is None:
                        raise
                    errors.append(str(exc))
                    continue
            files[key] = {"mtime_ns": info.st_mtime_ns, "size": info.st_size, "entry": asdict(entry)}
            found[entry.name] = entry
    if files != cached:
        _write(file, stamp, files)
    return found


__all__ = ["CATALOG_FILE", "CatalogEntry", "query_catalog"]
