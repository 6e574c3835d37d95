"""Raw objects kept in memory between the queries of a service cycle (``logpipe run``, ``logpipe serve``).

Why: a cycle runs a dozen query jobs, the detectors and the digests over the same hours, and every
hourly window also reads the next hour's objects (late records). Read through ``read_json`` each
time, every raw object was decompressed and parsed 13 times on average in a 1-day cycle (24 at
most), and the ``logs`` view parsed each record's time, service and level again in every query.
Here an object is read once, into an Arrow table of the rows its Parquet hour would hold
(``logpipe compact``'s select: the raw columns and the derived time, service and level); the queries
of later windows read those tables through the same view as the compacted hours.

What keeps it right:

- an entry is keyed by the file DuckDB reads (the object, or its salvaged copy), the object's key, its
  size and its version (S3's ETag, a local file's mtime): a rewritten object is a new key, read again;
- a table holds the object's readable records: the rows of NULLs ``read_json(ignore_errors)`` makes of
  unreadable lines are left out, as compaction and the engine leave them out; bad lines are still
  counted by the reader's own line scan, once per object (``logpipe.engines.bad_records``), which is
  the second and last read of it;
- the cache is bounded (``[engine] cycle_cache_mb``), least recently used first out; a window whose
  uncached objects would not fit (their compressed size times the expansion seen so far) reads
  them with ``read_json`` as before, uncached, so a long window never loads its whole span into memory;
- an object that cannot be loaded (gone, unreadable) is left to ``read_json``, where the engine's
  usual handling (a deleted object retried without it, a clear error otherwise) applies.

Which process uses one: the service's ``JobRunner`` owns the cache and makes it current
(``using``) while it processes a window; a one-off ``logpipe query run`` has none (reading a window
once through the cache would only add a copy).

The cache also remembers the objects' verdicts (``VerdictMemo``) for the same cycle: each window's
objects were looked up in the state database by every query of every job reading the hour (a
connection and a SELECT per query, 250 in a 1-day cycle); an object version's verdict, once
scanned, does not change, so later queries of the cycle take it from memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logpipe.store.verdicts import ObjectVerdict, VerdictKey

# Bytes of Arrow table per byte of gzip JSON, assumed until objects have been loaded (the simulated
# fleet's objects measure about 5-8).
DEFAULT_EXPANSION = 10.0

CacheKey = tuple[str, str, int, str]  # file read, object key, size, version
# What a query reads of an object: its key, and the start of its partition's hour (epoch ms).
Wanted = tuple[str, str, int, str, int]


@dataclass
class CacheStats:
    """What the cache did (for tests and benchmarks)."""

    loads: int = 0  # objects read into the cache
    hits: int = 0  # objects served from it
    skipped: int = 0  # objects left to read_json (would not fit, or could not be loaded)
    evictions: int = 0
    peak_bytes: int = 0


class VerdictMemo:
    """Scanned object verdicts of a cycle, by key (URL, size, version): the state database's answer,
    remembered in memory (see the module docstring).

    What keeps it right: a key names one version of an object (a rewritten object has another size or
    version, so it is looked up, checked and counted as before); only verdicts whose lines were scanned
    with the lateness asked for are kept or given (one not scanned yet is the reader's to scan and
    save, after which it is kept), and a verdict kept here is never changed by its readers. Bounded:
    least recently used out past ``max_entries`` (about 1 KB each: ~20 MB at most, a day of a fleet
    writing 800 objects an hour; ``logpipe serve`` keeps its runner's cache for good, and a verdict let
    go of is only looked up again); ``forget_before`` lets go of past hours with the objects' tables."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._held: OrderedDict[VerdictKey, ObjectVerdict] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._held)

    def get(self, keys: Iterable[VerdictKey], lateness_s: int) -> dict[VerdictKey, ObjectVerdict]:
        """The remembered verdicts of ``keys`` scanned with ``lateness_s`` (others are left out)."""
        found: dict[VerdictKey, ObjectVerdict] = {}
        with self._lock:
            for key in keys:
                verdict = self._held.get(key)
                if verdict is not None and verdict.scanned(lateness_s):
                    self._held.move_to_end(key)
                    found[key] = verdict
            self.hits += len(found)
        return found

    def keep(self, verdicts: Iterable[ObjectVerdict], lateness_s: int) -> None:
        """Remember the verdicts scanned with ``lateness_s``."""
        with self._lock:
            for verdict in verdicts:
                if verdict.scanned(lateness_s):
                    self._held[verdict.key] = verdict
                    self._held.move_to_end(verdict.key)
            while len(self._held) > self.max_entries:
                self._held.popitem(last=False)

    def forget_before(self, hour_ms: int) -> None:
        with self._lock:
            for key in [k for k, v in self._held.items() if v.hour_ms < hour_ms]:
                del self._held[key]

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


