"""Columnar hours: each closed hour of raw gzip JSON rewritten once as one Parquet file.

A full scan of gzip JSON cannot be faster than decompressing it; the only way below that floor is to
read fewer bytes. A closed hour (no object can land in it any more: one hour plus the lateness after
it began) is read once through the same path a query takes - listed, every object checked and
salvaged (``logpipe.engines.bad_records``), unreadable lines dropped and counted - and written as
zstd Parquet sorted by service, level and time, every raw column kept as the string it was, plus its
partition (dt, hour) and the view's derived fields computed once with the view's own expressions
(``lp_ts_ms``, ``lp_service``, ``lp_level``: ``logpipe.schema``). The ``logs`` view over it therefore
answers exactly what it answers over the raw hour, while a query reads only the columns it uses (a
count of errors by service reads three small columns, not the messages), and row groups whose
service/level/time range it excludes are skipped (min/max statistics on sorted columns).

The raw objects stay: they are the source of truth and keep their retention. The compaction
watermark (``logpipe.store.compacted``) moves past an hour only once its Parquet file is stored, hour
by hour in order, so a reader never finds a gap. The Parquet file's name carries the fingerprint of
the raw objects it was made from: a raw hour that changed after compaction (an object delivered far
too late) is read raw until it is compacted again (``--recheck``).

Columnar days: once every hour of a UTC day lies before the watermark (so the day is closed past the
lateness), its Parquet hours are merged into one day file (``logpipe.layout``: ``{prefix}-parquet-daily``),
sorted by service, level and time like them, row groups cut like theirs. A month-long query then opens
30 files, not 720: each Parquet file costs a reader its footer and column set-up whatever its size
(DuckDB: ~0.2 ms of CPU per file, 0.19 s for 720 hours against 0.02 s for 30 days of the same rows), and
Athena, too, plans a split per file and is known to do badly on many small objects (AWS: "Optimize
data", "Top 10 performance tuning tips for Amazon Athena"). The day's name carries a fingerprint of the
hour files it merged, so an hour compacted again makes it stale. Before an hour of a merged day is
written again, the day watermark moves back to that day; the day is merged again in the same run and
the watermark moves forward day by day. Athena, which reads the days before the day watermark from the
day table without any fingerprint check, so never sees the old and the new day file side by side, nor
a day file older than its hours (DuckDB checks the fingerprints as well). The hour files stay: readers fall back to them
(a stale day, a window covering part of a day on DuckDB), and Athena's hour table keeps working; they
cost their storage again (~the day file's size; lifecycle expires both with the raw objects).
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe.engines import translation_cache
from logpipe.engines.bad_records import ObjectReader, ReadEntry, ReadPlan
from logpipe.engines.base import Progress
from logpipe.engines.duckdb import open_connection
from logpipe.engines.raw_sql import (
    all_null_predicate,
    connect,
    quoted,
    read_json_sql,
    readable_directories,
    sql_string,
)
from logpipe.errors import EngineError
from logpipe.layout import DAY, DT_FORMAT, HOUR, day_fingerprint, floor_day, floor_hour, raw_fingerprint, utc
from logpipe.schema import PARTITION_COLUMNS, RAW_COLUMNS, compaction_select_sql
from logpipe.store import Store
from logpipe.store.compacted import (
    CompactedHour,
    closed_hours,
    list_compacted,
    read_day_watermark,
    read_watermark,
    write_day_watermark,
    write_watermark,
)
from logpipe.store.logs import SERVICE_FOLDER

if TYPE_CHECKING:
    from logpipe.config import Config, EngineConfig

log = logging.getLogger(__name__)

# Athena reads a Parquet file split by row group; AWS suggests row groups of about 128 MB-512 MB
# ("Top 10 performance tuning tips for Amazon Athena"). An hour of one service's logs rarely fills
# one, so most hours are one row group; a huge hour is cut at this size.
ROW_GROUP_BYTES = "128MB"
ROW_GROUP_ROWS = 1_000_000
SORT_COLUMNS = ("lp_service", "lp_level", "lp_ts_ms")


def source_sql(files: list[str], cols: str) -> str:
    """The raw records of an hour's files (unreadable lines, rows of NULLs, left out: they are counted)."""
    if files:
        return f"SELECT {cols} FROM {read_json_sql(files)} WHERE NOT ({all_null_predicate()})"
    # every object was gone or unreadable: an empty hour, still written (it was looked at)
    return "SELECT " + ", ".join(f"CAST(NULL AS VARCHAR) AS {quoted(c)}" for c in (*RAW_COLUMNS, *PARTITION_COLUMNS)) \
        + " WHERE false"


