"""Bad-record accounting for the DuckDB engine: how many lines of each object it could not read, and why.

DuckDB's ``read_json(ignore_errors=true)`` turns a line it cannot read (not JSON, cut off, invalid
UTF-8, not an object) into a row of NULLs instead of failing the query, and the ``logs`` view drops
rows with no known key. ``QueryStats.bad_records`` counts those rows by reason, from one more
parallel DuckDB scan that reads each line as text and classifies it in SQL (``_scan``; it agrees
with read_json's all-NULL rows line for line). That scan is a second read of every new object, so
each object's verdict is kept in the state database (``bad_record_counts``), keyed by path, size and
mtime: a later query, in this process or another, never scans it again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from logpipe.config import EngineConfig
from logpipe.engines.raw_sql import (
    all_null_predicate,
    connect,
    read_json_sql,
    readable_directories,
    sql_string,
)
from logpipe.schema import RAW_COLUMNS
from logpipe.state.db import now_ms, upsert
from logpipe.state.tables import bad_record_counts
from logpipe.store.records import MAX_RECORD_BYTES, ReadStats, decompress_lines, parse_record

log = logging.getLogger(__name__)

# Reading lines as text: a column delimiter no line of JSON may hold (a raw control character), and a
# line length past which a line is only counted as too large (read_json's own object limit). DuckDB's
# default buffer for that limit (16 lines' worth) made the scan ~20% slower here; two lines' worth is not.
_LINE_DELIMITER = "\x01"
_MAX_LINE_SIZE = 16 * 1024 * 1024
_LOOKUP_CHUNK = 500  # keys per SELECT of remembered verdicts

FileKey = tuple[str, int, int]  # (path, size, mtime_ns)


class BadRecordCounter:
    """Counts the bad records of object files once each, remembering the verdicts in the state database."""

    def __init__(self, state: Engine, settings: EngineConfig | None = None) -> None:
        self.state = state
        self.settings = settings or EngineConfig()

    def count(self, files: Sequence[str], con: Any) -> dict[str, int]:
        """Bad records of the files by reason; ``con`` is the query's connection (for the fallback)."""
        keys: dict[str, FileKey] = {}
        for f in files:
            st = os.stat(f)
            keys[f] = (f, st.st_size, st.st_mtime_ns)
        known = self._remembered(list(keys.values()))
        todo = [f for f in files if keys[f] not in known]
        if todo:
            found = self._count_bad(todo, con)
            counted = {keys[f]: found.get(f, {}) for f in todo}
            self._remember(counted)
            known.update(counted)
        total: dict[str, int] = {}
        for f in files:
            for reason, n in known[keys[f]].items():
                total[reason] = total.get(reason, 0) + n
        return total

    # -- the verdicts, in the state database ----------------------------------------------------------

    def _remembered(self, keys: list[FileKey]) -> dict[FileKey, dict[str, int]]:
        wanted = set(keys)
        found: dict[FileKey, dict[str, int]] = {}
        t = bad_record_counts.c
        paths = sorted({k[0] for k in keys})
        try:
            with self.state.connect() as conn:
                for i in range(0, len(paths), _LOOKUP_CHUNK):
                    rows = conn.execute(select(t.path, t.size, t.mtime_ns, t.reasons)
                                        .where(t.path.in_(paths[i:i + _LOOKUP_CHUNK])))
                    for path, size, mtime_ns, reasons in rows:
                        key = (path, int(size), int(mtime_ns))
                        if key in wanted:
                            found[key] = {str(k): int(v) for k, v in json.loads(reasons).items()}
        except Exception as exc:  # only costs time: the objects are counted again
            log.warning("cannot read remembered bad-record counts: %s", exc)
        return found

    def _remember(self, counted: dict[FileKey, dict[str, int]]) -> None:
        now = now_ms()
        rows = [{"path": path, "size": size, "mtime_ns": mtime_ns, "reasons": json.dumps(reasons, sort_keys=True),
                 "counted_ms": now} for (path, size, mtime_ns), reasons in counted.items()]
        try:
            with self.state.begin() as conn:
                upsert(conn, bad_record_counts, rows, ["path", "size", "mtime_ns"],
                       lambda new: {"reasons": new.reasons, "counted_ms": new.counted_ms})
        except Exception as exc:  # only costs time: the next query counts them again
            log.warning("cannot remember bad-record counts: %s", exc)

    # -- counting -------------------------------------------------------------------------------------

    def _count_bad(self, files: Sequence[str], con: Any) -> dict[str, dict[str, int]]:
        """Bad records of new objects by reason, from one line scan of them all (``_scan``).

        When that scan fails (an object whose lines DuckDB's CSV reader cannot split as ``read_json``
        does: a lone CR, or LF and CRLF line ends mixed), each object is scanned on its own, in
        parallel, and only the objects that still fail are counted the slower way
        (``_count_and_classify``)."""
        import duckdb

        try:
            return self._scan(files)
        except duckdb.Error:
            if len(files) == 1:
                return self._count_and_classify(files, con)

        def one(path: str) -> tuple[str, dict[str, dict[str, int]] | None]:
            try:
                return path, self._scan([path], threads=1)
            except duckdb.Error:
                return path, None

        with ThreadPoolExecutor(max_workers=max(1, min(len(files), os.cpu_count() or 1))) as pool:
            scanned = list(pool.map(one, files))
        found = {path: result[path] for path, result in scanned if result and path in result}
        rest = [path for path, result in scanned if result is None]
        if rest:
            found.update(self._count_and_classify(rest, con))
        return found

    def _scan(self, files: Sequence[str], threads: int = 0) -> dict[str, dict[str, int]]:
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

        con = connect(self.settings, threads, readable=readable_directories(files))
        try:
            listed = "[" + ", ".join(sql_string(f) for f in files) + "]"
            source = (f"read_csv({listed}, columns={{'line': 'VARCHAR'}}, delim={sql_string(_LINE_DELIMITER)}, "
                      "quote='', escape='', header=false, auto_detect=false, strict_mode=true, "
                      f"compression='gzip', filename=true, max_line_size={_MAX_LINE_SIZE}, "
                      f"buffer_size={2 * _MAX_LINE_SIZE}, store_rejects=true)")
            # A valid line that opens with a known key whose value is not null (n) makes a row.
            first_key = sql_string('^[{]"(' + "|".join(RAW_COLUMNS) + r')":\s*[^\sn]')
            paths = "[" + ", ".join(sql_string('$."' + c + '"') for c in RAW_COLUMNS) + "]"
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
            f"SELECT filename, count(*) FILTER (WHERE {all_null_predicate()}) "
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
        reasons = BadRecordCounter._reasons(suspicious, ReadStats(bad=dict(gzip_stats.bad)))
        if sum(n for reason, n in reasons.items() if reason != "too_large") < expected:
            reasons = BadRecordCounter._reasons(lines, ReadStats(bad=dict(gzip_stats.bad)))
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


__all__ = ["BadRecordCounter"]
