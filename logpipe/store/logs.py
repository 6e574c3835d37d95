"""The log store: objects laid out by ``logpipe.layout``, over any ``ObjectStore``.

It answers the layout's questions - which objects hold a window, which services are partitioned,
where an hour's new object goes - the same way for a local folder and an S3 bucket: the one place
in the code that branches on where the store is, is ``open_object_store``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe.errors import StoreError
from logpipe.layout import DT_FORMAT, OBJECT_SUFFIX, Layout, Partition, floor_hour, hours_in_window, utc
from logpipe.store.base import ObjectStore, Progress, StoredObject
from logpipe.store.local import LocalObjectStore
from logpipe.store.records import ReadStats, decompress_lines, parse_record
from logpipe.store.s3 import S3ObjectStore

if TYPE_CHECKING:
    from logpipe.config import StoreConfig

log = logging.getLogger(__name__)

SERVICE_FOLDER = "service="


# A window longer than this is listed day folder by day folder (only the days that exist), not hour by hour.
LIST_BY_DAY_HOURS = 48
_DAY_RE = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
_HOUR_RE = re.compile(r"^hour=(\d{2})$")
RECHECK_SECONDS = 3600.0  # a folder examined for unrecognised paths is looked at again after this


def open_object_store(config: StoreConfig, region: str | None = None) -> ObjectStore:
    """The object store ``[store] root`` names: ``s3://bucket[/prefix]`` or a local folder."""
    if config.is_s3:
        return S3ObjectStore(config.root, region, config.cache_dir, cache_max_bytes=int(config.cache_max_bytes))
    return LocalObjectStore(config.root)


@functools.lru_cache(maxsize=4096)
def _valid_day(name: str) -> bool:
    """Whether a folder name is a day partition (``dt=`` and a date that exists). Remembered: every
    query of a run cycle looks at the prefix's day folders (a month: 31 names, each parsed by strptime)."""
    match = _DAY_RE.match(name)
    if not match:
        return False
    text = match.group(1)
    try:
        if text.isascii():  # YYYY-MM-DD of ASCII digits: the ISO date parser, without strptime's import
            date.fromisoformat(text)
        else:
            datetime.strptime(text, DT_FORMAT)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _valid_hour(name: str) -> bool:
    match = _HOUR_RE.match(name)
    return bool(match) and int(match.group(1)) < 24  # type: ignore[union-attr]


class UnrecognisedPaths:
    """Paths under the prefix that are not objects of the layout (``dt=notadate/``, ``hour=99/``, a
    nested folder, a file without ``.gz``), kept for the life of the process: each is named once per run
    (``new``), and all of them are counted where data quality is shown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.found: dict[str, float] = {}  # url -> when first seen (epoch s)
        self._examined: dict[str, float] = {}

    def due(self, folder_url: str) -> bool:
        """Whether a folder should be examined now (once per RECHECK_SECONDS)."""
        now = time.time()
        with self._lock:
            last = self._examined.get(folder_url)
            if last is not None and now - last < RECHECK_SECONDS:
                return False
            self._examined[folder_url] = now
            return True

    def add(self, urls: Sequence[str]) -> list[str]:
        """Record paths; returns those not named before in this process."""
        now = time.time()
        new = []
        with self._lock:
            for url in urls:
                if url not in self.found:
                    self.found[url] = now
                    new.append(url)
        for url in new:
            log.warning("not an object of the store's layout (%s), skipped: %s", LAYOUT_HINT, url)
        return new

    def all(self) -> list[str]:
        with self._lock:
            return sorted(self.found)

    def clear(self) -> None:
        with self._lock:
            self.found.clear()
            self._examined.clear()


LAYOUT_HINT = "prefix/[service=NAME/]dt=YYYY-MM-DD/hour=HH/NAME.gz"
UNRECOGNISED = UnrecognisedPaths()


@dataclass
class Listing:
    """A window's objects, and the paths beside them that are not objects of the layout."""

    objects: list[StoredObject]
    unrecognised: list[str] = field(default_factory=list)