class ObjectCache:
    """A bounded, least-recently-used set of raw objects as Arrow tables (see the module docstring),
    and the verdicts of the objects the cycle read (``verdicts``)."""

    def __init__(self, max_bytes: int, expansion: float = DEFAULT_EXPANSION) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.verdicts = VerdictMemo()
        # key -> (table, its bytes, its partition's hour in epoch ms)
        self._tables: OrderedDict[CacheKey, tuple[Any, int, int]] = OrderedDict()
        self._bytes = 0
        self._forgotten = -(2**63)  # forget_before's last hour
        self._expansion = expansion  # until something is loaded
        self._gzip_in = 0  # compressed bytes loaded so far, and the Arrow bytes they made
        self._arrow_out = 0
        self._lock = threading.Lock()
        self.stats = CacheStats()

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._tables)

    def expansion(self) -> float:
        """Arrow bytes per gzip byte, as loaded so far."""
        with self._lock:
            return self._arrow_out / self._gzip_in if self._gzip_in else self._expansion

    def window(self, objects: Sequence[Wanted], load: Callable[[str], Any]) -> tuple[Any, set[str]]:
        """The Arrow table of the objects it can serve, in the given order, and the files it serves.

        ``objects``: (file, key, size, version, hour) of each object a query reads. Objects not cached are
        read now with ``load(file)`` (an Arrow table of the file's rows), when they fit; the rest, and
        any ``load`` fails on, are left to the caller."""
        found: dict[str, Any] = {}
        missing: list[Wanted] = []
        cached_bytes = 0
        with self._lock:
            for entry in objects:
                held = self._tables.get(entry[:4])
                if held is not None:
                    self._tables.move_to_end(entry[:4])
                    found[entry[0]] = held[0]
                    cached_bytes += held[1]
                else:
                    missing.append(entry)
            self.stats.hits += len(found)
        if missing and cached_bytes + sum(key[2] for key in missing) * self.expansion() <= self.max_bytes:
            for entry in missing:
                try:
                    table = load(entry[0])
                except Exception:  # read the usual way, where a gone or unreadable object is handled
                    continue
                found[entry[0]] = table
                self._keep(entry, table)
        with self._lock:
            self.stats.skipped += sum(1 for key in missing if key[0] not in found)
        if not found:
            return None, set()
        import pyarrow as pa

        ordered = [found[entry[0]] for entry in objects if entry[0] in found]
        return pa.concat_tables(ordered), set(found)

    def _keep(self, entry: Wanted, table: Any) -> None:
        key: CacheKey = entry[:4]
        size = int(table.nbytes)
        with self._lock:
            self.stats.loads += 1
            self._gzip_in += key[2]
            self._arrow_out += size
            old = self._tables.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size <= self.max_bytes:
                self._tables[key] = (table, size, entry[4])
                self._bytes += size
            self._evict()
            self.stats.peak_bytes = max(self.stats.peak_bytes, self._bytes)

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._tables:
            _, (_, size, _) = self._tables.popitem(last=False)
            self._bytes -= size
            self.stats.evictions += 1

    def forget_before(self, hour_ms: int) -> None:
        """Let go of the objects of partitions before ``hour_ms``: ``logpipe run`` knows no window left
        in its cycle reads them (the LRU bound alone would keep a week of hours a cycle has passed); and
        of their verdicts."""
        with self._lock:
            if hour_ms <= self._forgotten:  # nothing new to let go of (called before every window)
                return
            self._forgotten = hour_ms
            old = [key for key, (_, _, hour) in self._tables.items() if hour < hour_ms]
            for key in old:
                self._bytes -= self._tables.pop(key)[1]
        self.verdicts.forget_before(hour_ms)

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()
            self._bytes = 0
        self.verdicts.clear()


_CURRENT: ContextVar[ObjectCache | None] = ContextVar("logpipe_object_cache", default=None)


def current() -> ObjectCache | None:
    """The cache the queries of this thread's current work read through (None: no cache)."""
    return _CURRENT.get()


@contextmanager
def using(cache: ObjectCache | None) -> Iterator[None]:
    """Make ``cache`` current for the queries run inside (this thread only)."""
    token = _CURRENT.set(cache)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class ListingMemo:
    """The window listings of one ``logpipe run`` cycle, shared by the queries of the same window.

    Why: in a cycle every query job, the detectors and the digest of a window list the same hour
    folders (and split them at the compaction watermarks: compacted hours, day files) one after the
    other - five to seven listings of one window within a fraction of a second, ~0.5 ms of Python and
    file system calls each, a few hundred per cycle. A listing is a snapshot whatever its age (an
    object landing just after a query listed its window is not read by it either); shared, the
    window's queries read the same snapshot, so its products are made of the same objects.

    What keeps it right: a memo lives for one cycle (``JobRunner.run_cycle`` makes it current with
    ``sharing_listings``), never for ``serve``, whose runs are minutes apart and retry windows; the
    cycle empties it after every compaction window (the watermarks and Parquet files a split names
    change there); the key holds the store, the window's span read and whether compacted hours are
    read; at most ``max_entries`` windows are held (the latest), and what is held is never changed
    by its readers (``DuckDBEngine.plan`` reads it)."""

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._held: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.made = 0  # listings made (not answered from the memo), for tests

    def get(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """What ``make()`` gives for ``key``: held from an earlier call of this memo, or made now."""
        with self._lock:
            if key in self._held:
                self._held.move_to_end(key)
                return self._held[key]
        value = make()
        with self._lock:
            self.made += 1
            self._held[key] = value
            while len(self._held) > self.max_entries:
                self._held.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


_LISTINGS: ContextVar[ListingMemo | None] = ContextVar("logpipe_listing_memo", default=None)


def listings() -> ListingMemo | None:
    """The listing memo of this thread's current run cycle (None: every query lists its window)."""
    return _LISTINGS.get()


@contextmanager
def sharing_listings(memo: ListingMemo | None) -> Iterator[None]:
    """Make ``memo`` current for the queries run inside (this thread only)."""
    token = _LISTINGS.set(memo)
    try:
        yield
    finally:
        _LISTINGS.reset(token)


__all__ = ["CacheStats", "ListingMemo", "ObjectCache", "VerdictMemo", "current", "listings", "sharing_listings",
           "using"]
