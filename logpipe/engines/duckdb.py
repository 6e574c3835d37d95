"""DuckDB: the saved queries on one machine, over the store's gzip JSON lines.

Only the window's objects are read: the store lists the window's hour partitions (the one layout of
logpipe.layout) and DuckDB gets that file list, reading the gzip files itself with all its threads.
On an ``s3://`` store the object store copies the window's objects into its download cache first
(httpfs is a download and fails offline). Every object is checked before DuckDB reads it, damaged
ones replaced by what can be trusted of them, and lines DuckDB cannot read counted by reason
(``logpipe.engines.bad_records``): never a failed query, never garbage, never silently dropped.

The partitions read reach past the window's end by ``scan_end`` (its lateness): a record of 10:59
that Firehose delivered at 11:03 lies in ``hour=11`` and belongs to the window ending at 11:00. Data
quality (bad and misplaced records, damaged objects) is that of the window's own hours, so each
object is counted in one window only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import threading
import time
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from logpipe.engines import duckdb_macros, object_cache, translation_cache
from logpipe.engines.bad_records import ObjectReader, ReadPlan, missing_verdict
from logpipe.engines.base import Cancel, Progress, QueryCancelled, QueryStats, Rows, plain_type
from logpipe.engines.binding import BoundStatement, prepare_tree
from logpipe.engines.raw_sql import (
    all_null_predicate,
    connect,
    empty_raw_sql,
    parquet_sources,
    quoted,
    read_json_sql,
    readable_directories,
)
from logpipe.errors import AthenaOnlyError, EngineError, StoreError
from logpipe.layout import DAY, DT_FORMAT, floor_day, floor_hour, to_ms, utc
from logpipe.schema import (
    PARTITION_COLUMNS,
    RAW_COLUMNS,
    compacted_view_sql,
    compaction_select_sql,
    logs_view_sql,
)
from logpipe.store import Store, StoredObject
from logpipe.store.logs import UNRECOGNISED
from logpipe.store.verdicts import DataQuality, VerdictKey, quality

if TYPE_CHECKING:
    import pandas as pd

    from logpipe.config import EngineConfig

RAW_TABLE = "logs_raw"
COMPACTED_TABLE = "logs_compacted"
CACHED_TABLE = "logs_cached"  # the window's objects held by the service's object cache (an Arrow table)


class _Recording(Mapping[str, Any]):
    """The bound values as the translation sees them, remembering which ones it looked at: a
    translation that read no value (or the same values again) is valid for the next run as well."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values
        self.seen: dict[str, tuple[bool, Any]] = {}

    def __getitem__(self, name: str) -> Any:
        value = self._values[name]
        self.seen[name] = (True, value)
        return value

    def __contains__(self, name: object) -> bool:
        found = name in self._values
        if isinstance(name, str) and name not in self.seen:
            self.seen[name] = (found, self._values.get(name))
        return found

    def __iter__(self) -> Iterator[str]:  # reading every value: every one is part of the key
        for name in self._values:
            self[name]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class _Compiled:
    depends_on: dict[str, tuple[bool, Any]]  # the values the translation read, as it saw them
    sql: str
    derived: dict[str, Any]
    names: tuple[str, ...]  # the placeholders of the DuckDB text, in order


# Translations of statements that came from a text (saved queries), per process: key -> translations
# (one per set of values they depend on). The window's values change every run; the translation of a
# shipped query depends on none of them, so each saved query is translated once per process.
_COMPILED: dict[tuple[Any, ...], list[_Compiled]] = {}
_COMPILED_LOCK = threading.Lock()
_COMPILED_MAX = 512


def _same(seen: dict[str, tuple[bool, Any]], values: Mapping[str, Any]) -> bool:
    for name, (present, value) in seen.items():
        if (name in values) != present:
            return False
        if present:
            now = values[name]
            if type(now) is not type(value) or now != value:
                return False
    return True


