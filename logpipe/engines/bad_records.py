"""Bad-record accounting for the DuckDB engine: every object of a window answered for.

Before DuckDB reads a window's objects, each new object is checked (``logpipe.store.integrity``: gzip
members and CRCs); a damaged one is replaced by its salvaged copy in the cache folder (what decodes
cleanly), or left out when nothing of it can be trusted. After the query, the lines of each new object
are scanned once more: lines ``read_json(ignore_errors=true)`` turned into rows of NULLs (not JSON,
cut off, invalid UTF-8, not an object; the ``logs`` view drops such rows) are counted by reason, and
records whose time lies outside their partition's hour (beyond the lateness Firehose's buffering
allows) are counted as misplaced. Everything learned is the object's verdict in the state database
(``logpipe.store.verdicts``): a later query, in this process or another, neither checks nor scans the
object again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe.engines.raw_sql import (
    all_null_predicate,
    connect,
    quoted,
    read_json_sql,
    readable_directories,
    sql_string,
)
from logpipe.errors import StoreError
from logpipe.layout import HOUR
from logpipe.schema import RAW_COLUMNS
from logpipe.store import Store, StoredObject
from logpipe.store.cache import disk_error, evict, touch
from logpipe.store.integrity import ObjectCheck, check_file, missing, write_salvaged
from logpipe.store.records import MAX_RECORD_BYTES, ReadStats, decompress_lines, parse_record
from logpipe.store.verdicts import DataQuality, ObjectVerdict, VerdictKey, VerdictStore, verdict_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from logpipe.config import EngineConfig
    from logpipe.engines.object_cache import VerdictMemo

log = logging.getLogger(__name__)

# Reading lines as text: a column delimiter no line of JSON may hold (a raw control character), and a
# line length past which a line is only counted as too large (read_json's own object limit). DuckDB's
# default buffer for that limit (16 lines' worth) made the scan ~20% slower here; two lines' worth is not.
_LINE_DELIMITER = "\x01"
_MAX_LINE_SIZE = 16 * 1024 * 1024
SALVAGE_FOLDER = "salvaged"


@dataclass
class ReadEntry:
    """One object of a window: its verdict, and the file DuckDB reads for it (None: nothing to read)."""

    obj: StoredObject
    url: str
    verdict: ObjectVerdict | None  # None: the object was gone
    file: str | None


@dataclass
class ReadPlan:
    """A window's objects made ready for DuckDB."""

    entries: list[ReadEntry] = field(default_factory=list)
    new: list[ReadEntry] = field(default_factory=list)  # verdicts to scan and save after the query
    # The window's compacted hours (logpipe.store.compacted): local Parquet files and their stored sizes,
    # read instead of the raw objects they were made from (``covered``, kept for data quality only).
    parquet: list[tuple[str, int]] = field(default_factory=list)
    covered: list[StoredObject] = field(default_factory=list)
    # The days read from their day file (00:00 UTC): the URL of that file, which names the raw objects
    # it was merged from (its fingerprint) - the key of their data quality, remembered (DuckDBEngine).
    covered_days: dict[datetime, str] = field(default_factory=dict)
    # Of those, the days whose raw objects were not listed (``compacted.settled_days``) with their
    # remembered data quality, and the stamps of the others' raw folders, taken before their listing
    # (to settle them next time).
    settled_days: dict[datetime, DataQuality] = field(default_factory=dict)
    day_stamps: dict[datetime, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return [e.file for e in self.entries if e.file is not None]

    @property
    def clean_files(self) -> set[str]:
        """The files whose lines were all counted readable (a scanned verdict with no bad line): DuckDB
        makes no row of NULLs from them, so they need no filter for such rows."""
        return {e.file for e in self.entries if e.file is not None and e.verdict is not None
                and e.verdict.bad_lines == {}}


class ObjectReader:
    """Checks, salvages and counts the objects a DuckDB query reads (see the module docstring)."""

    def __init__(self, state: Engine | str, settings: EngineConfig, store: Store, lateness_s: int = 600) -> None:
        """``state``: the state engine, or its URL (opened when verdicts are first read or saved)."""
        self.verdicts = VerdictStore(state)
        self.settings = settings
        self.store = store
        self.lateness_s = lateness_s
        self.counter = BadRecordCounter(settings)
        self.cache_root = Path(store.config.cache_dir).expanduser()
        self.salvage_root = self.cache_root / SALVAGE_FOLDER / hashlib.sha256(store.url().encode()).hexdigest()[:12]

    def salvage_path(self, obj: StoredObject) -> Path:
        """Where the salvaged copy of a damaged object lives (the hive folders kept: dt and hour)."""
        return self.salvage_root / obj.key

    def known(self, keys: Iterable[VerdictKey], memo: VerdictMemo | None = None) -> dict[VerdictKey, ObjectVerdict]:
        """The remembered verdicts of ``keys``: from the cycle's ``memo`` (logpipe.engines.object_cache)
        where it has them, the rest from the state database (and then kept in the memo)."""
        if memo is None:
            return self.verdicts.lookup(keys)
        wanted = list(keys)
        found = memo.get(wanted, self.lateness_s)
        rest = [k for k in wanted if k not in found]
        if rest:
            looked_up = self.verdicts.lookup(rest)
            memo.keep(looked_up.values(), self.lateness_s)
            found.update(looked_up)
        return found

    def prepare(self, objects: Sequence[StoredObject], progress: Any = None, memo: VerdictMemo | None = None
                ) -> ReadPlan:
        """Local files, verdicts (remembered or new: checked now) and salvaged copies of the objects.
        ``memo``: the run cycle's verdicts in memory (``known``)."""
        urls = {o.key: self.store.url(o.key) for o in objects}
        known = self.known(((urls[o.key], o.size, o.version) for o in objects), memo)
        fetched = self.store.fetch(objects, progress)
        plan = ReadPlan()
        for obj in fetched.missing:
            url = urls[obj.key]
            plan.entries.append(ReadEntry(obj, url, None, None))
        todo: list[tuple[StoredObject, str, str]] = []
        for obj, path in fetched.files:
            verdict = known.get((urls[obj.key], obj.size, obj.version))
            if verdict is None:
                todo.append((obj, urls[obj.key], path))
                continue
            plan.entries.append(self._entry(obj, verdict, path))
        if todo:
            if progress:
                progress(f"checking {len(todo)} new objects")
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=_workers(len(todo))) as pool:
                checked = list(pool.map(lambda item: self._check(*item), todo))
            for entry in checked:
                plan.entries.append(entry)
                plan.new.append(entry)
        fresh = {id(e) for e in plan.new}
        plan.new += [e for e in plan.entries if e.verdict is not None and id(e) not in fresh
                     and not e.verdict.scanned(self.lateness_s)]
        plan.entries.sort(key=lambda e: (e.obj.partition.hour, e.obj.key))
        salvaged = [Path(e.file) for e in plan.entries if e.file and e.verdict and not e.verdict.check.clean]
        if salvaged:
            touch(salvaged)
            evict(self.cache_root, int(self.store.config.cache_max_bytes),
                  keep={Path(f) for f in plan.files})
        return plan

    def _check(self, obj: StoredObject, url: str, path: str) -> ReadEntry:
        """A new object: checked; a damaged one salvaged at once (which also says what it lost)."""
        try:
            check = check_file(path)
            if not check.clean:
                check = self._salvage(url, path, self.salvage_path(obj))
        except FileNotFoundError:  # deleted between listing and reading
            return ReadEntry(obj, url, None, None)
        except OSError as exc:  # unreadable (permissions, I/O): the query cannot answer for it
            raise StoreError(f"cannot read {url}: {exc.strerror or exc}") from None
        return self._entry(obj, verdict_for(obj, url, check), path)

    def _salvage(self, url: str, path: str, target: Path) -> ObjectCheck:
        try:
            return write_salvaged(path, target)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise disk_error(exc, self.cache_root, f"writing the salvaged copy of {url}") from None

    def _entry(self, obj: StoredObject, verdict: ObjectVerdict, path: str) -> ReadEntry:
        """The file to read for an object with a verdict: itself, its salvaged copy, or none."""
        if verdict.check.clean:
            return ReadEntry(obj, verdict.url, verdict, path)
        if not verdict.check.kept_lines:
            return ReadEntry(obj, verdict.url, verdict, None)
        target = self.salvage_path(obj)
        if not target.exists():  # evicted from the cache: salvaged again
            try:
                self._salvage(verdict.url, path, target)
            except FileNotFoundError:
                return ReadEntry(obj, verdict.url, None, None)
        return ReadEntry(obj, verdict.url, verdict, str(target))

    def finish(self, plan: ReadPlan, con: Any, memo: VerdictMemo | None = None) -> None:
        """Scan the lines of the plan's new objects (bad lines by reason, misplaced and good records) and
        remember their verdicts (in the state database, and in the cycle's ``memo``)."""
        scan = [e for e in plan.new if e.verdict is not None and e.file is not None]
        if scan:
            files = [e.file for e in scan if e.file]
            bad, placed = self.counter.count(files, con, self.lateness_s)
            for entry in scan:
                assert entry.verdict is not None and entry.file is not None
                entry.verdict.bad_lines = bad.get(entry.file, {})
                entry.verdict.records, entry.verdict.misplaced = placed.get(entry.file, (0, 0))
                entry.verdict.lateness_s = self.lateness_s
        for entry in plan.new:
            if entry.verdict is not None and entry.file is None:  # nothing readable: nothing more to count
                entry.verdict.bad_lines, entry.verdict.records, entry.verdict.misplaced = {}, 0, 0
                entry.verdict.lateness_s = self.lateness_s
        self.verdicts.save([e.verdict for e in plan.new if e.verdict is not None])
        if memo is not None:
            memo.keep((e.verdict for e in plan.new if e.verdict is not None), self.lateness_s)


