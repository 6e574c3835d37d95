"""The log store: objects laid out by ``logpipe.layout``, over any ``ObjectStore``.

It answers the layout's questions - which objects hold a window, which services are partitioned,
where an hour's new object goes - the same way for a local folder and an S3 bucket: the one place
in the code that branches on where the store is, is ``open_object_store``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from logpipe.config import StoreConfig
from logpipe.errors import StoreError
from logpipe.layout import OBJECT_SUFFIX, Layout, hours_in_window
from logpipe.store.base import ObjectStore, Progress, StoredObject
from logpipe.store.local import LocalObjectStore
from logpipe.store.records import ReadStats, decompress_lines, parse_record
from logpipe.store.s3 import S3ObjectStore

SERVICE_FOLDER = "service="


def open_object_store(config: StoreConfig, region: str | None = None) -> ObjectStore:
    """The object store ``[store] root`` names: ``s3://bucket[/prefix]`` or a local folder."""
    if config.is_s3:
        return S3ObjectStore(config.root, region, config.cache_dir)
    return LocalObjectStore(config.root)


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

    # -- listing --------------------------------------------------------------------------------

    def _objects_under(self, folder: str) -> list[StoredObject]:
        found = []
        for key, size in self.objects.iter_objects(folder + "/"):
            if not key.endswith(OBJECT_SUFFIX):  # objects only (not a writer's temporary file)
                continue
            parsed = self.layout.parse_key(key)
            if parsed:
                found.append(StoredObject(key, size, parsed[0]))
        return found

    def list_objects(self, start: datetime, end: datetime) -> list[StoredObject]:
        """Every object in the hour partitions of ``start <= t < end``, in time order."""
        objects: list[StoredObject] = []
        hours = hours_in_window(start, end)
        if self.config.service_partition:
            # The service level comes first: list it once, then each service's hours.
            for service in self.services():
                for hour in hours:
                    objects.extend(self._objects_under(self.layout.partition_dir(hour, service)))
        else:
            for hour in hours:
                objects.extend(self._objects_under(self.layout.partition_dir(hour)))
        objects.sort(key=lambda o: (o.partition.hour, o.key))
        return objects

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


__all__ = ["Store", "open_object_store"]
