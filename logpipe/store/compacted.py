"""The columnar hours and days of the store: which are compacted, and the compaction watermarks.

The layout is ``logpipe.layout``'s (``{prefix}-parquet/dt=/hour=/{hour}-{fingerprint}.parquet`` and
``{prefix}-parquet-daily/dt=/{day}-{fingerprint}.parquet``); this module lists it and keeps the
watermarks beside it, in the store itself, so that every reader of the store (DuckDB here, Athena
through the same bucket) agrees on where the days end, the Parquet hours begin and raw begins.
Writing the Parquet files is the engine's job (``logpipe.engines.compact``).

Which files a window reads (``split_hours``), each record once:

* an hour before the hour watermark whose Parquet file was made from exactly the raw objects listed
  now is read from that file; every other hour raw;
* a day before the day watermark, wholly inside the window's scan, whose every hour with raw objects
  is such a compacted hour and whose day file was merged from exactly those hour files (its
  fingerprint) is read from the day file instead of its hour files. A stale day (an hour compacted
  again, an hour gone raw) falls back to the hour rule. A day the window covers in part is read from
  its hour files: the day file would hold the other hours too (measured: an hourly query reading the
  ``log`` column over a day file costs ~5x the hour file; the service's hourly windows must not).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logpipe.errors import StoreError
from logpipe.layout import (
    DAY,
    DT_FORMAT,
    HOUR,
    day_fingerprint,
    floor_day,
    floor_hour,
    hours_in_window,
    raw_fingerprint,
    utc,
)
from logpipe.store.base import ObjectMissing, StoredObject
from logpipe.store.logs import Store


@dataclass(frozen=True)
class CompactedHour:
    """One Parquet hour: its key and size, the hour, and the fingerprint of the raw objects it holds."""

    key: str
    size: int
    hour: datetime
    fingerprint: str


@dataclass(frozen=True)
class CompactedDay:
    """One Parquet day: its key and size, the day (00:00 UTC), and the fingerprint of the hour files it
    merged (``logpipe.layout.day_fingerprint``)."""

    key: str
    size: int
    day: datetime
    fingerprint: str


def read_watermark(store: Store) -> datetime | None:
    """The first hour not compacted (every hour before it is), or None before the first compaction."""
    return _read_mark(store, store.layout.watermark_key(), "read every hour raw")


def read_day_watermark(store: Store) -> datetime | None:
    """The first day not merged (00:00 UTC; every day before it has its day file), or None before the
    first merge."""
    mark = _read_mark(store, store.layout.daily_watermark_key(), "read the Parquet hours instead of the days")
    return floor_day(mark) if mark is not None else None


def _read_mark(store: Store, key: str, fallback: str) -> datetime | None:
    try:
        data = json.loads(store.read_bytes(key))
    except ObjectMissing:
        return None
    except (StoreError, ValueError) as exc:
        raise StoreError(f"cannot read the compaction watermark {store.url(key)}: {exc}; "
                         f"delete it to {fallback} (the next 'logpipe compact' rewrites it)") from None
    try:
        return utc(datetime.fromisoformat(data["watermark"]))
    except (KeyError, TypeError, ValueError):
        raise StoreError(f"the compaction watermark {store.url(key)} holds no "
                         f"'watermark' time; delete it to {fallback}") from None


def write_watermark(store: Store, watermark: datetime, first: datetime | None) -> None:
    """Move the watermark (one small object, replaced whole: a reader sees the old or the new one)."""
    body = {"watermark": floor_hour(watermark).isoformat().replace("+00:00", "Z"),
            "first": floor_hour(first).isoformat().replace("+00:00", "Z") if first else None,
            "format": 1}
    store.write_object(store.layout.watermark_key(), json.dumps(body).encode())


def write_day_watermark(store: Store, day: datetime) -> None:
    """Move the day watermark: days before ``day`` are read from their day files (on Athena whatever
    their fingerprint, so the compactor moves it back over a day before one of its hours changes)."""
    body = {"watermark": floor_day(day).isoformat().replace("+00:00", "Z"), "format": 1}
    store.write_object(store.layout.daily_watermark_key(), json.dumps(body).encode())


def list_compacted_days(store: Store, start: datetime, end: datetime) -> dict[datetime, CompactedDay]:
    """The day files of the days from ``start``'s to before ``end`` (both 00:00 UTC-floored). Several
    files for one day (a merge interrupted before the old file was removed): a marker that matches no
    fingerprint, so the day is read from its hours."""
    first, end = floor_day(start), utc(end)
    if first >= end:
        return {}
    found: dict[datetime, list[CompactedDay]] = {}
    # one listing of the whole prefix (a key a day: one request on S3 for years of days, where a
    # listing per day folder was a request per day of the window)
    for key, size, _version in store.objects.iter_objects(store.layout.daily_prefix + "/"):
        parsed = store.layout.parse_daily_key(key)
        if parsed and first <= parsed[0] < end:
            found.setdefault(parsed[0], []).append(CompactedDay(key, size, parsed[0], parsed[1]))
    return {day: files[0] if len(files) == 1 else CompactedDay(files[0].key, files[0].size, day, "several")
            for day, files in found.items()}


# Windows up to this long list the Parquet hour folders one by one, longer ones the day folders: on S3
# each folder is a LIST request, so hour by hour pays only for the hourly windows (with the hour read
# past their end); on a local folder a day's listing walks its 24 hour folders anyway.
LIST_BY_HOUR = timedelta(hours=3)


def list_compacted(store: Store, start: datetime, end: datetime, skip: Collection[datetime] = ()
                   ) -> dict[datetime, CompactedHour]:
    """The Parquet hours of ``start <= hour < end``, listed by the day folders that exist (a short window:
    by its own hour folders), but the days ``skip`` names (00:00 UTC of each). Two files for one hour
    (a re-compaction interrupted before the old one was removed): the newest listing wins only when it
    matches; the caller checks fingerprints against the raw hour anyway."""
    skipped = {day.strftime(DT_FORMAT) for day in skip}
    first, end = floor_hour(start), utc(end)
    found: dict[datetime, list[CompactedHour]] = {}
    if first >= end:
        return {}
    if end - first <= LIST_BY_HOUR:
        # A short window (a run cycle's hourly ones) lists its own hour folders, where the compaction
        # writes each hour (layout.compacted_dir), not the whole day of each: a 2-hour window listed
        # 24 hour folders. A file elsewhere in the day is not one of its hours: the hour is read raw.
        folders = [store.layout.compacted_dir(hour) for hour in hours_in_window(first, end)
                   if hour.strftime(DT_FORMAT) not in skipped]
    else:
        names, _ = store.objects.entries(store.layout.compacted_prefix + "/")
        last_day = (end - timedelta(microseconds=1)).strftime(DT_FORMAT)
        days = sorted(name.removeprefix("dt=") for name in names if name.startswith("dt="))
        folders = [store.layout.compacted_day_dir(day) for day in days
                   if first.strftime(DT_FORMAT) <= day <= last_day and day not in skipped]
    for folder in folders:
        for key, size, _version in store.objects.iter_objects(folder + "/"):
            parsed = store.layout.parse_compacted_key(key)
            if parsed and first <= parsed[0] < end:
                found.setdefault(parsed[0], []).append(CompactedHour(key, size, parsed[0], parsed[1]))
    return {hour: files[0] if len(files) == 1 else _pick(files) for hour, files in found.items()}


def _pick(files: list[CompactedHour]) -> CompactedHour:
    # Several files for one hour: keep them all out of the way of a match by returning a marker that
    # matches no fingerprint (the hour is then read raw until the next compaction tidies it up).
    return CompactedHour(files[0].key, files[0].size, files[0].hour, "several")


@dataclass
class HourSplit:
    """A window's hours split at the watermarks: the Parquet days and hours to read, and the raw
    objects to read."""

    compacted: list[CompactedHour]  # the Parquet hours read (not those a day file stands for)
    raw: list[StoredObject]
    # Raw objects of the compacted hours and days (not read: their Parquet file holds them), for data quality.
    covered: list[StoredObject]
    watermark: datetime | None
    days: list[CompactedDay] = field(default_factory=list)  # the day files read
    day_hours: int = 0  # compacted hours read through those day files
    # Days read from their day file without listing their raw objects (``settled_days``): none of
    # their objects is in ``covered``; each with what the engine remembered of it (its data quality).
    settled: dict[datetime, Any] = field(default_factory=dict)
    # The stamps of the days whose raw objects were listed and found in their day file, taken before
    # the listing (``Store.day_stamp``): what the engine remembers to settle them next time.
    stamps: dict[datetime, Any] = field(default_factory=dict)

    @property
    def parquet(self) -> list[tuple[str, int]]:
        """(key, size) of every Parquet file read: the days, then the hours."""
        return [(d.key, d.size) for d in self.days] + [(h.key, h.size) for h in self.compacted]


def whole_days(start: datetime, end: datetime) -> list[datetime]:
    """The days (00:00 UTC) lying wholly inside ``start <= time < end``."""
    day = floor_day(start)
    if day < utc(start):
        day += DAY
    days = []
    while day + DAY <= utc(end):
        days.append(day)
        day += DAY
    return days


def settled_days(store: Store, start: datetime, end: datetime, watermark: datetime | None,
                 remembered: Callable[[CompactedDay, list[tuple[str, int, int]]], tuple[int, Any] | None]
                 ) -> tuple[dict[datetime, tuple[CompactedDay, int, Any]], dict[datetime, Any]]:
    """The whole days of the window that can be read from their day file without listing their raw
    objects, and the stamps (taken now, before any listing) of the other candidate days.

    A day settles when its raw folders' stamp (``Store.day_stamp``) is the one ``remembered`` has for
    its current day file (the number of its hours with raw objects and what the caller keeps of the
    day, handed on in ``HourSplit.settled``; None: none remembered): the
    objects are the same as when a listing found exactly them merged into that file. Why: the raw
    listing was most of what a compacted query cost outside DuckDB, growing with the objects an hour
    holds (a busy fleet's hundreds), where a stamp is one folder read and a stat per hour folder.

    A stamp taken within ``STAMP_SETTLE`` of a folder's mtime is not given out (timestamps are coarse:
    a folder changed twice within one tick could keep its mtime)."""
    if watermark is None:
        return {}, {}
    candidates = whole_days(start, min(utc(end), watermark))
    mark = read_day_watermark(store) if candidates else None
    candidates = [d for d in candidates if mark is not None and d + DAY <= mark]
    if not candidates:
        return {}, {}
    made = list_compacted_days(store, candidates[0], candidates[-1] + DAY)
    settled: dict[datetime, tuple[CompactedDay, int, Any]] = {}
    stamps: dict[datetime, Any] = {}
    newest = time.time_ns() - STAMP_SETTLE_NS
    for day in candidates:
        found = made.get(day)
        if found is None or found.fingerprint == "several":
            continue
        stamp = store.day_stamp(day)
        if stamp is None or max(mtime for _, mtime, _ in stamp) > newest:
            continue
        known = remembered(found, stamp)
        if known is not None:
            settled[day] = (found, *known)
        else:
            stamps[day] = stamp
    return settled, stamps


# A folder stamp is trusted only once its newest mtime is this much in the past.
STAMP_SETTLE_NS = 5 * 1_000_000_000


def split_hours(store: Store, objects: Sequence[StoredObject], start: datetime, end: datetime,
                watermark: datetime | None, days: bool = True,
                settled: Mapping[datetime, tuple[CompactedDay, int, Any]] | None = None) -> HourSplit:
    """Which of a window's hours are read from Parquet: an hour before the watermark whose Parquet file
    was made from exactly the raw objects listed now. Every other hour is read raw. So each record is
    read once, from one form or the other, never both and never neither.

    ``days``: a valid day file (see the module) stands for its hours - the day watermark is read only
    when the window covers a whole day before the hour watermark, and the hour files of a valid day
    are not listed. ``settled`` (``settled_days``): days read from their day file whose raw objects
    were not listed (``objects`` holds none of them)."""
    if watermark is None or floor_hour(start) >= watermark:
        return HourSplit([], list(objects), [], watermark)
    settled = settled or {}
    by_hour: dict[datetime, list[StoredObject]] = {}
    for obj in objects:
        by_hour.setdefault(obj.partition.hour, []).append(obj)
    fingerprints = {hour: raw_fingerprint([(o.key, o.size) for o in raw]) for hour, raw in by_hour.items()}
    split = HourSplit([], [], [], watermark)
    valid = _valid_days(store, fingerprints, [d for d in whole_days(start, min(utc(end), watermark))
                                              if d not in settled]) if days else {}
    for day, (found, hours, kept) in sorted(settled.items()):
        valid[day] = found
        split.day_hours += hours
        split.settled[day] = kept
    split.days = [valid[day] for day in sorted(valid)]
    parquet = list_compacted(store, start, min(utc(end), watermark), skip=valid)
    for hour in sorted(by_hour):
        raw = by_hour[hour]
        made = parquet.get(hour)
        if floor_day(hour) in valid:  # its day file holds it (the raw objects, for data quality's verdicts)
            split.day_hours += 1
            split.covered.extend(raw)
        elif hour < watermark and made is not None and made.fingerprint == fingerprints[hour]:
            split.compacted.append(made)
            split.covered.extend(raw)
        else:
            split.raw.extend(raw)
    return split


def _valid_days(store: Store, fingerprints: dict[datetime, str], candidates: list[datetime]
                ) -> dict[datetime, CompactedDay]:
    """The candidate days read from their day file: before the day watermark, with raw objects, and
    merged from hour files made from exactly the raw objects listed now. An hour file's fingerprint is
    that of the raw objects it was made from, so the day's fingerprint is checked against the raw
    hours' fingerprints directly (its hour files need not be listed)."""
    if not candidates:
        return {}
    mark = read_day_watermark(store)
    candidates = [d for d in candidates if mark is not None and d + DAY <= mark]
    if not candidates:
        return {}
    made = list_compacted_days(store, candidates[0], candidates[-1] + DAY)
    valid = {}
    for day in candidates:
        hours = [(h, fp) for h, fp in fingerprints.items() if day <= h < day + DAY]
        found = made.get(day)
        if hours and found is not None and found.fingerprint == day_fingerprint(hours):
            valid[day] = found
    return valid


