"""Verdicts on stored objects, remembered in the state database: each object is checked and counted once.

A verdict is everything a reader learns about one object version (URL, size, ETag or mtime): its gzip
check (``logpipe.store.integrity``), the lines no reader could read by reason, the records whose time
lies outside their partition's hour (``misplaced``), and the good records read. Objects never change
once written, so a later query - in this process or another, on this engine or a Parquet compactor -
reads the verdict instead of checking and scanning the object again.

The verdicts of a window's hours are also its data quality (``quality``): what /status, the digest and
the ``BadRecords`` / ``MisplacedRecords`` metrics report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from logpipe.layout import to_ms
from logpipe.state.db import now_ms, sqlite_reader, upsert
from logpipe.store.base import StoredObject
from logpipe.store.integrity import ObjectCheck

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

_LOOKUP_CHUNK = 500  # URLs per SELECT
# The columns a verdict is made of, in the order ``_verdict`` takes them.
_COLUMNS = ("url", "size", "version", "hour_ms", "object_check", "bad_lines", "misplaced", "records", "lateness_s")

VerdictKey = tuple[str, int, str]  # (url, size, version)


@dataclass
class ObjectVerdict:
    """What is known of one object version. ``bad_lines``/``misplaced``/``records`` are None until its
    lines were scanned (with ``lateness_s`` the lateness the misplaced count used)."""

    url: str
    size: int
    version: str
    hour_ms: int
    check: ObjectCheck
    bad_lines: dict[str, int] | None = None
    misplaced: int | None = None
    records: int | None = None
    lateness_s: int | None = None

    @property
    def key(self) -> VerdictKey:
        return (self.url, self.size, self.version)

    @property
    def readable(self) -> bool:
        """Whether a reader gets any record from it (as it is, or from its salvaged copy)."""
        return self.check.clean or self.check.kept_lines > 0

    def scanned(self, lateness_s: int) -> bool:
        return self.bad_lines is not None and self.misplaced is not None and self.lateness_s == lateness_s

    def bad(self) -> dict[str, int]:
        """Bad records by reason: what the object level lost, and the lines no reader could read."""
        total = dict(self.check.lost)
        for reason, n in (self.bad_lines or {}).items():
            total[reason] = total.get(reason, 0) + n
        return total


def verdict_for(obj: StoredObject, url: str, check: ObjectCheck) -> ObjectVerdict:
    return ObjectVerdict(url=url, size=obj.size, version=obj.version, hour_ms=to_ms(obj.partition.hour), check=check)


class VerdictStore:
    """Object verdicts in the state database (table ``object_verdicts``). Failures to read or write them
    only cost time - the objects are checked again - so they are logged, never raised.

    ``state``: the state engine, or its URL, opened (``open_state``) when first needed. With a URL, a
    lookup in a plain SQLite file already at the newest schema reads it with the standard library
    (``logpipe.state.db.sqlite_reader``): a warm ``logpipe query run`` imports no SQLAlchemy."""

    def __init__(self, state: Engine | str) -> None:
        self._engine: Engine | None = None if isinstance(state, str) else state
        self._url = state if isinstance(state, str) else None

    @property
    def state(self) -> Engine:
        """The state engine (opened now when given a URL: a state that cannot be opened is a ConfigError)."""
        if self._engine is None:
            from logpipe.state.db import open_state

            assert self._url is not None
            self._engine = open_state(self._url)
        return self._engine

    def lookup(self, keys: Iterable[VerdictKey]) -> dict[VerdictKey, ObjectVerdict]:
        """The remembered verdicts of the keys (those with none are left out)."""
        wanted = set(keys)
        found: dict[VerdictKey, ObjectVerdict] = {}
        if not wanted:
            return found
        urls = sorted({k[0] for k in wanted})
        decode = _Decoder()
        reader = sqlite_reader(self._url) if self._engine is None and self._url is not None else None
        engine = self.state if reader is None else None  # outside the try: an unusable state is an error
        try:
            if reader is not None:
                with closing(reader):
                    for i in range(0, len(urls), _LOOKUP_CHUNK):
                        chunk = urls[i:i + _LOOKUP_CHUNK]
                        rows = reader.execute(f"SELECT {', '.join(_COLUMNS)} FROM object_verdicts "
                                              f"WHERE url IN ({', '.join('?' * len(chunk))})", chunk)
                        decode.into(rows, wanted, found)
                return found
            from sqlalchemy import select

            from logpipe.state.tables import object_verdicts

            assert engine is not None
            t = object_verdicts.c
            with engine.connect() as conn:
                for i in range(0, len(urls), _LOOKUP_CHUNK):
                    query = select(*(t[c] for c in _COLUMNS)).where(t.url.in_(urls[i:i + _LOOKUP_CHUNK]))
                    decode.into(conn.execute(query), wanted, found)
        except Exception as exc:
            log.warning("cannot read remembered object verdicts (the objects are checked again): %s", exc)
        return found

    def save(self, verdicts: Sequence[ObjectVerdict]) -> None:
        now = now_ms()
        rows = [{"url": v.url, "size": v.size, "version": v.version, "hour_ms": v.hour_ms,
                 "object_check": v.check.to_json(),
                 "bad_lines": None if v.bad_lines is None else json.dumps(v.bad_lines, sort_keys=True),
                 "misplaced": v.misplaced, "records": v.records, "lateness_s": v.lateness_s, "checked_ms": now}
                for v in verdicts]
        if not rows:
            return
        from logpipe.state.tables import object_verdicts

        engine = self.state
        global _saves
        try:
            with engine.begin() as conn:
                upsert(conn, object_verdicts, rows, ["url", "size", "version"],
                       lambda new: {"hour_ms": new.hour_ms, "object_check": new.object_check,
                                    "bad_lines": new.bad_lines, "misplaced": new.misplaced, "records": new.records,
                                    "lateness_s": new.lateness_s, "checked_ms": new.checked_ms})
        except Exception as exc:
            log.warning("cannot remember object verdicts (the objects are checked again next time): %s", exc)
        finally:  # after the write: whoever read before it ends holds an older count
            _saves += 1

    def in_hours(self, start: datetime, end: datetime) -> list[ObjectVerdict]:
        """The newest verdict of every object whose partition hour lies in ``[start, end)``.

        Only the newest row of each URL is decoded, its JSON parsed once per distinct text
        (``_Decoder``): the service asks this for the quality note of every window it completes."""
        newest: dict[str, tuple[int, Sequence[Any]]] = {}
        with self.state.connect() as conn:
            rows = conn.execute(_in_hours_statement(), {"first_ms": to_ms(start), "end_ms": to_ms(end)})
            for row in rows:
                url, checked = row[0], int(row[len(_COLUMNS)])
                held = newest.get(url)
                if held is None or checked > held[0]:
                    newest[url] = (checked, row)
        decode = _Decoder()
        verdicts = [decode.one(row) for _, row in newest.values()]
        verdicts.sort(key=lambda v: (v.hour_ms, v.url))
        return verdicts


# How many times this process has written verdicts (``VerdictStore.save``): what a reader keeping
# verdicts it read compares, to know nothing was written since (``saves``).
_saves = 0


def saves() -> int:
    """The count of verdict writes of this process so far (see ``_saves``)."""
    return _saves


@cache
def _in_hours_statement() -> Any:
    """``in_hours``'s SELECT, built once (SQLAlchemy is imported only when it is first needed): the
    service asks it after every window."""
    from sqlalchemy import bindparam, select

    from logpipe.state.tables import object_verdicts

    t = object_verdicts.c
    return (select(*(t[c] for c in _COLUMNS), t.checked_ms)
            .where(t.hour_ms >= bindparam("first_ms"), t.hour_ms < bindparam("end_ms")))


def _bad_lines(text: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in json.loads(text).items()}


class _Decoder:
    """Rows of ``_COLUMNS`` made verdicts, the JSON columns parsed once per distinct text.

    Why: nearly every object's check is the same text (a clean gzip) and its bad lines one of a few
    (``{}``, one line not JSON, ...); parsing them per row was two thirds of looking up a month's
    2,880 verdicts. A check is frozen and shared; each verdict gets its own copy of its bad lines (a
    dict, which a caller may change)."""

    def __init__(self) -> None:
        self.checks: dict[str, ObjectCheck] = {}
        self.bad: dict[str, dict[str, int]] = {}

    def into(self, rows: Iterable[Sequence[Any]], wanted: set[VerdictKey],
             found: dict[VerdictKey, ObjectVerdict]) -> None:
        """Add to ``found`` the verdicts of the rows whose key is ``wanted``."""
        for row in rows:
            key = (row[0], int(row[1]), row[2])
            if key in wanted:
                found[key] = self.one(row)

    def one(self, row: Sequence[Any]) -> ObjectVerdict:
        """The verdict of a row whose first columns are ``_COLUMNS``."""
        url, size, version, hour_ms, check_json, bad, misplaced, records, lateness_s = row[:len(_COLUMNS)]
        check = self.checks.get(check_json)
        if check is None:
            check = self.checks[check_json] = ObjectCheck.from_json(check_json)
        bad_lines = None
        if bad is not None:
            parsed = self.bad.get(bad)
            if parsed is None:
                parsed = self.bad[bad] = _bad_lines(bad)
            bad_lines = dict(parsed)
        return ObjectVerdict(url, int(size), version, int(hour_ms), check, bad_lines,
                             None if misplaced is None else int(misplaced),
                             None if records is None else int(records), lateness_s)


@dataclass
class DamagedObject:
    url: str
    problem: str
    detail: str
    lost: int  # records counted bad at the object level

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url, "problem": self.problem, "detail": self.detail, "lost": self.lost}


@dataclass
class DataQuality:
    """Bad, misplaced and good records, and damaged objects, of a set of objects (a window's)."""

    objects: int = 0
    records: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    misplaced: int = 0
    damaged: list[DamagedObject] = field(default_factory=list)
    unscanned: int = 0  # objects whose lines were not scanned yet (counts below them are missing)
    unrecognised: list[str] = field(default_factory=list)

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    @property
    def clean(self) -> bool:
        return not (self.bad or self.misplaced or self.damaged or self.unrecognised)

    def add(self, verdict: ObjectVerdict) -> None:
        self.objects += 1
        check = verdict.check
        if check.lost or verdict.bad_lines:  # most objects lost nothing: no merged dict made for them
            for reason, n in verdict.bad().items():
                self.bad[reason] = self.bad.get(reason, 0) + n
        self.misplaced += verdict.misplaced or 0
        self.records += verdict.records or 0
        if verdict.bad_lines is None and verdict.readable:
            self.unscanned += 1
        for problem, detail in check.problems.items():
            self.damaged.append(DamagedObject(verdict.url, problem, detail, check.lost.get(problem, 0)))

    def merge(self, other: DataQuality) -> None:
        """Add the objects, records and findings of ``other`` (of other objects) to these."""
        self.objects += other.objects
        self.records += other.records
        for reason, n in other.bad.items():
            self.bad[reason] = self.bad.get(reason, 0) + n
        self.misplaced += other.misplaced
        self.unscanned += other.unscanned
        self.damaged.extend(DamagedObject(d.url, d.problem, d.detail, d.lost) for d in other.damaged)

    def to_part(self) -> dict[str, Any]:
        """The objects' part of a quality (no unrecognised paths) as JSON values, for ``from_part``."""
        return {"objects": self.objects, "records": self.records, "bad": dict(self.bad), "misplaced": self.misplaced,
                "unscanned": self.unscanned, "damaged": [[d.url, d.problem, d.detail, d.lost] for d in self.damaged]}

    @classmethod
    def from_part(cls, part: Mapping[str, Any]) -> DataQuality:
        """The quality ``to_part`` wrote (a malformed one raises KeyError, TypeError or ValueError)."""
        return cls(objects=int(part["objects"]), records=int(part["records"]),
                   bad={str(k): int(v) for k, v in dict(part["bad"]).items()}, misplaced=int(part["misplaced"]),
                   unscanned=int(part["unscanned"]),
                   damaged=[DamagedObject(str(u), str(p), str(d), int(n)) for u, p, d, n in part["damaged"]])

    def summary(self) -> str:
        """One line for people: ``bad records 3 (not_json=2, corrupt_gzip=1), misplaced 1, ...``."""
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.bad.items()))
        parts = [f"bad records {self.bad_total}" + (f" ({reasons})" if reasons else ""),
                 f"misplaced {self.misplaced}"]
        if self.damaged:
            parts.append(f"damaged objects {len({d.url for d in self.damaged})}")
        if self.unrecognised:
            parts.append(f"unrecognised paths {len(self.unrecognised)}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {"objects": self.objects, "records": self.records, "bad_records": dict(sorted(self.bad.items())),
                "bad_total": self.bad_total, "misplaced": self.misplaced, "unscanned_objects": self.unscanned,
                "damaged_objects": [d.to_dict() for d in self.damaged], "unrecognised_paths": list(self.unrecognised)}


def quality(verdicts: Iterable[ObjectVerdict], unrecognised: Sequence[str] = ()) -> DataQuality:
    result = DataQuality(unrecognised=sorted(unrecognised))
    for verdict in verdicts:
        result.add(verdict)
    return result


__all__ = ["DamagedObject", "DataQuality", "ObjectVerdict", "VerdictKey", "VerdictStore", "quality", "saves", "verdict_for"]