@functools.lru_cache(maxsize=4)
def _compaction_select(cache_dir: str | None = None) -> str:
    """The Parquet hour's rows in DuckDB SQL (the view's expressions, translated like any query);
    remembered in the cache folder as the queries' translations are, so a warm compaction does not
    import sqlglot (~40 ms of a short ``logpipe run``)."""
    text = compaction_select_sql("logs_raw")
    key = ["compaction-select", text]
    remembered = translation_cache.load(cache_dir, key)
    if isinstance(remembered, str):
        return remembered
    from logpipe.engines.transpile import to_duckdb

    translated = to_duckdb(text)
    translation_cache.save(cache_dir, key, translated)
    return translated


@dataclass
class HourResult:
    """What compacting one hour did."""

    hour: datetime
    action: str  # "written", "kept" (its Parquet file matches the raw hour), "empty" (no raw objects)
    raw_objects: int = 0
    raw_bytes: int = 0
    records: int = 0
    parquet_bytes: int = 0
    key: str | None = None


@dataclass
class DayResult:
    """What merging one day did."""

    day: datetime
    # "written", "kept" (its day file matches its hour files), "empty" (no compacted hour), "stale" (an
    # hour could not be made current: not merged, the day watermark stops before it)
    action: str
    hours: int = 0  # hour files merged
    hour_bytes: int = 0
    records: int = 0
    parquet_bytes: int = 0
    key: str | None = None


@dataclass
class CompactReport:
    watermark_before: datetime | None
    watermark_after: datetime | None
    hours: list[HourResult] = field(default_factory=list)
    backlog: int = 0  # closed hours left for the next run (max_hours)
    day_backlog: int = 0  # closed days left for the next run (max_hours // 24)
    day_watermark_before: datetime | None = None
    day_watermark_after: datetime | None = None
    days: list[DayResult] = field(default_factory=list)

    @property
    def written(self) -> list[HourResult]:
        return [h for h in self.hours if h.action == "written"]

    @property
    def merged(self) -> list[DayResult]:
        return [d for d in self.days if d.action == "written"]