def compile_duckdb(statement: BoundStatement, cache_dir: str | None = None) -> tuple[str, dict[str, Any]]:
    """The DuckDB text of a statement and the named values it binds (``$name``), with Trino's
    semantics (logpipe.engines.transpile); AthenaOnlyError for what the local engine cannot answer.

    A statement from a saved query is translated once per process for as long as the values the
    translation read stay the same (a NULL parameter, a regex pattern); the runner's window values
    are only bound.

    With ``cache_dir`` (the store's cache folder) a translation whose inputs and outputs are plain
    values is also remembered between processes (logpipe.engines.translation_cache)."""
    key: tuple[Any, ...] | None = None
    if statement.text is not None:
        key = (statement.text, tuple(sorted((n, p.type, p.item_type) for n, p in statement.types.items())),
               tuple(sorted(n for n, v in statement.values.items() if v is None)))
        with _COMPILED_LOCK:
            if key not in _COMPILED and cache_dir:
                remembered = _load_compiled(cache_dir, key)
                if remembered:
                    _COMPILED[key] = remembered
            for entry in _COMPILED.get(key, ()):
                if _same(entry.depends_on, statement.values):
                    values = {**statement.values, **entry.derived}
                    return entry.sql, {name: values[name] for name in entry.names}
    from logpipe.engines.transpile import compile_for_duckdb, placeholders

    tree = prepare_tree(statement.tree, statement.values, statement.types)
    recording = _Recording(statement.values)
    compiled, derived = compile_for_duckdb(tree, statement.types, recording)
    values = {**statement.values, **derived}
    sql, names = compiled.sql(dialect="duckdb"), tuple(placeholders(compiled))
    if key is not None:
        made = _Compiled(dict(recording.seen), sql, derived, names)
        with _COMPILED_LOCK:
            if len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.clear()
            _COMPILED.setdefault(key, []).append(made)
            entries = list(_COMPILED[key])
        if cache_dir:
            _save_compiled(cache_dir, key, entries)
    return sql, {name: values[name] for name in names}


def _load_compiled(cache_dir: str, key: tuple[Any, ...]) -> list[_Compiled]:
    """The translations of ``key`` remembered on disk (an unreadable entry is translated again)."""
    found = translation_cache.load(cache_dir, ["statement", *key])
    entries: list[_Compiled] = []
    if not isinstance(found, list):
        return entries
    for item in found:
        try:
            depends = {str(n): (bool(p), v) for n, (p, v) in item["depends_on"].items()}
            entries.append(_Compiled(depends, str(item["sql"]), dict(item["derived"]), tuple(item["names"])))
        except (KeyError, TypeError, ValueError, AttributeError):
            return []
    return entries


def _save_compiled(cache_dir: str, key: tuple[Any, ...], entries: list[_Compiled]) -> None:
    """Remember the translations of ``key`` when every value they hold is plain JSON."""
    plain = translation_cache.plain
    if not all(plain(v) for e in entries for _, v in e.depends_on.values()) or \
            not all(plain(v) for e in entries for v in e.derived.values()):
        return
    translation_cache.save(cache_dir, ["statement", *key], [
        {"depends_on": {n: [p, v] for n, (p, v) in e.depends_on.items()}, "sql": e.sql, "derived": e.derived,
         "names": list(e.names)} for e in entries])


@functools.lru_cache(maxsize=8)
def _view_duckdb(sql: str, cache_dir: str | None) -> str:
    """A view's Athena text in DuckDB SQL: translated once per process, and remembered between
    processes in the cache folder (logpipe.engines.translation_cache)."""
    found = translation_cache.load(cache_dir, ["view", sql])
    if isinstance(found, str):
        return found
    from logpipe.engines.transpile import to_duckdb

    text = to_duckdb(sql)
    translation_cache.save(cache_dir, ["view", sql], text)
    return text


def _compacted_view_duckdb(table: str, cache_dir: str | None = None, shape: bool = True) -> str:
    """The ``logs`` view over the Parquet hours in DuckDB SQL."""
    return _view_duckdb(compacted_view_sql(table, shape=shape), cache_dir)


def _logs_view_duckdb(raw_table: str, cache_dir: str | None = None, shape: bool = True) -> str:
    """The ``logs`` view in DuckDB SQL (the same for every query)."""
    return _view_duckdb(logs_view_sql(raw_table, drop_unreadable=False, shape=shape), cache_dir)


# The two columns named, or a star that stands for columns (``SELECT *``, ``t.*``, ``* EXCLUDE``,
# ``COLUMNS(*)``) rather than a product (``100 * x``): a star followed by the end, a comma, a closing
# parenthesis or FROM/EXCLUDE/REPLACE/RENAME.
_SHAPE_COLUMNS = re.compile(r"\b(shape|pattern_id)\b|\*(?=\s*(?:$|[,)]|(?:FROM|EXCLUDE|REPLACE|RENAME)\b))",
                            re.IGNORECASE)


def _form(shape: bool, raw: bool, columnar: bool) -> str:
    """The name of a form of the ``logs`` view: with or without the shape columns, over the JSON files
    (``logs_raw``), the columnar hours (``logs_compacted``) or both."""
    return f"view:{'shape' if shape else 'slim'}:{'raw' if raw else ''}{'+columnar' if columnar else ''}"


@functools.lru_cache(maxsize=256)
def reads_shape(sql: str) -> bool:
    """Whether DuckDB SQL may read the view's ``shape`` or ``pattern_id`` columns: it names them, or
    holds a star standing for columns, or is not known (empty). Kept per text (a pure function of it):
    a run cycle asks it for the same dozen statements a few hundred times."""
    return not sql or _SHAPE_COLUMNS.search(sql) is not None


