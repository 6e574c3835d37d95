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
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from logpipe.config import Config, EngineConfig
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
from logpipe.engines.transpile import to_duckdb
from logpipe.errors import EngineError
from logpipe.layout import DT_FORMAT, HOUR, floor_hour, raw_fingerprint, utc
from logpipe.schema import PARTITION_COLUMNS, RAW_COLUMNS, compaction_select_sql
from logpipe.store import Store
from logpipe.store.compacted import closed_hours, list_compacted, read_watermark, write_watermark
from logpipe.store.logs import SERVICE_FOLDER

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


@functools.lru_cache(maxsize=1)
def _compaction_select() -> str:
    """The Parquet hour's rows in DuckDB SQL (the view's expressions, translated like any query)."""
    return to_duckdb(compaction_select_sql("logs_raw"))


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
class CompactReport:
    watermark_before: datetime | None
    watermark_after: datetime | None
    hours: list[HourResult] = field(default_factory=list)
    backlog: int = 0  # closed hours left for the next run (max_hours)

    @property
    def written(self) -> list[HourResult]:
        return [h for h in self.hours if h.action == "written"]


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
        again at the hours of ``recheck`` before it (rewritten only if their raw objects changed)."""
        before = read_watermark(self.store)
        first = self.first_raw_hour()
        report = CompactReport(before, before)
        if first is None and before is None:
            return report
        start = before if before is not None else floor_hour(first)  # type: ignore[arg-type]
        if before is not None and recheck > timedelta(0):
            lowest = max(floor_hour(before - recheck), floor_hour(first) if first else before - recheck)
            for hour in closed_hours(lowest, min(utc(now), before + HOUR + self.lateness), self.lateness):
                if hour < before:
                    report.hours.append(self.compact_hour(hour, progress))
        hours = closed_hours(start, now, self.lateness)
        if max_hours is not None and len(hours) > max_hours:
            report.backlog = len(hours) - max_hours
            hours = hours[:max_hours]
        for hour in hours:
            report.hours.append(self.compact_hour(hour, progress))
            report.watermark_after = hour + HOUR
            write_watermark(self.store, hour + HOUR, first)
        return report

    # -- one hour ---------------------------------------------------------------------------------

    def compact_hour(self, hour: datetime, progress: Progress | None = None) -> HourResult:
        """The hour's Parquet file, made from its raw objects as they are now (idempotent)."""
        hour = floor_hour(hour)
        objects = self.store.list_window(hour, hour + HOUR).objects
        existing = [key for key, _size, _v in self.store.objects.iter_objects(self.store.layout.compacted_dir(hour) + "/")
                    if self.store.layout.parse_compacted_key(key)]
        if not objects:
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
                source = _compaction_select()
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
    from logpipe.config import parse_duration
    from logpipe.state.db import open_state

    store = Store(config.store, region=config.aws.region)
    lateness = parse_duration(config.service.lateness)
    reader = ObjectReader(open_state(config.state.url), config.engine, store, lateness)
    return Compactor(config.engine, store, reader, timedelta(seconds=lateness))


__all__ = ["ROW_GROUP_BYTES", "ROW_GROUP_ROWS", "SORT_COLUMNS", "CompactReport", "Compactor", "HourResult",
           "compacted_view_bytes", "open_compactor"]