class Compactor:
    """Writes the store's closed hours as Parquet and moves the compaction watermark."""

    def __init__(self, settings: EngineConfig, store: Store, reader: ObjectReader | None = None,
                 lateness: timedelta = timedelta(minutes=10)) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self.lateness = lateness
        self.work_dir = Path(store.config.cache_dir).expanduser() / "compact"

    # -- which hours ------------------------------------------------------------------------------

    def first_raw_hour(self) -> datetime | None:
        """The first hour of the oldest day folder of the raw store (None: an empty store)."""
        prefix = self.store.layout.prefix
        roots = ([f"{prefix}/{SERVICE_FOLDER}{s}" for s in self.store.services()]
                 if self.store.config.service_partition else [prefix])
        days = []
        for root in roots:
            folders, _ = self.store.objects.entries(root + "/")
            for name in folders:
                if name.startswith("dt="):
                    try:
                        days.append(datetime.strptime(name.removeprefix("dt="), DT_FORMAT))
                    except ValueError:
                        continue
        return utc(min(days)) if days else None

    def run(self, now: datetime, max_hours: int | None = None, recheck: timedelta = timedelta(0),
            progress: Progress | None = None) -> CompactReport:
        """Compact every closed hour past the watermark (oldest first, at most ``max_hours``), and look
        again at the hours of ``recheck`` before it (rewritten only if their raw objects changed); then
        merge the days wholly before the watermark (``merge_days``)."""
        before = read_watermark(self.store)
        first = self.first_raw_hour()
        report = CompactReport(before, before)
        if first is None and before is None:
            return report
        day_mark = read_day_watermark(self.store)
        report.day_watermark_before = report.day_watermark_after = day_mark

        def step_back(hour: datetime) -> None:
            # An hour of a merged day is about to change: readers of the day table (Athena, which
            # checks no fingerprint) read that day from its hours until it is merged again.
            nonlocal day_mark
            if day_mark is not None and floor_day(hour) < day_mark:
                day_mark = floor_day(hour)
                write_day_watermark(self.store, day_mark)
                report.day_watermark_after = day_mark

        start = before if before is not None else floor_hour(first)  # type: ignore[arg-type]
        if before is not None and recheck > timedelta(0):
            lowest = max(floor_hour(before - recheck), floor_hour(first) if first else before - recheck)
            for hour in closed_hours(lowest, min(utc(now), before + HOUR + self.lateness), self.lateness):
                if hour < before:
                    report.hours.append(self.compact_hour(hour, progress, step_back))
        hours = closed_hours(start, now, self.lateness)
        if max_hours is not None and len(hours) > max_hours:
            report.backlog = len(hours) - max_hours
            hours = hours[:max_hours]
        for hour in hours:
            report.hours.append(self.compact_hour(hour, progress, step_back))
            report.watermark_after = hour + HOUR
            write_watermark(self.store, hour + HOUR, first)
        # as many days as hours: a first run over a long compacted history catches up over several runs
        self.merge_days(report, first, progress, step_back, max(1, max_hours // 24) if max_hours else None)
        return report

    # -- days -------------------------------------------------------------------------------------

    def merge_days(self, report: CompactReport, first: datetime | None, progress: Progress | None = None,
                   step_back: Callable[[datetime], None] | None = None, max_days: int | None = None) -> None:
        """Merge every day wholly before the hour watermark, from the day watermark on (oldest first; at
        most ``max_days``, the rest counted in ``report.day_backlog``).
        The day watermark moves past a day only once its day file is stored (or it has none to have),
        day by day in order; it was moved back over any merged day one of whose hours changed in this
        run (``step_back``), so such a day is merged again here."""
        mark = read_day_watermark(self.store)
        hour_mark = report.watermark_after
        day = mark if mark is not None else (floor_day(first) if first is not None else None)
        if hour_mark is None or day is None:
            return
        while day + DAY <= hour_mark:
            if max_days is not None and len(report.days) >= max_days:
                report.day_backlog = (floor_day(hour_mark) - day).days
                break
            result = self.merge_day(day, report, progress, step_back)
            report.days.append(result)
            if result.action == "stale":
                break
            day += DAY
            write_day_watermark(self.store, day)
            report.day_watermark_after = day

    def merge_day(self, day: datetime, report: CompactReport, progress: Progress | None = None,
                  step_back: Callable[[datetime], None] | None = None) -> DayResult:
        """The day's Parquet file, merged from its hour files as they are now (idempotent). An hour of
        the day whose raw objects changed since it was compacted is compacted again first (its result
        goes to ``report.hours``). The day must not lie before the day watermark (readers of the day
        table would see its file replaced)."""
        day = floor_day(day)
        hours, stale = self._day_hours(day)
        if stale:
            for hour in stale:
                report.hours.append(self.compact_hour(hour, progress, step_back))
            hours, stale = self._day_hours(day)
            if stale:
                return DayResult(day, "stale")
        existing = [(key, size) for key, size, _v in self.store.objects.iter_objects(self.store.layout.daily_dir(day) + "/")
                    if self.store.layout.parse_daily_key(key)]
        hour_bytes = sum(h.size for h in hours)
        if not hours:
            for key, _size in existing:
                self.store.objects.delete(key)
            return DayResult(day, "empty")
        key = self.store.layout.daily_key(day, day_fingerprint([(h.hour, h.fingerprint) for h in hours]))
        if [k for k, _ in existing] == [key]:
            return DayResult(day, "kept", len(hours), hour_bytes, parquet_bytes=existing[0][1], key=key)
        if progress:
            progress(f"merging {day:%Y-%m-%d} ({len(hours)} hours)")
        records, data = self._merge(day, hours)
        self.store.write_object(key, data)
        for old, _size in existing:
            if old != key:
                self.store.objects.delete(old)
        log.info("merged %s: %d hour files, %d bytes -> %d records, %d bytes", day.date(), len(hours), hour_bytes,
                 records, len(data))
        return DayResult(day, "written", len(hours), hour_bytes, records, len(data), key)

    def _day_hours(self, day: datetime) -> tuple[list[CompactedHour], list[datetime]]:
        """The day's current hour files in hour order (an hour with no raw object has none to give),
        and the hours with raw objects that have no Parquet file made from exactly them (stale)."""
        files = list_compacted(self.store, day, day + DAY)
        by_hour: dict[datetime, list[tuple[str, int]]] = {}
        for obj in self.store.list_window(day, day + DAY).objects:
            by_hour.setdefault(obj.partition.hour, []).append((obj.key, obj.size))
        hours: list[CompactedHour] = []
        stale: list[datetime] = []
        for hour in sorted(by_hour):
            made = files.get(hour)
            if made is None or made.fingerprint != raw_fingerprint(by_hour[hour]):
                stale.append(hour)
            else:
                hours.append(made)
        return hours, stale

    def _merge(self, day: datetime, hours: list[CompactedHour]) -> tuple[int, bytes]:
        """The day file's bytes: the hour files' rows sorted like each of them (service, level, time)."""
        copies = self.store.objects.local_copies([(h.key, h.size) for h in hours])
        files = []
        for made, path in zip(hours, copies, strict=True):
            if path is None:
                raise EngineError(f"the Parquet hour {self.store.url(made.key)} was listed, then gone: run "
                                  "'logpipe compact' again (another compaction replaced it)")
            files.append(str(path))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="day-", dir=self.work_dir))
        target = folder / "day.parquet"
        try:
            con = connect(self.settings, readable=readable_directories([*files, str(target)]))
            try:
                order = ", ".join(quoted(c) + " NULLS LAST" for c in SORT_COLUMNS)
                listed = "[" + ", ".join(sql_string(f) for f in files) + "]"
                meta = {"logpipe_day": day.strftime(DT_FORMAT), "logpipe_hours": str(len(hours))}
                kv = "{" + ", ".join(f"{k}: {sql_string(v)}" for k, v in meta.items()) + "}"
                # the hour files' own columns (dt and hour included), read from the files, not the folders
                row = con.execute(
                    f"COPY (SELECT * FROM read_parquet({listed}, hive_partitioning=false) ORDER BY {order}) "
                    f"TO {sql_string(str(target))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS}, "
                    f"ROW_GROUP_SIZE_BYTES {sql_string(ROW_GROUP_BYTES)}, KV_METADATA {kv})").fetchone()
            finally:
                con.close()
            return (int(row[0]) if row else 0), target.read_bytes()
        except OSError as exc:
            raise EngineError(f"cannot write the Parquet day {day:%Y-%m-%d} in {self.work_dir}: {exc}") from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- one hour ---------------------------------------------------------------------------------

    def compact_hour(self, hour: datetime, progress: Progress | None = None,
                     before_change: Callable[[datetime], None] | None = None) -> HourResult:
        """The hour's Parquet file, made from its raw objects as they are now (idempotent).
        ``before_change(hour)`` is called before a file of the hour is written or removed."""
        hour = floor_hour(hour)
        objects = self.store.list_window(hour, hour + HOUR).objects
        existing = [key for key, _size, _v in self.store.objects.iter_objects(self.store.layout.compacted_dir(hour) + "/")
                    if self.store.layout.parse_compacted_key(key)]
        if not objects:
            if existing and before_change is not None:
                before_change(hour)
            for key in existing:
                self.store.objects.delete(key)
            return HourResult(hour, "empty")
        fingerprint = raw_fingerprint([(o.key, o.size) for o in objects])
        key = self.store.layout.compacted_key(hour, fingerprint)
        raw_bytes = sum(o.size for o in objects)
        made = list_compacted(self.store, hour, hour + HOUR).get(hour)
        if made is not None and made.key == key:
            return HourResult(hour, "kept", len(objects), raw_bytes, parquet_bytes=made.size, key=key)
        if progress:
            progress(f"compacting {hour:%Y-%m-%d %H}:00 ({len(objects)} objects)")
        plan = self._plan(objects, progress)
        records, data = self._write(plan, hour, len(objects), raw_bytes)
        if before_change is not None:
            before_change(hour)
        self.store.write_object(key, data)
        for old in existing:
            if old != key:
                self.store.objects.delete(old)
        log.info("compacted %s: %d objects, %d bytes -> %d records, %d bytes", hour, len(objects), raw_bytes,
                 records, len(data))
        return HourResult(hour, "written", len(objects), raw_bytes, records, len(data), key)

    def _plan(self, objects: list[Any], progress: Progress | None) -> ReadPlan:
        if self.reader is not None:
            return self.reader.prepare(objects, progress)
        plan = ReadPlan()
        fetched = self.store.fetch(objects, progress)
        plan.entries = [ReadEntry(obj, self.store.url(obj.key), None, path) for obj, path in fetched.files]
        return plan

    def _write(self, plan: ReadPlan, hour: datetime, raw_objects: int, raw_bytes: int) -> tuple[int, bytes]:
        """The Parquet bytes of the plan's files (and the verdicts of its new objects saved)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="hour-", dir=self.work_dir))
        target = folder / "hour.parquet"
        try:
            con = open_connection(self.settings, readable=readable_directories([*plan.files, str(target)]))
            try:
                cols = ", ".join(quoted(c) for c in (*RAW_COLUMNS, *PARTITION_COLUMNS))
                order = ", ".join(quoted(c) + " NULLS LAST" for c in SORT_COLUMNS)
                con.execute(f"CREATE VIEW logs_raw AS {source_sql(plan.files, cols)}")
                meta = {"logpipe_hour": hour.strftime("%Y-%m-%dT%H:00:00Z"), "logpipe_raw_objects": str(raw_objects),
                        "logpipe_raw_bytes": str(raw_bytes)}
                kv = "{" + ", ".join(f"{k}: {sql_string(v)}" for k, v in meta.items()) + "}"
                source = _compaction_select(self.store.config.cache_dir)
                row = con.execute(
                    f"COPY ({source} ORDER BY {order}) TO {sql_string(str(target))} "
                    f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS}, "
                    f"ROW_GROUP_SIZE_BYTES {sql_string(ROW_GROUP_BYTES)}, KV_METADATA {kv})").fetchone()
                records = int(row[0]) if row else 0
                if self.reader is not None:
                    self.reader.finish(plan, con)
            finally:
                con.close()
            return records, target.read_bytes()
        except OSError as exc:
            raise EngineError(f"cannot write the Parquet hour {hour:%Y-%m-%d %H}:00 in {self.work_dir}: {exc}") from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def compacted_view_bytes(files: list[str], columns: set[str], settings: EngineConfig) -> int:
    """Bytes of the column chunks of ``columns`` in Parquet files: what a columnar engine (Athena on the
    Parquet table) reads for a query that uses those columns, before any row group is skipped."""
    if not files or not columns:
        return 0
    con = connect(settings, readable=readable_directories(files))
    try:
        listed = "[" + ", ".join(sql_string(f) for f in files) + "]"
        wanted = "[" + ", ".join(sql_string(c) for c in sorted(columns)) + "]"
        row = con.execute(f"SELECT coalesce(sum(total_compressed_size), 0) FROM parquet_metadata({listed}) "
                          f"WHERE path_in_schema IN (SELECT unnest({wanted}))").fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0




def open_compactor(config: Config) -> Compactor:
    """The compactor of the configured store, checking and counting objects like the DuckDB engine."""
    from logpipe.durations import parse_duration
    from logpipe.state.db import open_state

    store = Store(config.store, region=config.aws.region)
    lateness = parse_duration(config.service.lateness)
    reader = ObjectReader(open_state(config.state.url), config.engine, store, lateness)
    return Compactor(config.engine, store, reader, timedelta(seconds=lateness))


__all__ = ["ROW_GROUP_BYTES", "ROW_GROUP_ROWS", "SORT_COLUMNS", "CompactReport", "Compactor", "DayResult", "HourResult",
           "compacted_view_bytes", "open_compactor"]
