"""DuckDB: the saved queries on one machine, over the store's gzip JSON lines.

Only the window's objects are read: the store lists the window's hour partitions (the one layout of
logpipe.layout) and DuckDB gets that file list, reading the gzip files itself with all its threads.
On an ``s3://`` store the window's objects are first copied into ``[store] cache_dir`` with boto3
(httpfs is a download and fails offline), keyed by key and size: Firehose objects never change.

Bad records: DuckDB's ``read_json(ignore_errors=true)`` turns a line it cannot read (not JSON, cut
off, invalid UTF-8, not an object) into a row of NULLs instead of failing the query. The ``logs`` view
drops rows with no known key. QueryStats.bad_records counts those rows by reason, per object, from one
more parallel DuckDB scan that reads each line as text and classifies it in SQL (``_scan_bad_lines``;
it agrees with read_json's all-NULL rows line for line). That scan is a second read of every new
object, so its counts are remembered per object (path, size, mtime) in the process and in
``[store] cache_dir``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from logpipe.config import Config
from logpipe.engines.base import Progress, QueryStats
from logpipe.engines.binding import BoundStatement, prepare_tree
from logpipe.engines.transpile import placeholders, rewrite_for_duckdb, to_duckdb
from logpipe.errors import EngineError
from logpipe.schema import PARTITION_COLUMNS, RAW_COLUMNS, logs_view_sql
from logpipe.store import MAX_RECORD_BYTES, ReadStats, Store, StoredObject, decompress_lines, parse_record

RAW_TABLE = "logs_raw"
MAX_OBJECT_SIZE = 16 * 1024 * 1024  # one record (JSON object) may be this large before it is "bad"

# (path, size, mtime_ns) -> bad records by reason. Objects are immutable once written.
_BAD_CACHE: dict[tuple[str, int, int], dict[str, int]] = {}
_BAD_LOCK = threading.Lock()
# The same counts on disk (in [store] cache_dir), so that each `logpipe query run` - a new process -
# does not scan every object twice again. Best effort: an unwritable cache only costs time.
BAD_CACHE_FILE = "bad-records.sqlite"
# Reading lines as text: a column delimiter no line of JSON may hold (a raw control character), and a
# line length past which a line is only counted as too large (read_json's own object limit). DuckDB's
# default buffer for that limit (16 lines' worth) made the scan ~20% slower here; two lines' worth is not.
_LINE_DELIMITER = "\x01"
_MAX_LINE_SIZE = MAX_OBJECT_SIZE


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns_struct() -> str:
    return "{" + ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in RAW_COLUMNS) + "}"


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def read_json_sql(files: Sequence[str], filename: bool = False) -> str:
    """``read_json`` over exact files with the contract's schema (every raw column VARCHAR)."""
    listed = "[" + ", ".join(_sql_string(f) for f in files) + "]"
    extra = ", filename=true" if filename else ""
    return (f"read_json({listed}, format='newline_delimited', compression='gzip', "
            f"columns={_columns_struct()}, hive_partitioning=true, hive_types_autocast=false, "
            f"ignore_errors=true, maximum_object_size={MAX_OBJECT_SIZE}{extra})")


def _empty_raw_sql() -> str:
    cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {_quoted(c)}" for c in (*RAW_COLUMNS, *PARTITION_COLUMNS))
    return f"SELECT {cols} WHERE false"


def _all_null_predicate() -> str:
    return "coalesce(" + ", ".join(_quoted(c) for c in RAW_COLUMNS) + ") IS NULL"


def compile_duckdb(statement: BoundStatement) -> tuple[str, dict[str, Any]]:
    """The DuckDB text of a statement and the named values it binds (``$name``)."""
    tree = prepare_tree(statement.tree, statement.values, statement.types)
    used = placeholders(tree)
    sql = rewrite_for_duckdb(tree).sql(dialect="duckdb")
    return sql, {name: statement.values[name] for name in used}


