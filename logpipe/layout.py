"""The storage layout, defined once.

``{root}/{prefix}/[service=NAME/]dt=YYYY-MM-DD/hour=HH/{object}.gz``: gzip'd JSON lines, hive-style
partitions. The Firehose prefix (``infra/``), the Glue table's partition projection, the local store,
the simulator and the DuckDB engine all take their paths from here, so that they cannot drift apart.

Beside it, the columnar hours (``logpipe compact``): ``{root}/{prefix}-parquet/dt=YYYY-MM-DD/hour=HH/
{YYYY-MM-DD-HH}-{fingerprint}.parquet``, one zstd Parquet file per closed hour holding exactly the
records of that raw hour partition (services merged, sorted by service, level and time). The
fingerprint names the raw objects it was made from, so a reader can tell when the raw hour has
changed since (a very late object): then the raw hour is read instead. ``_watermark.json`` under the
Parquet prefix is the compaction watermark: hours before it are read from Parquet, the rest raw
(files starting with ``_`` are ignored by Athena, as by Hive).

Above them, the columnar days: ``{root}/{prefix}-parquet-daily/dt=YYYY-MM-DD/{YYYY-MM-DD}-{fingerprint}
.parquet``, one file per closed UTC day whose hours are all compacted: the day's Parquet hours merged
(sorted like them). A month-long query then opens 30 files, not 720 (each Parquet file costs a reader
its footer and column set-up whatever its size; Athena, too, prefers few large objects). The day's
fingerprint is derived from the fingerprints of the hour files it merged (``day_fingerprint``): an
hour compacted again (a late object) no longer matches, and readers fall back to the hour files until
the day is merged again. It has its own prefix (so its own Glue table, partitioned by ``dt`` only)
and its own ``_watermark.json``, the day watermark: days before it are merged.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DT_FORMAT = "%Y-%m-%d"
HOUR_FORMAT = "%H"
OBJECT_SUFFIX = ".gz"
COMPACTED_SUFFIX = ".parquet"
COMPACTED_PREFIX_SUFFIX = "-parquet"  # {prefix}-parquet: a sibling of the raw prefix, never inside it
DAILY_PREFIX_SUFFIX = "-parquet-daily"  # {prefix}-parquet-daily: the merged days, a sibling of both
WATERMARK_NAME = "_watermark.json"
DAY = timedelta(days=1)
_COMPACTED_RE = re.compile(
    r"(?:^|/)dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/(?P=dt)-(?P=hour)-(?P<fingerprint>[0-9a-f]{16})\.parquet$"
)
_DAILY_RE = re.compile(r"(?:^|/)dt=(?P<dt>\d{4}-\d{2}-\d{2})/(?P=dt)-(?P<fingerprint>[0-9a-f]{16})\.parquet$")

_PARTITION_RE = re.compile(
    r"(?:^|/)(?:service=(?P<service>[^/]+)/)?dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/(?P<object>[^/]+)$"
)


def utc(moment: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds (how state tables store instants: portable across SQLite and PostgreSQL)."""
    return int(utc(moment).timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def floor_hour(moment: datetime) -> datetime:
    return utc(moment).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    """The start (00:00 UTC) of the day holding ``moment``."""
    return utc(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def hours_in_window(start: datetime, end: datetime) -> list[datetime]:
    """The hour partitions that hold records with ``start <= time < end``."""
    start, end = utc(start), utc(end)
    hours: list[datetime] = []
    if start >= end:  # an empty (or reversed) window holds no record, so it needs no partition
        return hours
    hour = floor_hour(start)
    while hour < end:
        hours.append(hour)
        hour += HOUR
    return hours


@dataclass(frozen=True)
class Partition:
    """One hour partition, optionally of one service."""

    hour: datetime
    service: str | None = None

    @property
    def dt(self) -> str:
        return self.hour.strftime(DT_FORMAT)

    @property
    def hour_text(self) -> str:
        return self.hour.strftime(HOUR_FORMAT)


@dataclass(frozen=True)
class PartitionBounds:
    """The partition values a window covers, as the saved queries bind them.

    Queries filter ``dt BETWEEN :dt_start AND :dt_end`` and, within the edge days,
    ``concat(dt, hour)`` between ``dthour_start`` and ``dthour_end`` (strings compare in time order).
    """

    dt_start: str
    dt_end: str
    dthour_start: str
    dthour_end: str


@functools.lru_cache(maxsize=8192)
def _partition_hour(dt: str, hour: str) -> datetime | None:
    """The hour a partition's ``dt`` and ``hour`` name (UTC), or None for a date or hour that does not
    exist. Remembered: a month's listing parses 720 hours for its 2,880 objects, not 2,880.

    ``dt`` and ``hour`` come from the partition patterns (``YYYY-MM-DD``, ``HH``): plain ASCII digits
    are read with ``int`` (a tenth of ``strptime``'s cost, which a month's raw and Parquet listings paid
    1,440 times, plus its first-use import); anything else goes through ``strptime`` as before, which
    says what such digits mean."""
    try:
        if dt.isascii() and hour.isascii():
            return datetime(int(dt[:4]), int(dt[5:7]), int(dt[8:10]), int(hour), tzinfo=UTC)
        return datetime.strptime(f"{dt} {hour}", f"{DT_FORMAT} {HOUR_FORMAT}").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class Layout:
    """Paths of the store under one prefix."""

    prefix: str = "logs"
    service_partition: bool = False

    def partition_dir(self, hour: datetime, service: str | None = None) -> str:
        """``prefix/[service=NAME/]dt=YYYY-MM-DD/hour=HH`` for the hour holding ``hour``."""
        hour = floor_hour(hour)
        parts = [self.prefix]
        if service is not None:
            parts.append(f"service={service}")
        parts.append(f"dt={hour.strftime(DT_FORMAT)}")
        parts.append(f"hour={hour.strftime(HOUR_FORMAT)}")
        return "/".join(parts)

    def object_key(self, hour: datetime, stream: str = "logpipe", service: str | None = None,
                   seq: int | None = None) -> str:
        """A Firehose-style object name: ``{stream}-1-{YYYY-MM-DD-HH-MM-SS}-{id}.gz``."""
        stamp = utc(hour).strftime("%Y-%m-%d-%H-%M-%S")
        if seq is None:
            import uuid  # (uuid imports platform: a few ms of every command that never names an object)

            ident = uuid.uuid4().hex
        else:
            ident = f"{seq:08d}"
        return f"{self.partition_dir(hour, service)}/{stream}-1-{stamp}-{ident}{OBJECT_SUFFIX}"

    def glob(self) -> str:
        """A glob matching every object of the store under the prefix."""
        if self.service_partition:
            return f"{self.prefix}/service=*/dt=*/hour=*/*{OBJECT_SUFFIX}"
        return f"{self.prefix}/dt=*/hour=*/*{OBJECT_SUFFIX}"

    def partition_dirs(self, start: datetime, end: datetime) -> list[str]:
        """Partition folders (without the service level) a window needs."""
        return [self.partition_dir(hour) for hour in hours_in_window(start, end)]

    def parse_key(self, key: str) -> tuple[Partition, str] | None:
        """The partition and object name of a key under this prefix, or None if it is not one."""
        key = key.lstrip("/")
        if not key.startswith(self.prefix + "/"):
            return None
        match = _PARTITION_RE.search(key[len(self.prefix) :])
        if not match:
            return None
        hour = _partition_hour(match["dt"], match["hour"])
        if hour is None:  # dt=2024-02-30, hour=99: not a partition
            return None
        return Partition(hour, match["service"]), match["object"]

    # -- the same layout as AWS describes it -----------------------------------------------------

    def firehose_prefix(self) -> str:
        """Firehose's S3 prefix with timestamp namespaces (and the service key when partitioning)."""
        service = "service=!{partitionKeyFromQuery:service}/" if self.service_partition else ""
        return f"{self.prefix}/{service}dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"

    def firehose_error_prefix(self) -> str:
        return f"{self.prefix}-errors/!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"

    def glue_projection(self, bucket: str, start_date: str = "2024-01-01") -> dict[str, str]:
        """Glue table parameters for partition projection over this layout."""
        params = {
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": f"{start_date},NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
        }
        service = ""
        if self.service_partition:
            params["projection.service.type"] = "injected"
            service = "service=${service}/"
        params["storage.location.template"] = f"s3://{bucket}/{self.prefix}/{service}dt=${{dt}}/hour=${{hour}}/"
        return params

    def partition_keys(self) -> list[str]:
        return (["service"] if self.service_partition else []) + ["dt", "hour"]

    # -- the columnar hours ----------------------------------------------------------------------

    @property
    def compacted_prefix(self) -> str:
        """``{prefix}-parquet``: where the Parquet hours live (outside the raw table's location)."""
        return self.prefix + COMPACTED_PREFIX_SUFFIX

    def compacted_dir(self, hour: datetime) -> str:
        hour = floor_hour(hour)
        return f"{self.compacted_prefix}/dt={hour.strftime(DT_FORMAT)}/hour={hour.strftime(HOUR_FORMAT)}"

    def compacted_day_dir(self, day: str) -> str:
        return f"{self.compacted_prefix}/dt={day}"

    def compacted_key(self, hour: datetime, fingerprint: str) -> str:
        """The Parquet file of one hour made from the raw objects ``fingerprint`` names."""
        hour = floor_hour(hour)
        return f"{self.compacted_dir(hour)}/{hour.strftime('%Y-%m-%d-%H')}-{fingerprint}{COMPACTED_SUFFIX}"

    def parse_compacted_key(self, key: str) -> tuple[datetime, str] | None:
        """The hour and raw fingerprint of a Parquet hour's key, or None if it is not one."""
        key = key.lstrip("/")
        if not key.startswith(self.compacted_prefix + "/"):
            return None
        match = _COMPACTED_RE.search(key[len(self.compacted_prefix):])
        if not match:
            return None
        hour = _partition_hour(match["dt"], match["hour"])
        if hour is None:
            return None
        return hour, match["fingerprint"]

    def watermark_key(self) -> str:
        return f"{self.compacted_prefix}/{WATERMARK_NAME}"

    def glue_projection_compacted(self, bucket: str, start_date: str = "2024-01-01") -> dict[str, str]:
        """Partition projection of the Parquet table (the same dt/hour projection, its own location)."""
        params = {k: v for k, v in self.glue_projection(bucket, start_date).items() if not k.startswith("projection.service")}
        params["storage.location.template"] = f"s3://{bucket}/{self.compacted_prefix}/dt=${{dt}}/hour=${{hour}}/"
        return params

    # -- the columnar days -----------------------------------------------------------------------

    @property
    def daily_prefix(self) -> str:
        """``{prefix}-parquet-daily``: the merged days, outside both other tables' locations (a table
        partitioned by ``dt`` only would otherwise read the hour folders below its ``dt=`` folders)."""
        return self.prefix + DAILY_PREFIX_SUFFIX

    def daily_dir(self, day: datetime) -> str:
        return f"{self.daily_prefix}/dt={floor_day(day).strftime(DT_FORMAT)}"

    def daily_key(self, day: datetime, fingerprint: str) -> str:
        """The Parquet file of one day merged from the hour files ``fingerprint`` names."""
        day = floor_day(day)
        return f"{self.daily_dir(day)}/{day.strftime(DT_FORMAT)}-{fingerprint}{COMPACTED_SUFFIX}"

    def parse_daily_key(self, key: str) -> tuple[datetime, str] | None:
        """The day (its 00:00 UTC) and fingerprint of a day file's key, or None if it is not one."""
        key = key.lstrip("/")
        if not key.startswith(self.daily_prefix + "/"):
            return None
        match = _DAILY_RE.search(key[len(self.daily_prefix):])
        if not match:
            return None
        try:
            day = datetime.strptime(match["dt"], DT_FORMAT)
        except ValueError:
            return None
        return day.replace(tzinfo=UTC), match["fingerprint"]

    def daily_watermark_key(self) -> str:
        return f"{self.daily_prefix}/{WATERMARK_NAME}"

    def glue_projection_daily(self, bucket: str, start_date: str = "2024-01-01") -> dict[str, str]:
        """Partition projection of the day table: ``dt`` only (``hour`` is a column of its files)."""
        params = {k: v for k, v in self.glue_projection(bucket, start_date).items()
                  if k.startswith("projection.") and not k.startswith(("projection.service", "projection.hour"))}
        params["storage.location.template"] = f"s3://{bucket}/{self.daily_prefix}/dt=${{dt}}/"
        return params


def daily_table_name(parquet_table: str) -> str:
    """The Glue table of the merged days, named after the hours' table (``[compact] table``)."""
    return parquet_table + "_daily"


def raw_fingerprint(objects: list[tuple[str, int]]) -> str:
    """16 hex digits naming a set of raw objects (key and size): the Parquet hour made from them
    carries it, so a raw hour that changed after compaction is noticed."""
    digest = hashlib.sha256()
    for key, size in sorted(objects):
        digest.update(f"{key}\0{size}\n".encode())
    return digest.hexdigest()[:16]


def day_fingerprint(hours: list[tuple[datetime, str]]) -> str:
    """16 hex digits naming the hour files a day file was merged from (each hour and its own
    fingerprint): an hour compacted again, added or gone changes it, so a stale day is noticed."""
    digest = hashlib.sha256()
    for hour, fingerprint in sorted(hours):
        digest.update(f"{floor_hour(hour).strftime('%Y-%m-%d-%H')}\0{fingerprint}\n".encode())
    return digest.hexdigest()[:16]


def partition_bounds(start: datetime, end: datetime) -> PartitionBounds:
    """Partition values covering ``start <= time < end`` (``end`` exclusive)."""
    start = floor_hour(start)
    last = floor_hour(utc(end) - timedelta(microseconds=1))
    if last < start:
        last = start
    return PartitionBounds(
        dt_start=start.strftime(DT_FORMAT),
        dt_end=last.strftime(DT_FORMAT),
        dthour_start=start.strftime(DT_FORMAT + HOUR_FORMAT),
        dthour_end=last.strftime(DT_FORMAT + HOUR_FORMAT),
    )


def iter_hours(start: datetime, end: datetime) -> Iterator[datetime]:
    yield from hours_in_window(start, end)


__all__ = ["COMPACTED_PREFIX_SUFFIX", "COMPACTED_SUFFIX", "DAILY_PREFIX_SUFFIX", "DAY", "DT_FORMAT", "HOUR",
           "HOUR_FORMAT", "OBJECT_SUFFIX", "WATERMARK_NAME", "Layout", "Partition", "PartitionBounds",
           "daily_table_name", "day_fingerprint", "floor_day", "floor_hour", "from_ms", "hours_in_window", "iter_hours", "partition_bounds", "raw_fingerprint", "to_ms",
           "utc"]
