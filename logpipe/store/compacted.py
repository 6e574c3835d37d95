"""The columnar hours of the store: which hours are compacted, and the compaction watermark.

The layout is ``logpipe.layout``'s (``{prefix}-parquet/dt=/hour=/{hour}-{fingerprint}.parquet``);
this module lists it and keeps the watermark beside it, in the store itself, so that every reader of
the store (DuckDB here, Athena through the same bucket) agrees on where Parquet ends and raw begins.
Writing the Parquet files is the engine's job (``logpipe.engines.compact``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from logpipe.errors import StoreError
from logpipe.layout import DT_FORMAT, HOUR, floor_hour, hours_in_window, raw_fingerprint, utc
from logpipe.store.base import ObjectMissing, StoredObject
from logpipe.store.logs import Store


@dataclass(frozen=True)
class CompactedHour:
    """One Parquet hour: its key and size, the hour, and the fingerprint of the raw objects it holds."""

    key: str
    size: int
    hour: datetime
    fingerprint: str


def read_watermark(store: Store) -> datetime | None:
    """The first hour not compacted (every hour before it is), or None before the first compaction."""
    try:
        data = json.loads(store.read_bytes(store.layout.watermark_key()))
    except ObjectMissing:
        return None
    except (StoreError, ValueError) as exc:
        raise StoreError(f"cannot read the compaction watermark {store.url(store.layout.watermark_key())}: {exc}; "
                         "delete it to read every hour raw (the next 'logpipe compact' rewrites it)") from None
    try:
        return utc(datetime.fromisoformat(data["watermark"]))
    except (KeyError, TypeError, ValueError):
        raise StoreError(f"the compaction watermark {store.url(store.layout.watermark_key())} holds no "
                         "'watermark' time; delete it to read every hour raw") from None


def write_watermark(store: Store, watermark: datetime, first: datetime | None) -> None:
    """Move the watermark (one small object, replaced whole: a reader sees the old or the new one)."""
    body = {"watermark": floor_hour(watermark).isoformat().replace("+00:00", "Z"),
            "first": floor_hour(first).isoformat().replace("+00:00", "Z") if first else None,
            "format": 1}
    store.write_object(store.layout.watermark_key(), json.dumps(body).encode())


# Windows up to this long list the Parquet hour folders one by one, longer ones the day folders: on S3
# each folder is a LIST request, so hour by hour pays only for the hourly windows (with the hour read
# past their end); on a local folder a day's listing walks its 24 hour folders anyway.
LIST_BY_HOUR = timedelta(hours=3)


def list_compacted(store: Store, start: datetime, end: datetime) -> dict[datetime, CompactedHour]:
    """The Parquet hours of ``start <= hour < end``, listed by the day folders that exist (a short window:
    by its own hour folders). Two files for one hour (a re-compaction interrupted before the old one
    was removed): the newest listing wins only when it matches; the caller checks fingerprints against
    the raw hour anyway."""
    first, end = floor_hour(start), utc(end)
    found: dict[datetime, list[CompactedHour]] = {}
    if first >= end:
        return {}
    if end - first <= LIST_BY_HOUR:
        # A short window (a run cycle's hourly ones) lists its own hour folders, where the compaction
        # writes each hour (layout.compacted_dir), not the whole day of each: a 2-hour window listed
        # 24 hour folders. A file elsewhere in the day is not one of its hours: the hour is read raw.
        folders = [store.layout.compacted_dir(hour) for hour in hours_in_window(first, end)]
    else:
        names, _ = store.objects.entries(store.layout.compacted_prefix + "/")
        last_day = (end - timedelta(microseconds=1)).strftime(DT_FORMAT)
        days = sorted(name.removeprefix("dt=") for name in names if name.startswith("dt="))
        folders = [store.layout.compacted_day_dir(day) for day in days
                   if first.strftime(DT_FORMAT) <= day <= last_day]
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
    """A window's hours split at the watermark: the Parquet hours to read, and the raw objects to read."""

    compacted: list[CompactedHour]
    raw: list[StoredObject]
    # Raw objects of the compacted hours (not read: their Parquet hour holds them), for data quality.
    covered: list[StoredObject]
    watermark: datetime | None


def split_hours(store: Store, objects: Sequence[StoredObject], start: datetime, end: datetime,
                watermark: datetime | None) -> HourSplit:
    """Which of a window's hours are read from Parquet: an hour before the watermark whose Parquet file
    was made from exactly the raw objects listed now. Every other hour is read raw. So each record is
    read once, from one form or the other, never both and never neither."""
    if watermark is None or floor_hour(start) >= watermark:
        return HourSplit([], list(objects), [], watermark)
    by_hour: dict[datetime, list[StoredObject]] = {}
    for obj in objects:
        by_hour.setdefault(obj.partition.hour, []).append(obj)
    parquet = list_compacted(store, start, min(utc(end), watermark))
    split = HourSplit([], [], [], watermark)
    for hour in sorted(by_hour):
        raw = by_hour[hour]
        made = parquet.get(hour)
        if hour < watermark and made is not None and made.fingerprint == raw_fingerprint([(o.key, o.size) for o in raw]):
            split.compacted.append(made)
            split.covered.extend(raw)
        else:
            split.raw.extend(raw)
    return split


def closed_hours(start: datetime, now: datetime, lateness: timedelta) -> list[datetime]:
    """The hours from ``start`` that no new object can reach any more: Firehose writes an object into
    the hour it delivers it in, so an hour is closed one hour plus the lateness after it began."""
    hours = []
    hour = floor_hour(start)
    while hour + HOUR + lateness <= utc(now):
        hours.append(hour)
        hour += HOUR
    return hours


__all__ = ["CompactedHour", "HourSplit", "closed_hours", "list_compacted", "read_watermark", "split_hours",
           "write_watermark"]