class DuckDBEngine:
    """Runs statements on an in-memory DuckDB whose ``logs`` view covers one window of the store."""

    name = "duckdb"

    def __init__(self, config: Config, store: Store | None = None, count_bad_records: bool = True):
        self.config = config
        self.store = store or Store(config.store)
        self.count_bad_records = count_bad_records

    # -- the window's files -----------------------------------------------------------------------

    def window_objects(self, start: Any, end: Any) -> list[StoredObject]:
        return self.store.list_objects(start, end)

    def local_files(self, objects: Sequence[StoredObject], progress: Progress | None = None) -> list[str]:
        """Local paths of the objects (downloaded into the cache first on an S3 store)."""
        if self.store.local_root is not None:
            return [str(self.store.local_path(o.key)) for o in objects]
        cache = Path(self.config.store.cache_dir).expanduser() / self.store.bucket
        if self.store.base_key:
            cache = cache / self.store.base_key
        todo = []
        paths = []
        for obj in objects:
            path = cache / obj.key
            paths.append(str(path))
            if not (path.exists() and path.stat().st_size == obj.size):
                todo.append((obj, path))
        if todo:
            if progress:
                progress(f"downloading {len(todo)} of {len(objects)} objects into {cache}")

            def fetch(item: tuple[StoredObject, Path]) -> None:
                obj, path = item
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.part")
                tmp.write_bytes(self.store.read_bytes(obj.key))
                tmp.replace(path)

            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(fetch, todo))
        return paths

    # -- connections ------------------------------------------------------------------------------

    def connect(self, files: Sequence[str]) -> Any:
        """A DuckDB connection with ``logs_raw`` over the files and the ``logs`` view."""
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            self._settings(con)
            cols = ", ".join(_quoted(c) for c in (*RAW_COLUMNS, *PARTITION_COLUMNS))
            source = f"SELECT {cols} FROM {read_json_sql(files)}" if files else _empty_raw_sql()
            con.execute(f"CREATE VIEW {RAW_TABLE} AS {source}")
            con.execute(f"CREATE VIEW logs AS {to_duckdb(logs_view_sql(RAW_TABLE))}")
        except Exception:
            con.close()
            raise
        return con

    def _settings(self, con: Any) -> None:
        con.execute("SET TimeZone='UTC'")
        if self.config.engine.threads:
            con.execute(f"SET threads={int(self.config.engine.threads)}")
        if self.config.engine.memory_limit:
            con.execute(f"SET memory_limit={_sql_string(self.config.engine.memory_limit)}")

    # -- bad records ------------------------------------------------------------------------------

    def bad_records(self, files: Sequence[str], con: Any) -> dict[str, int]:
        """Bad records of the files by reason; each object is counted once and remembered."""
        keys = {}
        for f in files:
            st = os.stat(f)
            keys[f] = (f, st.st_size, st.st_mtime_ns)
        with _BAD_LOCK:
            todo = [f for f in files if keys[f] not in _BAD_CACHE]
        if todo:
            remembered = _load_bad_counts(self._bad_cache_file(), [keys[f] for f in todo])
            with _BAD_LOCK:
                _BAD_CACHE.update(remembered)
                todo = [f for f in todo if keys[f] not in _BAD_CACHE]
        if todo:
            found = self._count_bad(todo, con)
            counted = {keys[f]: found.get(f, {}) for f in todo}
            with _BAD_LOCK:
                _BAD_CACHE.update(counted)
            _save_bad_counts(self._bad_cache_file(), counted)
        total: dict[str, int] = {}
        with _BAD_LOCK:
            for f in files:
                for reason, n in _BAD_CACHE[keys[f]].items():
                    total[reason] = total.get(reason, 0) + n
        return total

    def _bad_cache_file(self) -> Path:
        return Path(self.config.store.cache_dir).expanduser() / BAD_CACHE_FILE

    def _count_bad(self, files: Sequence[str], con: Any) -> dict[str, dict[str, int]]:
        """Bad records of new objects by reason, from one line scan of them all (``_scan_bad_lines``).

        When that scan fails (an object whose lines DuckDB's CSV reader cannot split as ``read_json``
        does: a lone CR, or LF and CRLF line ends mixed), each object is scanned on its own, in
        parallel, and only the objects that still fail are counted the slower way
        (``_count_and_classify``)."""
        import duckdb

        try:
            return self._scan_bad_lines(files)
        except duckdb.Error:
            if len(files) == 1:
                return self._count_and_classify(files, con)

        def one(path: str) -> tuple[str, dict[str, dict[str, int]] | None]:
            try:
                return path, self._scan_bad_lines([path], threads=1)
            except duckdb.Error:
                return path, None

        with ThreadPoolExecutor(max_workers=max(1, min(len(files), os.cpu_count() or 1))) as pool:
            scanned = list(pool.map(one, files))
        found = {path: result[path] for path, result in scanned if result and path in result}
        rest = [path for path, result in scanned if result is None]
        if rest:
            found.update(self._count_and_classify(rest, con))
        return found

    def _scan_bad_lines(self, files: Sequence[str], threads: int = 0) -> dict[str, dict[str, int]]:
        """Every line of the objects read as text, in one parallel DuckDB scan, and classified in SQL.

        Why: the reasons used to cost a second ``read_json`` scan (to count the all-NULL rows) plus a
        Python pass decompressing every object with bad rows - together more than twice the query.
        Reading lines as text (``read_csv``, one column, a delimiter byte no JSON line may hold) needs
        no JSON parsing of good lines: ``json_valid`` and a prefix test (a known key, not null, first)
        settle nearly all of them; only the few others are parsed. A line is counted exactly when
        ``read_json(ignore_errors)`` turns it into an all-NULL row (blank and whitespace-only lines are
        skipped by both), named in logpipe.store's reader's order:

        - ``too_large``: such a line longer than MAX_RECORD_BYTES (a large record DuckDB can read is a
          row of the query, so it is not counted), or one past the CSV reader's line limit;
        - ``invalid_utf8``: lines the CSV reader rejects as invalid encoding (from its reject tables;
          a too large one too, as the reject table does not keep its length);
        - ``not_json``: ``json_valid`` fails, or the line holds the delimiter byte (a raw control
          character, never valid JSON);
        - ``not_an_object``: valid JSON that is not an object;
        - ``no_known_keys``: an object none of whose top-level keys of RAW_COLUMNS has a non-null value.

        A lone CR inside a line is a line break to the CSV reader but not to ``read_json``; with
        ``strict_mode`` DuckDB fails the scan (a lone CR, or LF and CRLF mixed in one object) rather
        than miscount, and the caller falls back. ``threads``: DuckDB's threads (0 = the config's).
        """
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            self._settings(con)
            if threads:
                con.execute(f"SET threads={int(threads)}")
            listed = "[" + ", ".join(_sql_string(f) for f in files) + "]"
            source = (f"read_csv({listed}, columns={{'line': 'VARCHAR'}}, delim={_sql_string(_LINE_DELIMITER)}, "
                      "quote='', escape='', header=false, auto_detect=false, strict_mode=true, "
                      f"compression='gzip', filename=true, max_line_size={_MAX_LINE_SIZE}, "
                      f"buffer_size={2 * _MAX_LINE_SIZE}, store_rejects=true)")
            # A valid line that opens with a known key whose value is not null (n) makes a row.
            first_key = _sql_string('^[{]"(' + "|".join(RAW_COLUMNS) + r')":\s*[^\sn]')
            paths = "[" + ", ".join(_sql_string('$."' + c + '"') for c in RAW_COLUMNS) + "]"
            big = f"strlen(line) > {MAX_RECORD_BYTES}"
            reason = (
                "CASE WHEN NOT json_valid(line) THEN CASE WHEN trim(line, ' ' || chr(9) || chr(13)) = '' THEN NULL "
                f"  WHEN {big} THEN 'too_large' ELSE 'not_json' END "
                f"WHEN regexp_matches(line, {first_key}) THEN NULL "
                f"WHEN json_type(line) <> 'OBJECT' THEN CASE WHEN {big} THEN 'too_large' ELSE 'not_an_object' END "
                f"WHEN list_bool_and(list_transform(json_extract(line, {paths}), "
                "                    lambda v: v IS NULL OR v = 'null'::JSON)) "
                f"  THEN CASE WHEN {big} THEN 'too_large' ELSE 'no_known_keys' END END")
            found: dict[str, dict[str, int]] = {}

            def add(name: str, why: str, n: int) -> None:
                reasons = found.setdefault(str(name), {})
                reasons[why] = reasons.get(why, 0) + int(n)

            for name, why, n in con.execute(
                    f"SELECT filename, reason, count(*) FROM (SELECT filename, {reason} AS reason FROM {source} "
                    "WHERE line IS NOT NULL) WHERE reason IS NOT NULL GROUP BY ALL").fetchall():
                add(name, why, n)
            # A rejected line may have several errors: name it by the first the reader would see.
            for name, why, n in con.execute(
                    "SELECT file_path, reason, count(*) FROM (SELECT s.file_path, e.line, "
                    "  CASE max(CASE e.error_type WHEN 'LINE SIZE OVER MAXIMUM' THEN 3 "
                    "    WHEN 'INVALID ENCODING' THEN 2 WHEN 'TOO MANY COLUMNS' THEN 1 ELSE 0 END) "
                    "  WHEN 3 THEN 'too_large' WHEN 2 THEN 'invalid_utf8' WHEN 1 THEN 'not_json' "
                    "  ELSE 'unreadable' END AS reason "
                    "FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id) GROUP BY ALL) "
                    "GROUP BY ALL").fetchall():
                add(name, why, n)
        finally:
            con.close()
        return found

    def _count_and_classify(self, files: Sequence[str], con: Any) -> dict[str, dict[str, int]]:
        """The fallback: DuckDB counts each object's all-NULL rows (a ``read_json`` scan), and
        logpipe.store's reader names the reasons of the objects that have any."""
        rows = con.execute(
            f"SELECT filename, count(*) FILTER (WHERE {_all_null_predicate()}) "
            f"FROM {read_json_sql(files, filename=True)} GROUP BY filename").fetchall()
        counts = {str(name): int(n) for name, n in rows}
        bad_files = [f for f in files if counts.get(f)]
        # Decompression (most of the cost) releases the GIL: one worker per core.
        with ThreadPoolExecutor(max_workers=max(1, min(len(bad_files), os.cpu_count() or 1))) as pool:
            reasons = list(pool.map(lambda f: self._classify(f, counts[f]), bad_files))
        return dict(zip(bad_files, reasons, strict=True))

    @staticmethod
    def _classify(path: str, expected: int) -> dict[str, int]:
        """Why an object's records were unreadable: logpipe.store's reader names the reason.

        Why two passes: nearly every line of a real object is a well-formed JSON object, and parsing
        all of them in Python cost more than DuckDB's whole scan. The first pass only parses lines that
        do not look like one (not ``{...}``, not ASCII or UTF-8, too large); when those explain all
        ``expected`` rows DuckDB lost, the rest need no parsing. Otherwise (a ``{...}`` line that is
        still bad, or one with no known key) every line is parsed, as before.
        """
        gzip_stats = ReadStats()  # a cut-off or corrupt object: counted while decompressing
        lines = list(decompress_lines(Path(path).read_bytes(), gzip_stats))
        suspicious = [line for line in lines if not _looks_like_object(line)]
        reasons = DuckDBEngine._reasons(suspicious, ReadStats(bad=dict(gzip_stats.bad)))
        if sum(n for reason, n in reasons.items() if reason != "too_large") < expected:
            reasons = DuckDBEngine._reasons(lines, ReadStats(bad=dict(gzip_stats.bad)))
        # DuckDB is the reference for how many rows were lost; keep the total equal to its count. A too
        # large record DuckDB still read is a row of the query, not a lost one.
        excess = min(sum(reasons.values()) - expected, reasons.get("too_large", 0))
        if excess > 0:
            reasons["too_large"] -= excess
            if not reasons["too_large"]:
                del reasons["too_large"]
        rest = expected - sum(reasons.values())
        if rest > 0:
            reasons["unreadable"] = reasons.get("unreadable", 0) + rest
        return reasons

    @staticmethod
    def _reasons(lines: Sequence[bytes], stats: ReadStats) -> dict[str, int]:
        known = set(RAW_COLUMNS)
        no_known = 0
        for line in lines:
            record = parse_record(line, stats)
            if record is not None and not (known & {k for k, v in record.items() if v is not None}):
                no_known += 1
        reasons = dict(stats.bad)
        if no_known:
            reasons["no_known_keys"] = no_known
        return reasons

    # -- running ----------------------------------------------------------------------------------

    def compile(self, statement: BoundStatement) -> tuple[str, dict[str, Any]]:
        return compile_duckdb(statement)

    def run(self, statement: BoundStatement, progress: Progress | None = None
            ) -> tuple[pd.DataFrame, QueryStats]:
        started = time.perf_counter()
        sql, values = self.compile(statement)
        if progress:
            progress("listing partitions")
        objects = self.window_objects(statement.window_start, statement.window_end)
        files = self.local_files(objects, progress)
        con = self.connect(files)
        try:
            if progress:
                progress(f"reading {len(files)} objects")
            try:
                frame = con.execute(sql, values).df()
            except Exception as exc:
                raise EngineError(f"DuckDB failed: {_one_line(exc)}") from exc
            bad = self.bad_records(files, con) if (self.count_bad_records and files) else {}
        finally:
            con.close()
        stats = QueryStats(engine=self.name, bytes_scanned=sum(o.size for o in objects),
                           engine_ms=(time.perf_counter() - started) * 1000, cost_usd=0.0,
                           files_scanned=len(files), bad_records=bad)
        return frame, stats

    def explain(self, statement: BoundStatement, analyze: bool = True) -> str:
        """DuckDB's plan (with ANALYZE: the files it really scanned) for the statement."""
        sql, values = self.compile(statement)
        files = self.local_files(self.window_objects(statement.window_start, statement.window_end))
        con = self.connect(files)
        try:
            rows = con.execute(("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + sql, values).fetchall()
        finally:
            con.close()
        return "\n".join(str(r[-1]) for r in rows)

    def close(self) -> None:
        pass


def _bad_db(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=5)
    db.execute("CREATE TABLE IF NOT EXISTS bad_records (path TEXT, size INTEGER, mtime_ns INTEGER, "
                "reasons TEXT, PRIMARY KEY (path, size, mtime_ns))")
    return db


def _load_bad_counts(path: Path, keys: Sequence[tuple[str, int, int]]) -> dict[tuple[str, int, int], dict[str, int]]:
    """The remembered bad-record reasons of these objects (those the file has)."""
    if not path.exists():
        return {}
    wanted = set(keys)
    found: dict[tuple[str, int, int], dict[str, int]] = {}
    try:
        db = _bad_db(path)
        try:
            for name, size, mtime_ns, reasons in db.execute("SELECT path, size, mtime_ns, reasons FROM bad_records"):
                key = (name, size, mtime_ns)
                if key in wanted:
                    found[key] = {str(k): int(v) for k, v in json.loads(reasons).items()}
        finally:
            db.close()
    except (sqlite3.Error, OSError, ValueError, AttributeError):
        return {}
    return found


def _save_bad_counts(path: Path, counted: dict[tuple[str, int, int], dict[str, int]]) -> None:
    try:
        db = _bad_db(path)
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO bad_records VALUES (?, ?, ?, ?)",
                               [(*key, json.dumps(reasons)) for key, reasons in counted.items()])
        finally:
            db.close()
    except (sqlite3.Error, OSError):
        pass


def _looks_like_object(line: bytes) -> bool:
    """A cheap test that a line is a readable JSON object (ASCII or valid UTF-8, ``{...}``, not huge);
    a line that passes can still be bad, which ``_classify`` then finds by parsing every line."""
    stripped = line.strip()
    if len(line) > MAX_RECORD_BYTES or stripped[:1] != b"{" or stripped[-1:] != b"}":
        return False
    if stripped.isascii():
        return True
    try:
        stripped.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 600 else text[:597] + "..."