# Idle connections per (settings, readable folders): opening a connection and creating the macros on
# it (a hundred statements) cost ~0.1 s, paid by every query of a ``logpipe run`` cycle (hundreds of
# hourly windows) before this pool. A connection goes back only after a query that ended normally;
# the macros and the ``logs`` view it was given stay (they are the same for every query), and a
# connection gets only the macros its queries call (``use_macros``). ``made`` names what it has,
# among them the form of its ``logs`` view (``view:...``): a query takes an idle connection whose
# view has the form it needs, so a cycle whose queries alternate between forms (with and without the
# shape columns) keeps one connection per form instead of re-creating the view (6-17 ms) at each turn.
_POOL: dict[tuple[Any, ...], list[tuple[Any, set[str]]]] = {}
_POOL_LOCK = threading.Lock()
_POOL_IDLE = 6  # idle connections kept per key (the view's forms: shape or not x JSON, columnar or both)


def _pool_key(settings: EngineConfig, readable: Sequence[str]) -> tuple[Any, ...]:
    return (settings.threads, settings.memory_limit, tuple(readable))


def take_connection(settings: EngineConfig, readable: Sequence[str] = (), form: str | None = None
                    ) -> tuple[Any, set[str]]:
    """An idle connection from the pool (same settings and readable folders), or a new one with no
    macro; and the names of the macros (and view form) already made on it (``use_macros`` adds what a
    query needs). ``form``: the ``logs`` view the query needs; an idle connection that has it is taken
    first, and while the pool has room a new connection is opened rather than one whose view would have
    to be made again (it comes back holding the form: one connection per form)."""
    with _POOL_LOCK:
        idle = _POOL.get(_pool_key(settings, readable))
        if idle:
            if form is None:
                return idle.pop()
            for i in range(len(idle) - 1, -1, -1):
                if form in idle[i][1]:
                    return idle.pop(i)
            if len(idle) >= _POOL_IDLE - 1:  # no room for one more form: the least recently used one
                return idle.pop(0)
    return open_connection(settings, readable, macros=()), set()


def swap_connection(con: Any, made: set[str], settings: EngineConfig, readable: Sequence[str], form: str
                    ) -> tuple[Any, set[str]]:
    """An idle connection with the view ``form`` in place of ``con`` (which goes back to the pool), or
    ``con`` itself when none has it."""
    with _POOL_LOCK:
        idle = _POOL.setdefault(_pool_key(settings, readable), [])
        for i in range(len(idle) - 1, -1, -1):
            if form in idle[i][1]:
                found = idle[i]
                idle[i] = (con, made)
                return found
    return con, made


def _replace_view(con: Any, made: set[str], name: str, sql: str) -> None:
    """``CREATE OR REPLACE VIEW name AS sql``, unless the view on ``con`` already has this very text.

    Why: a run cycle's queries of one window read the same files (17 queries per hour), and DuckDB
    binds a view's files when it is created (~1 ms for one Parquet hour, 7 ms for a month) - two thirds
    of these statements re-created the view the connection already had. A view is its text (each query
    binds it again), so keeping it answers alike."""
    mark = f"{name}:{hashlib.sha1(sql.encode('utf-8')).hexdigest()}"
    if mark in made:
        return
    con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
    made.difference_update([m for m in made if m.startswith(name + ":")])
    made.add(mark)


def use_macros(con: Any, made: set[str], *texts: str) -> None:
    """Create on ``con`` the macros the SQL texts call that it lacks (``made``: those it has)."""
    missing = [name for name in duckdb_macros.needed(*texts) if name not in made]
    duckdb_macros.install(con, missing)
    made.update(missing)


def give_back(con: Any, made: set[str], settings: EngineConfig, readable: Sequence[str]) -> None:
    """Return a connection to the pool (closed when the pool is full). Its views stay: the next query
    replaces ``logs_raw`` (and ``logs_compacted``) with its own files before it reads anything."""
    with _POOL_LOCK:
        idle = _POOL.setdefault(_pool_key(settings, readable), [])
        if len(idle) < _POOL_IDLE:
            idle.append((con, made))
            return
    con.close()


def close_pool() -> None:
    """Close every idle connection (tests; a process otherwise keeps them until it exits)."""
    with _POOL_LOCK:
        idle = [con for cons in _POOL.values() for con, _ in cons]
        _POOL.clear()
    for con in idle:
        con.close()


def open_connection(settings: EngineConfig, readable: Sequence[str] = (), macros: Iterable[str] | None = None) -> Any:
    """A DuckDB connection that answers like Athena: logpipe.engines.raw_sql's locked-down connection
    with the macros the translation calls (logpipe.engines.duckdb_macros; ``macros``: only those,
    in creation order)."""
    con = connect(settings, readable=readable)
    try:
        duckdb_macros.install(con, macros)
    except Exception:
        con.close()
        raise
    return con


