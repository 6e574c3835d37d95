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

from logpipe.layout import Partition

# Called with a short state ("downloading 3 of 12 objects") while objects are fetched.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StoredObject:
    """One gzip object of the store."""

    key: str  # relative to the root: prefix/.../name.gz
    size: int
    partition: Partition


class ObjectStore(Protocol):
    """Objects under one root, by key (a ``/``-separated path relative to the root)."""

    def url(self, key: str = "") -> str:
        """Where a key lives, as a user would type it (for messages)."""
        ...

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Every object under ``prefix`` (a folder, ending in ``/``), at any depth, with its size."""
        ...

    def folders(self, prefix: str) -> list[str]:
        """The names of the folders directly under ``prefix``."""
        ...

    def read(self, key: str) -> bytes:
        """The stored bytes of one object."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store one object whole: a reader never sees half of it."""
        ...

    def local_paths(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None) -> list[Path]:
        """A local file for each (key, size), in order: the object itself, or a cached copy of it."""
        ...


__all__ = ["ObjectStore", "Progress", "StoredObject"]