def athena_files(store: Store, split: HourSplit) -> list[tuple[str, int]]:
    """(key, size) of the Parquet files Athena reads for a split's compacted hours: the day table for a
    day before the day watermark - its whole file, even for a window covering a part of the day
    (partition projection prunes the day table by ``dt`` only; row groups whose ``hour`` or
    ``lp_ts_ms`` range misses the window are skipped, but at this size a day is one row group) - and
    the hour table for the other hours."""
    files = [(d.key, d.size) for d in split.days]
    if not split.compacted:
        return files
    mark = read_day_watermark(store)
    days = sorted({floor_day(h.hour) for h in split.compacted if mark is not None and floor_day(h.hour) + DAY <= mark})
    made = list_compacted_days(store, days[0], days[-1] + DAY) if days else {}
    files += [(made[d].key, made[d].size) for d in days if d in made]
    return files + [(h.key, h.size) for h in split.compacted if floor_day(h.hour) not in made]


def closed_hours(start: datetime, now: datetime, lateness: timedelta) -> list[datetime]:
    """The hours from ``start`` that no new object can reach any more: Firehose writes an object into
    the hour it delivers it in, so an hour is closed one hour plus the lateness after it began."""
    hours = []
    hour = floor_hour(start)
    while hour + HOUR + lateness <= utc(now):
        hours.append(hour)
        hour += HOUR
    return hours


__all__ = ["CompactedDay", "CompactedHour", "HourSplit", "athena_files", "closed_hours", "list_compacted", "list_compacted_days",
           "read_day_watermark", "read_watermark", "split_hours", "whole_days", "write_day_watermark",
           "write_watermark"]