class DuckDBEngine:
    """Runs statements on an in-memory DuckDB whose ``logs`` view covers one window of the store."""

    name = "duckdb"
    answers_rows = True  # run_result(..., rows=True) may give Rows

    def __init__(self, settings: EngineConfig, store: Store, reader: ObjectReader | None = None,
                 compacted: bool = True) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader  # None: objects are read as they are, nothing is checked or counted
        self.compacted = compacted  # read the compacted hours before the watermark (logpipe compact)
        self.cache_dir: str | None = store.config.cache_dir or None  # translations remembered there
        # The service's raw objects in memory (logpipe.engines.object_cache), when it runs this query.
        self.objects: object_cache.ObjectCache | None = object_cache.current()
        # ... and the verdicts of the objects its earlier queries read
        self._memo = self.objects.verdicts if self.objects is not None else None
        # connection -> its readable folders (its pool key) and the macros created on it
        self._readable_of: dict[int, tuple[list[str], set[str]]] = {}

    def connect(self, files: list[str], parquet: Sequence[str] = (), clean: Collection[str] = (), sql: str = "",
                objects: Sequence[object_cache.Wanted] = ()) -> Any:
        """A DuckDB connection with ``logs_raw`` over the files (raw JSON and Parquet hours) and the
        ``logs`` view. Unreadable JSON lines (rows of NULLs) are dropped in the JSON branch only, and
        only from the files not known ``clean``: telling such a row needs every column (a coalesce of
        them all), which keeps DuckDB from reading just the columns a query uses. A file whose verdict
        counted no bad line holds no such row, so it is read without the filter; so are the Parquet
        hours, written without them. ``sql``: the statement to run (its macros are created; one
        that reads neither ``shape`` nor ``pattern_id`` gets the view without them, bound in half the
        time; without ``sql``, the whole view).
        ``objects`` (file, key, size, version, partition hour of each file): with the service's object cache, the
        files it holds (or loads now) are read from memory, as the table ``logs_cached``.
        Give the connection back with ``release``."""
        readable = self.readable([*files, *parquet])
        shape = reads_shape(sql)
        cached = self.objects is not None and bool(objects)
        # the form the view will most likely take (the object cache usually serves every object)
        con, made = take_connection(self.settings, readable,
                                    _form(shape, bool(files) and not cached, bool(parquet) or cached))
        try:
            cols = ", ".join(quoted(c) for c in (*RAW_COLUMNS, *PARTITION_COLUMNS))
            columnar = [f"SELECT * FROM {source}" for source in parquet_sources(parquet)]
            table = None
            if self.objects is not None and objects:
                loader = con, made
                table, served = self.objects.window(objects, lambda file: self._load(*loader, file))
                if table is not None:  # the objects in memory, in the Parquet hours' form (object_cache)
                    columnar.append(f"SELECT * FROM {CACHED_TABLE}")
                    files = [f for f in files if f not in served]
            known = [f for f in files if f in clean]
            rest = [f for f in files if f not in clean]
            sources = [f"SELECT {cols} FROM {read_json_sql(known)}"] if known else []
            if rest:
                sources.append(f"SELECT {cols} FROM {read_json_sql(rest)} WHERE NOT ({all_null_predicate()})")
            # The JSON branch only when there are JSON files to read (or nothing at all: the view is then
            # over an empty logs_raw). A window of Parquet hours (or cached objects) only is read through
            # the compacted view alone: binding the JSON branch's expressions (time parsing, level regexes)
            # over an empty table was half of the planning of an hourly query.
            form = _form(shape, bool(sources) or not columnar, bool(columnar))
            if form not in made:
                con, made = swap_connection(con, made, self.settings, readable, form)
            self._readable_of[id(con)] = (readable, made)
            if table is not None:
                con.register(CACHED_TABLE, table)
            view = ""
            if bool(sources) or not columnar:
                _replace_view(con, made, RAW_TABLE, " UNION ALL ".join(sources) if sources else empty_raw_sql())
                view = _logs_view_duckdb(RAW_TABLE, self.cache_dir, shape)
            if columnar:
                _replace_view(con, made, COMPACTED_TABLE, " UNION ALL BY NAME ".join(columnar))
                compacted = _compacted_view_duckdb(COMPACTED_TABLE, self.cache_dir, shape)
                view = f"{view} UNION ALL {compacted}" if view else compacted
            use_macros(con, made, view, sql)
            # The ``logs`` view names the tables above, not the files: a pooled connection that has this
            # form of it already keeps it (DuckDB binds a view when it is created and again in each query
            # reading it, so creating it for every window of a run cycle was a third of the query).
            if form not in made:
                con.execute(f"CREATE OR REPLACE VIEW logs AS {view}")
                made.difference_update([m for m in made if m.startswith("view:")])
                made.add(form)
        except Exception:
            self._readable_of.pop(id(con), None)
            con.close()
            raise
        return con

    def _load(self, con: Any, made: set[str], file: str) -> Any:
        """One object's readable records as the Arrow table its Parquet hour would hold (logpipe
        compact's select: raw columns, partition, derived time, service and level), for the cache."""
        cols = ", ".join(quoted(c) for c in (*RAW_COLUMNS, *PARTITION_COLUMNS))
        select = _view_duckdb(compaction_select_sql(RAW_TABLE), self.cache_dir)
        use_macros(con, made, select)
        # the CTE stands for the connection's own logs_raw view inside this statement only
        return con.sql(f"WITH {RAW_TABLE} AS (SELECT {cols} FROM {read_json_sql([file])} "
                       f"WHERE NOT ({all_null_predicate()})) {select}").to_arrow_table()

    def readable(self, files: Sequence[str]) -> list[str]:
        """The folders a connection reading ``files`` may reach: the local store's root and the cache
        folder (downloads, salvaged copies), which hold every file a query reads, so one connection
        serves every window (the pool); plus the folder of any file outside them."""
        roots: list[str] = []
        with contextlib.suppress(StoreError):  # an S3 store: its objects are read from the download cache
            roots.append(os.path.abspath(self.store.local_path("")))
        if self.store.config.cache_dir:
            roots.append(os.path.abspath(os.path.expanduser(self.store.config.cache_dir)))
        inside = tuple(os.path.join(r, "") for r in roots)
        rest = [f for f in files if not os.path.abspath(f).startswith(inside)]
        return sorted({*roots, *readable_directories(rest)})

    def release(self, con: Any, reuse: bool = True) -> None:
        """Done with a connection of ``connect``: back to the pool after a query that ended normally
        (``reuse``), else closed."""
        known = self._readable_of.pop(id(con), None)
        if reuse and self.objects is not None:
            try:  # the pooled connection must not keep the window's tables alive after the cache lets them go
                con.unregister(CACHED_TABLE)
            except Exception:
                reuse = False
        if reuse and known is not None:
            give_back(con, known[1], self.settings, known[0])
        else:
            con.close()

    def plan(self, statement: BoundStatement, progress: Progress | None = None) -> tuple[ReadPlan, list[str]]:
        """The objects the statement reads, checked and made ready; and the unrecognised paths beside them.

        With compacted hours (``logpipe compact``), the hours before the compaction watermark whose
        Parquet file matches the raw objects listed now are read from Parquet, the days the window's
        scan covers whole from their day file where it matches those hours; the rest raw."""
        if progress:
            progress("listing partitions")
        scan_end = statement.scan_end or statement.window_end
        listing, split = self._listing(statement.window_start, scan_end, statement.window_end)
        UNRECOGNISED.add(listing.unrecognised)
        objects = listing.objects if split is None else split.raw
        if self.reader is not None:
            plan = self.reader.prepare(objects, progress, self._memo)
        else:
            from logpipe.engines.bad_records import ReadEntry

            plan = ReadPlan()
            fetched = self.store.fetch(objects, progress)
            plan.entries = [ReadEntry(obj, self.store.url(obj.key), None, path) for obj, path in fetched.files]
        if split is not None and split.parquet:
            # the day files, then the hour files (logpipe.store.compacted.split_hours: each record once)
            copies = self.store.objects.local_files(split.parquet, progress)
            for (key, size), path in zip(split.parquet, copies, strict=True):
                if path is None:
                    raise EngineError(f"the Parquet file {self.store.url(key)} was listed, then gone: "
                                      "run the query again (a compaction replaced it)")
                plan.parquet.append((path, size))
            plan.covered = split.covered
            plan.covered_days = {d.day: self.store.url(d.key) for d in split.days}
            plan.settled_days = {day: part for day, (part, _) in split.settled.items()}
            plan.day_stamps = dict(split.stamps)
        return plan, listing.unrecognised

    def _listing(self, start: Any, scan_end: Any, window_end: Any = None) -> tuple[Any, Any]:
        """The window's listing and (reading compacted hours) its split at the watermarks; shared by
        the queries of the same window in a run cycle (``object_cache.ListingMemo``).

        A whole day of the window's own hours whose raw folders are as they were when their objects
        were last found merged into its day file, with their data quality remembered, is read from the
        day file without listing its raw objects (``logpipe.store.compacted.settled_days``)."""
        window_end = scan_end if window_end is None else window_end

        def make() -> tuple[Any, Any]:
            if not self.compacted:
                return self.store.list_window(start, scan_end), None
            from logpipe.store.compacted import read_watermark, settled_days, split_hours

            watermark = read_watermark(self.store)
            settled: dict[Any, Any] = {}
            stamps: dict[Any, Any] = {}
            if self.reader is not None and self.cache_dir:
                settled, stamps = settled_days(self.store, start, min(utc(window_end), utc(scan_end)), watermark,
                                               self._remembered_day)
            listing = self.store.list_window(start, scan_end, skip_days=settled)
            split = split_hours(self.store, listing.objects, start, scan_end, watermark, settled=settled)
            read_days = {d.day for d in split.days}

            def inside(day: datetime) -> list[str]:
                # the files under the day's folder that are not objects, as its listing reported them
                folder = self.store.url(f"{self.store.layout.prefix}/dt={day.strftime(DT_FORMAT)}") + "/"
                return [u for u in listing.unrecognised if u.startswith(folder) and not u.endswith("/")]

            split.stamps = {day: {"stamp": stamp, "unrecognised": inside(day)}
                            for day, stamp in stamps.items() if day in read_days}
            if settled:  # what their listing would have reported, as it reported it then
                listing.unrecognised = sorted({*listing.unrecognised,
                                               *(u for _, kept in split.settled.values() for u in kept)})
            return listing, split

        memo = object_cache.listings()
        if memo is None:
            return make()
        config = self.store.config
        key = (self.store.url(), config.prefix, config.service_partition, utc(start), utc(scan_end), utc(window_end),
               self.compacted)
        found: tuple[Any, Any] = memo.get(key, make)
        return found

    def run(self, statement: BoundStatement, progress: Progress | None = None, cancel: Cancel | None = None
            ) -> tuple[pd.DataFrame, QueryStats]:
        _, table, stats = self.run_result(statement, progress, cancel)
        return frame_of(table), stats

    def run_result(self, statement: BoundStatement, progress: Progress | None = None, cancel: Cancel | None = None,
                   rows: bool = False) -> tuple[None, Any, QueryStats]:
        """DuckDB's own Arrow table of the result (exact values and types), and its stats. No pandas
        frame is made here (None): ``frame_of`` makes one for whoever asks (QueryResult.frame), so a
        caller that writes the Arrow table never imports pandas.

        ``rows``: a result whose columns are all of plain types (``logpipe.engines.base.plain_type``)
        comes back as ``Rows``, DuckDB's Python values, instead of the Arrow table: ``logpipe query
        run`` writing text then imports neither pyarrow nor numpy."""
        started = time.perf_counter()
        sql, values = compile_duckdb(statement, self.cache_dir)
        plan, unrecognised = self.plan(statement, progress)
        if cancel is not None and cancel.is_set():
            raise QueryCancelled("the query was cancelled before it ran")
        table = self._query(plan, sql, values, progress, cancel, rows)
        data_quality = self.window_quality(plan, statement, unrecognised) if self.reader is not None else None
        read = [e for e in plan.entries if e.file is not None]
        stats = QueryStats(engine=self.name,
                           bytes_scanned=sum(e.obj.size for e in read) + sum(size for _, size in plan.parquet),
                           engine_ms=(time.perf_counter() - started) * 1000, cost_usd=0.0,
                           files_scanned=len(read) + len(plan.parquet), bad_records=dict(data_quality.bad) if data_quality else {},
                           misplaced_records=data_quality.misplaced if data_quality else 0, quality=data_quality)
        return None, table, stats

    def _query(self, plan: ReadPlan, sql: str, values: dict[str, Any], progress: Progress | None,
               cancel: Cancel | None = None, rows: bool = False) -> Any:
        """Run the statement over the plan's files (its Arrow table; with ``rows``, ``Rows`` when every
        column is of a plain type); then count what the new objects held."""
        for attempt in (1, 2):
            files = plan.files
            objects = _wanted(plan) if self.objects is not None else []  # only the object cache reads them
            con = self.connect(files, [path for path, _ in plan.parquet], plan.clean_files, sql, objects)
            reuse = False
            try:
                if progress:
                    progress(f"reading {len(files)} objects")
                try:
                    with _watching(con, len(files), progress, cancel):
                        # Arrow is DuckDB's own result (a NULL stays NULL, a BIGINT an integer); a
                        # frame is made from it only for the metrics and detectors that read frames.
                        table = _rows_or_arrow(con, sql, values) if rows else \
                            con.sql(sql, params=values or None).to_arrow_table()
                except Exception as exc:
                    if cancel is not None and cancel.is_set():
                        raise QueryCancelled("the query was cancelled (DuckDB interrupted)") from None
                    if duckdb_macros.ATHENA_ONLY in str(exc):
                        raise AthenaOnlyError(_one_line(exc).removeprefix("Invalid Input Error: ")) from exc
                    gone = [e for e in plan.entries if e.file is not None and not os.path.exists(e.file)]
                    if gone and attempt == 1:  # deleted between checking and reading: read the rest
                        for entry in gone:
                            entry.file, entry.verdict = None, None
                        plan.new = [e for e in plan.new if e not in gone]
                        continue
                    raise EngineError(f"DuckDB failed: {_one_line(exc)}") from exc
                if self.reader is not None:
                    if progress and plan.new:
                        progress(f"counting bad records of {len(plan.new)} new objects")
                    self.reader.finish(plan, con, self._memo)
                reuse = cancel is None or not cancel.is_set()
                return table
            finally:
                self.release(con, reuse)
        raise AssertionError("unreachable")

    def window_quality(self, plan: ReadPlan, statement: BoundStatement, unrecognised: list[str]) -> DataQuality:
        """Data quality of the window's own hours (not of the hours read past its end for late records).
        A compacted hour answers with the verdicts its raw objects got when they were compacted."""
        # The window's own hours: a partition hour (a whole hour) from the window's first hour to its end.
        first, end = floor_hour(statement.window_start), utc(statement.window_end)
        result = DataQuality(unrecognised=sorted(unrecognised))
        if (plan.covered or plan.settled_days) and self.reader is not None:
            for part in self._covered_quality([o for o in plan.covered if first <= o.partition.hour < end],
                                              plan.covered_days, first, end, plan):
                result.merge(part)
        for entry in plan.entries:
            if not first <= entry.obj.partition.hour < end:
                continue
            result.add(entry.verdict if entry.verdict is not None else missing_verdict(entry))
        return result

    def _remembered_day(self, day_file: Any, stamp: list[tuple[str, int, int]]
                        ) -> tuple[int, tuple[DataQuality, list[str]]] | None:
        """For ``settled_days``: the number of hours with raw objects of the day merged into ``day_file``,
        and the day's data quality and the files its listing found that are not objects, if its raw
        folders' stamp is the one remembered with them (one small file); else None."""
        assert self.reader is not None
        url = self.store.url(day_file.key)
        lateness = self.reader.lateness_s
        found = translation_cache.load(self.cache_dir, _stamp_key(url, lateness), QUALITY_FOLDER)
        if not isinstance(found, dict) or found.get("stamp") != [list(s) for s in stamp]:
            return None
        part: DataQuality | None = None
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            part = DataQuality.from_part(found["quality"])
        hours, unrecognised = found.get("hours"), found.get("unrecognised")
        if part is None or not isinstance(hours, int) or hours < 1 or not isinstance(unrecognised, list):
            return None
        return hours, (part, [str(u) for u in unrecognised])

    def _covered_quality(self, objects: list[StoredObject], days: Mapping[datetime, str], first: datetime,
                         end: datetime, plan: ReadPlan | None = None) -> list[DataQuality]:
        """The data quality of the raw objects of compacted hours (in their order, a run of objects at a
        time), from their remembered verdicts. A day the window holds whole and reads from its day file
        is answered from the cache folder once its objects' verdicts were all found scanned: the file's
        URL names exactly the objects it was merged from. Why: a month's 2,880 verdicts were looked up
        for every query over it (a tenth of such a ``query run``; at a fleet's hundreds of objects an
        hour, far more than DuckDB's own work), where 30 small files do."""
        assert self.reader is not None
        lateness = self.reader.lateness_s
        runs: list[tuple[str | None, list[StoredObject]]] = []  # (day file URL or None, objects)
        hour: datetime | None = None
        file: str | None = None
        for obj in objects:
            if obj.partition.hour != hour:  # (objects come hour by hour: each hour's day found once)
                hour = obj.partition.hour
                day = floor_day(hour)
                file = days.get(day) if first <= day and day + DAY <= end else None
            if runs and runs[-1][0] == file:
                runs[-1][1].append(obj)
            else:
                runs.append((file, [obj]))
        url = self.store.url
        parts: list[DataQuality | list[VerdictKey]] = []  # remembered, or the verdicts to look up
        for file, run in runs:
            remembered = translation_cache.load(self.cache_dir, _quality_key(file, lateness), QUALITY_FOLDER) \
                if file is not None else None
            part: DataQuality | None = None
            if remembered is not None:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    part = DataQuality.from_part(remembered)
            parts.append(part if part is not None else [(url(o.key), o.size, o.version) for o in run])
        wanted = [key for keys in parts if isinstance(keys, list) for key in keys]
        known = self.reader.known(wanted, self._memo) if wanted else {}
        found: list[DataQuality] = []
        stamps = plan.day_stamps if plan is not None else {}
        day_of = {url: day for day, url in days.items()}
        for (file, run), part_or_keys in zip(runs, parts, strict=True):
            if isinstance(part_or_keys, DataQuality):
                part, remembered = part_or_keys, True
            else:
                remembered = False
                verdicts = [known.get(key) for key in part_or_keys]
                part = quality(v for v in verdicts if v is not None)
                if file is not None and all(v is not None and v.scanned(lateness) for v in verdicts):
                    translation_cache.save(self.cache_dir, _quality_key(file, lateness), part.to_part(), QUALITY_FOLDER)
                    remembered = True
            taken = stamps.get(day_of[file]) if file is not None and file in day_of else None
            if remembered and taken is not None and file is not None:
                # the raw folders as they were before the listing that found exactly these objects merged
                # into this day file: the next query reads the day without listing them
                hours = len({o.partition.hour for o in run})
                translation_cache.save(self.cache_dir, _stamp_key(file, lateness),
                                       {"stamp": [list(s) for s in taken["stamp"]], "hours": hours,
                                        "unrecognised": taken["unrecognised"], "quality": part.to_part()},
                                       QUALITY_FOLDER)
            found.append(part)
        if plan is not None:
            found.extend(part for day, part in plan.settled_days.items() if first <= day and day + DAY <= end)
        return found

    def explain(self, statement: BoundStatement, analyze: bool = True) -> str:
        """DuckDB's plan (with ANALYZE: the files it really scanned) for the statement."""
        sql, values = compile_duckdb(statement, self.cache_dir)
        plan, _ = self.plan(statement)
        con = self.connect(plan.files, [path for path, _ in plan.parquet], plan.clean_files, sql)
        reuse = False
        try:
            rows = con.execute(("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + sql, values).fetchall()
            reuse = True
        finally:
            self.release(con, reuse)
        return "\n".join(str(r[-1]) for r in rows)

    def close(self) -> None:
        pass


def _wanted(plan: ReadPlan) -> list[object_cache.Wanted]:
    """What the object cache is asked for: (file, key, size, version, partition hour in epoch ms) of
    each object read, each hour converted once."""
    hours: dict[Any, int] = {}
    wanted: list[object_cache.Wanted] = []
    for e in plan.entries:
        if e.file is not None:
            hour = e.obj.partition.hour
            ms = hours.get(hour)
            if ms is None:
                ms = hours[hour] = to_ms(hour)
            wanted.append((e.file, e.obj.key, e.obj.size, e.obj.version, ms))
    return wanted


def frame_of(table: Any) -> pd.DataFrame:
    """The pandas frame of a result's Arrow table, as DuckDB converts it (what ``.df()`` gave before):
    on a connection of its own in UTC, so a TIMESTAMPTZ keeps its instant whatever the local zone."""
    con = getattr(_CONVERT, "con", None)
    if con is None:  # one per thread, kept: a connection per frame cost ~25 ms in a run cycle
        import duckdb

        con = _CONVERT.con = duckdb.connect(":memory:")
        con.execute("SET TimeZone='UTC'")
    return con.from_arrow(table).df()


_CONVERT = threading.local()

# The remembered data quality of the raw objects of a day file (DuckDBEngine._covered_quality), in the
# cache folder beside the translations; FORMAT changes with what a part holds.
QUALITY_FOLDER = "quality"
QUALITY_FORMAT = 1


def _quality_key(day_file: str, lateness_s: int) -> list[Any]:
    return ["day-quality", QUALITY_FORMAT, day_file, lateness_s]


def _stamp_key(day_file: str, lateness_s: int) -> list[Any]:
    """The stamp of a day's raw folders remembered beside its data quality (``settled_days``)."""
    return ["day-stamp", QUALITY_FORMAT, day_file, lateness_s]


@contextmanager
def _watching(con: Any, files: int, progress: Progress | None, cancel: Cancel | None) -> Iterator[None]:
    """While a statement runs: report DuckDB's progress and interrupt it when ``cancel`` is set."""
    if progress is None and cancel is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            if cancel is not None and cancel.is_set():
                con.interrupt()
                return
            if progress is not None:
                share = con.query_progress()
                if share >= 0:
                    progress(f"reading {files} objects: {share:.0f}%")

    watcher = threading.Thread(target=watch, name="duckdb-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _rows_or_arrow(con: Any, sql: str, values: dict[str, Any]) -> Any:
    """The statement's result as ``Rows`` when every column is of a plain type, else as DuckDB's Arrow
    table. Run once with ``execute`` (a relation, ``con.sql``, binds the statement once for its types
    and again when it runs: 45 ms over a month of objects), its types read from the cursor."""
    con.execute(sql, values or None)
    names = [str(d[0]) for d in con.description]
    types = [str(d[1]) for d in con.description]
    if all(plain_type(t) for t in types):
        return Rows(names, types, con.fetchall())
    with warnings.catch_warnings():  # "an extra copy of the rows": for a result of other types only
        warnings.simplefilter("ignore", UserWarning)
        return con.to_arrow_table()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 600 else text[:597] + "..."


__all__ = ["COMPACTED_TABLE", "RAW_TABLE", "DuckDBEngine", "close_pool", "compile_duckdb", "frame_of", "give_back", "open_connection",
           "swap_connection", "take_connection", "use_macros"]