@dataclass
class Fetched:
    """Local files of a window's objects: (object, file) pairs, and the objects that were gone."""

    files: list[tuple[StoredObject, str]]
    missing: list[StoredObject] = field(default_factory=list)


class Store:
    """List, read and write the log objects of the store."""

    def __init__(self, config: StoreConfig, objects: ObjectStore | None = None, region: str | None = None) -> None:
        self.config = config
        self.layout = Layout(config.prefix, config.service_partition)
        self.objects = objects if objects is not None else open_object_store(config, region)

    def url(self, key: str = "") -> str:
        """Where a key lives, as a user would type it."""
        return self.objects.url(key)

    def local_path(self, key: str) -> Path:
        """The file of a key in a local store."""
        if not isinstance(self.objects, LocalObjectStore):
            raise StoreError("the store is on S3; there is no local path")
        return self.objects.local_path(key)

    def local_paths(self, objects: Sequence[StoredObject], progress: Progress | None = None) -> list[str]:
        """Local files of the objects, in order (copies in the download cache for an S3 store)."""
        return [str(p) for p in self.objects.local_paths([(o.key, o.size) for o in objects], progress)]

    def fetch(self, objects: Sequence[StoredObject], progress: Progress | None = None) -> Fetched:
        """Local files of the objects; an object deleted since it was listed is reported, not an error."""
        copies = self.objects.local_files([(o.key, o.size) for o in objects], progress)
        fetched = Fetched([])
        for obj, path in zip(objects, copies, strict=True):
            if path is None:
                fetched.missing.append(obj)
            else:
                fetched.files.append((obj, path))
        return fetched

    # -- listing --------------------------------------------------------------------------------

    def _objects_under(self, folder: str, unrecognised: list[str] | None = None) -> list[StoredObject]:
        """Every object of the layout under ``folder``; the other files go to ``unrecognised``.

        A key's partition depends on its folders only (the object's name is the last, non-empty part),
        so each folder is parsed once, not each of its objects: an hour folder holds a few objects in
        the benchmark's store and hundreds in a busy fleet's."""
        found = []
        partitions: dict[str, Partition | None] = {}
        parse = self.layout.parse_key
        for key, size, version in self.objects.iter_objects(folder + "/"):
            partition = None
            if key.endswith(OBJECT_SUFFIX):
                head = key.rpartition("/")[0]
                if head in partitions:
                    partition = partitions[head]
                else:
                    parsed = parse(key)
                    partition = partitions[head] = parsed[0] if parsed else None
            if partition is not None:
                found.append(StoredObject(key, size, partition, version))
            elif unrecognised is not None:
                unrecognised.append(self.url(key))
        return found

    def list_objects(self, start: datetime, end: datetime) -> list[StoredObject]:
        """Every object in the hour partitions of ``start <= t < end``, in time order."""
        return self.list_window(start, end).objects

    def day_stamp(self, day: datetime) -> list[tuple[str, int, int]] | None:
        """The stamp of a day's raw folders (``LocalObjectStore.folder_stamp``): equal stamps, the same
        objects. None where there is none to take: an S3 store, a layout partitioned by service, a
        missing day."""
        if not isinstance(self.objects, LocalObjectStore) or self.config.service_partition:
            return None
        return self.objects.folder_stamp(f"{self.layout.prefix}/dt={day.strftime(DT_FORMAT)}")

    def list_window(self, start: datetime, end: datetime, skip_days: Collection[datetime] = ()) -> Listing:
        """The window's objects (in time order), and paths near them that are not objects of the layout.

        Short windows are listed hour folder by hour folder; longer ones by the day folders that exist,
        so a window of years costs one listing per day that holds data, not one per hour. ``skip_days``
        (00:00 UTC each): days not listed (their objects are known another way)."""
        skipped = {day.strftime(DT_FORMAT) for day in skip_days}
        first, end = floor_hour(start), utc(end)
        unrecognised: list[str] = []
        objects: list[StoredObject] = []
        if first >= end:
            return Listing(objects)
        roots = ([self.layout.prefix + "/" + SERVICE_FOLDER + s for s in self.services()]
                 if self.config.service_partition else [self.layout.prefix])
        by_day = end - first > timedelta(hours=LIST_BY_DAY_HOURS) or self.config.service_partition
        first_day, last_day = first.strftime(DT_FORMAT), (end - timedelta(microseconds=1)).strftime(DT_FORMAT)
        for root in roots:
            service = root.rsplit(SERVICE_FOLDER, 1)[1] if self.config.service_partition else None
            present = self._examine(root, unrecognised, first_day, last_day)
            if skipped:
                present = [day for day in present if day not in skipped]
            if by_day:
                for day in present:
                    objects.extend(o for o in self._objects_under(f"{root}/dt={day}", unrecognised)
                                   if first <= o.partition.hour < end)
            else:
                for hour in hours_in_window(first, end):
                    if hour.strftime(DT_FORMAT) in present:
                        objects.extend(self._objects_under(self.layout.partition_dir(hour, service), unrecognised))
        objects.sort(key=lambda o: (o.partition.hour, o.key))
        return Listing(objects, sorted(set(unrecognised)))

    def _examine(self, root: str, unrecognised: list[str], first_day: str, last_day: str) -> list[str]:
        """The day folders under ``root`` from ``first_day`` to ``last_day`` (sorted); what is not a day
        folder, and what in those day folders is not an hour folder, goes to ``unrecognised`` (each
        folder looked at once per RECHECK_SECONDS)."""
        folders, files = self.objects.entries(root + "/")
        present = sorted(d for d in (name.removeprefix("dt=") for name in folders if _valid_day(name))
                         if first_day <= d <= last_day)
        if UNRECOGNISED.due(self.url(root)):
            unrecognised.extend(self._folder_url(f"{root}/{name}") for name in folders
                                if not _valid_day(name) and not name.startswith(SERVICE_FOLDER))
            unrecognised.extend(self.url(f"{root}/{name}") for name in files)
        for day in present:
            if UNRECOGNISED.due(self.url(f"{root}/dt={day}")):
                hour_folders, day_files = self.objects.entries(f"{root}/dt={day}/")
                unrecognised.extend(self._folder_url(f"{root}/dt={day}/{name}") for name in hour_folders
                                    if not _valid_hour(name))
                unrecognised.extend(self.url(f"{root}/dt={day}/{name}") for name in day_files)
        return present

    def _folder_url(self, key: str) -> str:
        return self.url(key).rstrip("/") + "/"

    def list_all(self) -> list[StoredObject]:
        """Every object under the prefix (for explain without a window, and tests)."""
        found = self._objects_under(self.layout.prefix)
        found.sort(key=lambda o: (o.partition.hour, o.key))
        return found

    def services(self) -> list[str]:
        """Service partitions present (only with ``service_partition``)."""
        return sorted(name.removeprefix(SERVICE_FOLDER) for name in self.objects.folders(self.layout.prefix + "/")
                      if name.startswith(SERVICE_FOLDER))

    # -- reading --------------------------------------------------------------------------------

    def read_bytes(self, key: str) -> bytes:
        """The stored (compressed) bytes of one object."""
        return self.objects.read(key)

    def iter_lines(self, key: str, stats: ReadStats | None = None) -> Iterator[bytes]:
        """Raw lines of one object (decompressed; a truncated gzip yields what it holds, counted)."""
        yield from decompress_lines(self.read_bytes(key), stats)

    def iter_records(self, objects: list[StoredObject], stats: ReadStats | None = None
                     ) -> Iterator[tuple[StoredObject, dict[str, Any]]]:
        """Parsed records of the objects; bad lines are counted in ``stats`` and skipped."""
        stats = stats if stats is not None else ReadStats()
        for obj in objects:
            for line in self.iter_lines(obj.key, stats):
                record = parse_record(line, stats)
                if record is not None:
                    stats.records += 1
                    yield obj, record

    # -- writing --------------------------------------------------------------------------------

    def write_object(self, key: str, data: bytes) -> str:
        """Store one (already gzip'd) object; returns its URL."""
        self.objects.write(key, data)
        return self.url(key)


__all__ = ["UNRECOGNISED", "Fetched", "Listing", "Store", "UnrecognisedPaths", "open_object_store"]