def missing_verdict(entry: ReadEntry) -> ObjectVerdict:
    """The verdict of an object that was gone when read (not remembered: it may come back)."""
    return verdict_for(entry.obj, entry.url, missing("listed, then gone before it could be read"))


def _misplaced_sql(ts: str, lateness_s: int) -> str:
    """True for a record time ``ts`` outside its partition's hour (``dt``, ``hour``), less the lateness."""
    hour = "strptime(dt || ' ' || \"hour\", '%Y-%m-%d %H')::TIMESTAMPTZ"
    return (f"({ts} < {hour} - INTERVAL {int(lateness_s)} SECOND "
            f"OR {ts} >= {hour} + INTERVAL {int(HOUR.total_seconds())} SECOND)")


def _workers(n: int) -> int:
    return max(1, min(n, os.cpu_count() or 1))


class BadRecordCounter:
    """Counts the bad lines of object files by reason, and their good and misplaced records."""

    def __init__(self, settings: EngineConfig | None = None) -> None:
        if settings is None:
            from logpipe.config import EngineConfig

            settings = EngineConfig()
        self.settings = settings

    def count(self, files: Sequence[str], con: Any, lateness_s: int) -> tuple[dict[str, dict[str, int]],
                                                                            dict[str, tuple[int, int]]]:
        """Per file: bad lines by reason (files with none left out), and (records, misplaced): the
        records the ``logs`` view reads, and how many of them are misplaced - a time (as the view
        parses it) before the partition's hour less ``lateness_s``, or at or after its end."""
        return self._count_bad(files, con, lateness_s)

    def count_records(self, files: Sequence[str], con: Any, lateness_s: int) -> dict[str, tuple[int, int]]:
        """(records, misplaced) per file from a ``read_json`` scan (the fallback of the line scan)."""
        ts = "TRY(CAST(\"time\" AS TIMESTAMPTZ))"  # the logs view's try(from_iso8601_timestamp(time))
        known = ", ".join(quoted(c) for c in RAW_COLUMNS)
        rows = con.execute(
            f"SELECT filename, count(*), count(*) FILTER (WHERE {_misplaced_sql('t', lateness_s)}) "
            f"FROM (SELECT filename, {ts} AS t, dt, \"hour\" FROM {read_json_sql(files, filename=True)} "
            f"  WHERE coalesce({known}) IS NOT NULL) GROUP BY filename").fetchall()
        return {str(name): (int(n), int(m)) for name, n, m in rows}

    # -- counting -------------------------------------------------------------------------------------

    def _count_bad(self, files: Sequence[str], con: Any, lateness_s: int = 600
                   ) -> tuple[dict[str, dict[str, int]], dict[str, tuple[int, int]]]:
        """Bad records of new objects by reason, from one line scan of them all (``_scan``).

        When that scan fails (an object whose lines DuckDB's CSV reader cannot split as ``read_json``
        does: a lone CR, or LF and CRLF line ends mixed), each object is scanned on its own, in
        parallel, and only the objects that still fail are counted the slower way
        (``_count_and_classify``)."""
        import duckdb

        def slow(paths: Sequence[str]) -> tuple[dict[str, dict[str, int]], dict[str, tuple[int, int]]]:
            return self._count_and_classify(paths, con), self.count_records(paths, con, lateness_s)

        try:
            return self._scan_all(files, lateness_s=lateness_s)
        except duckdb.Error:
            if len(files) == 1:
                return slow(files)

        def one(path: str) -> tuple[str, tuple[dict[str, dict[str, int]], dict[str, tuple[int, int]]] | None]:
            try:
                return path, self._scan_all([path], threads=1, lateness_s=lateness_s)
            except duckdb.Error:
                return path, None

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, min(len(files), os.cpu_count() or 1))) as pool:
            scanned = list(pool.map(one, files))
        found: dict[str, dict[str, int]] = {}
        placed: dict[str, tuple[int, int]] = {}
        for _path, result in scanned:
            if result is not None:
                found.update(result[0])
                placed.update(result[1])
        rest = [path for path, result in scanned if result is None]
        if rest:
            bad, counts = slow(rest)
            found.update(bad)
            placed.update(counts)
        return found, placed

    def _scan(self, files: Sequence[str], threads: int = 0) -> dict[str, dict[str, int]]:
        """Bad lines by reason per file (``_scan_all``)."""
        return self._scan_all(files, threads)[0]

    def _scan_all(self, files: Sequence[str], threads: int = 0, lateness_s: int = 600
                  ) -> tuple[dict[str, dict[str, int]], dict[str, tuple[int, int]]]:
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

        The same scan counts each file's good records and the misplaced ones among them. A record
        whose line holds ``"time":"<its partition's date>T<hour>:`` is placed (nearly all of them: a
        substring test); only the others have their time parsed (as the ``logs`` view does) and
        compared with the partition's hour (``dt`` and ``hour`` from the path).
        """

        con = connect(self.settings, threads, readable=readable_directories(files))
        try:
            listed = "[" + ", ".join(sql_string(f) for f in files) + "]"
            source = (f"read_csv({listed}, columns={{'line': 'VARCHAR'}}, delim={sql_string(_LINE_DELIMITER)}, "
                      "quote='', escape='', header=false, auto_detect=false, strict_mode=true, "
                      f"compression='gzip', filename=true, hive_partitioning=true, hive_types_autocast=false, "
                      f"max_line_size={_MAX_LINE_SIZE}, "
                      f"buffer_size={2 * _MAX_LINE_SIZE}, store_rejects=true)")
            # A valid line that opens with a known key whose value is not null (n) makes a row.
            first_key = sql_string('^[{]"(' + "|".join(RAW_COLUMNS) + r')":\s*[^\sn]')
            paths = "[" + ", ".join(sql_string('$."' + c + '"') for c in RAW_COLUMNS) + "]"
            big = f"strlen(line) > {MAX_RECORD_BYTES}"
            reason = (
                "CASE WHEN NOT json_valid(line) THEN CASE WHEN trim(line, ' ' || chr(9) || chr(13)) = '' THEN 'blank' "
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

            placed_fast = "contains(line, '\"time\":\"' || dt || 'T' || \"hour\" || ':')"
            parsed = "TRY(CAST(json_extract_string(line, '$.time') AS TIMESTAMPTZ))"
            placed: dict[str, tuple[int, int]] = {}
            for name, why, n, misplaced in con.execute(
                    f"SELECT filename, reason, count(*), count(*) FILTER (WHERE reason IS NULL AND NOT {placed_fast} "
                    f"  AND {_misplaced_sql(parsed, lateness_s)}) "
                    f"FROM (SELECT filename, line, dt, \"hour\", {reason} AS reason FROM {source} "
                    "WHERE line IS NOT NULL) GROUP BY ALL").fetchall():
                if why is None:
                    records, before = placed.get(str(name), (0, 0))
                    placed[str(name)] = (records + int(n), before + int(misplaced))
                elif why != "blank":
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
        return found, placed

    def _count_and_classify(self, files: Sequence[str], con: Any) -> dict[str, dict[str, int]]:
        """The fallback: DuckDB counts each object's all-NULL rows (a ``read_json`` scan), and
        logpipe.store's reader names the reasons of the objects that have any."""
        rows = con.execute(
            f"SELECT filename, count(*) FILTER (WHERE {all_null_predicate()}) "
            f"FROM {read_json_sql(files, filename=True)} GROUP BY filename").fetchall()
        counts = {str(name): int(n) for name, n in rows}
        bad_files = [f for f in files if counts.get(f)]
        # Decompression (most of the cost) releases the GIL: one worker per core.
        from concurrent.futures import ThreadPoolExecutor

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


__all__ = ["BadRecordCounter", "ObjectReader", "ReadEntry", "ReadPlan", "missing_verdict"]
