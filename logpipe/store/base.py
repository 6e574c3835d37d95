"""What holds the objects: a protocol, in the manner of httpx's transports.

The log store (``logpipe.store.logs.Store``) knows the layout - prefixes, partitions, windows - and
nothing of where bytes live; an ``ObjectStore`` knows where bytes live and nothing of the layout.
Two implement it: a local folder (``logpipe.store.local``) and an S3 bucket (``logpipe.store.s3``),
which also owns the download cache the DuckDB engine reads S3 objects from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from logpipe.errors import StoreError
from logpipe.layout import Partition

# Called with a short state ("downloading 3 of 12 objects") while objects are fetched.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StoredObject:
    """One gzip object of the store."""

    key: str  # relative to the root: prefix/.../name.gz
    size: int
    partition: Partition
    version: str = ""  # what changes when the object is rewritten: S3's ETag, a local file's mtime_ns


class ObjectMissing(StoreError):
    """An object that was listed is gone (deleted between listing and reading)."""


class ObjectStore(Protocol):
    """Objects under one root, by key (a ``/``-separated path relative to the root)."""

    def url(self, key: str = "") -> str:
        """Where a key lives, as a user would type it (for messages)."""
        ...

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, int, str]]:
        """Every object under ``prefix`` (a folder, ending in ``/``), at any depth: key, size, version."""
        ...

    def folders(self, prefix: str) -> list[str]:
        """The names of the folders directly under ``prefix``."""
        ...

    def entries(self, prefix: str) -> tuple[list[str], list[str]]:
        """The folders and the files directly under ``prefix`` (names): one delimiter listing."""
        ...

    def read(self, key: str) -> bytes:
        """The stored bytes of one object (``ObjectMissing`` when there is none)."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store one object whole: a reader never sees half of it."""
        ...

    def delete(self, key: str) -> None:
        """Remove one object (compaction replacing an outdated Parquet hour); a missing one is fine."""
        ...

    def local_copies(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None
                     ) -> list[Path | None]:
        """Like ``local_paths``, with None for an object that is gone."""
        ...

    def local_files(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None
                    ) -> list[str | None]:
        """``local_copies`` as text: what a query over many objects hands DuckDB."""
        ...

    def local_paths(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None) -> list[Path]:
        """A local file for each (key, size), in order: the object itself, or a cached copy of it
        (``ObjectMissing`` names the first that is gone)."""
        ...


__all__ = ["ObjectMissing", "ObjectStore", "Progress", "StoredObject"]
