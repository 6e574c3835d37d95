"""The pattern store: what the detectors remember between runs, behind the ``[state]`` URL.

Why these tables: a detector can only call a pattern "new" or a count a "spike" against history, and
history has to survive restarts and be shared by ``serve`` and a manual ``logpipe detect``. Counts are
kept per pattern, service and hour (the time-of-day baseline needs the hour); examples are few and
redacted before they are written; the miner's own state is kept so ids stay stable across runs.

Times are epoch milliseconds (``*_ms``), as everywhere in the state database.

Concurrency: every count is written with ``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``
(SQLite and PostgreSQL both speak it), so two writers add up instead of overwriting each other. The
work of one detection window (mine, compare, write) runs in one transaction that first takes the miner
row's lock (``BEGIN IMMEDIATE`` on SQLite, a row lock on PostgreSQL): two processes detecting at once
mine one after the other and never lose each other's patterns, and a window already recorded as
processed is never counted twice.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Engine,
    case,
    delete,
    func,
    select,
    update,
)

from logpipe.errors import UsageError
from logpipe.layout import from_ms, to_ms
from logpipe.state import tables
from logpipe.state.db import from_ms_or_none, insert_ignore, now_ms, open_state, upsert

Status = Literal["new", "known", "muted", "resolved"]
STATUSES: tuple[str, ...] = ("new", "known", "muted", "resolved")
MAX_EXAMPLES = 5
MINER_NAME = "errors"

patterns_table = tables.patterns
pattern_counts_table = tables.pattern_counts
pattern_examples_table = tables.pattern_examples
pattern_aliases_table = tables.pattern_aliases
miner_state_table = tables.pattern_miner_state
service_counts_table = tables.service_counts
detect_windows_table = tables.detect_windows


def _ms(moment: datetime) -> int:
    return to_ms(moment)


def _earliest(current: Any, incoming: Any) -> Any:
    return case((current <= incoming, current), else_=incoming)


def _latest(current: Any, incoming: Any) -> Any:
    return case((current >= incoming, current), else_=incoming)


class _Hours:
    """Epoch milliseconds -> UTC datetime, each value converted once: a detection window reads its
    lookback's counts (a week of rows per pattern, service and hour) and they name only ~170 hours."""

    def __init__(self) -> None:
        self._seen: dict[int, datetime] = {}

    def __call__(self, ms: int) -> datetime:
        moment = self._seen.get(ms)
        if moment is None:
            moment = self._seen[ms] = from_ms(ms)
        return moment


@dataclass
class PatternRecord:
    pattern_id: str
    template: str
    status: str
    first_seen: datetime
    last_seen: datetime
    total: int
    status_changed_at: datetime | None = None
    aliases: list[str] = field(default_factory=list)


@dataclass
class Example:
    service: str
    seen_at: datetime
    line: str


@dataclass(frozen=True)
class PatternUpdate:
    """What one window adds to one pattern."""

    pattern_id: str
    template: str
    first_seen: datetime
    last_seen: datetime
    total: int


def _record(row: Any) -> PatternRecord:
    return PatternRecord(
        pattern_id=row.pattern_id, template=row.template, status=row.status,
        first_seen=from_ms(row.first_seen_ms), last_seen=from_ms(row.last_seen_ms), total=int(row.total),
        status_changed_at=from_ms_or_none(row.status_changed_ms),
    )


class StoreWriter:
    """Writes on one connection inside one transaction (see ``PatternStore.window_session``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- reads inside the transaction -------------------------------------------------------------

    def patterns(self, pattern_ids: Iterable[str] | None = None) -> dict[str, PatternRecord]:
        query = select(patterns_table)
        if pattern_ids is not None:
            ids = sorted(set(pattern_ids))
            if not ids:
                return {}
            query = query.where(patterns_table.c.pattern_id.in_(ids))
        return {row.pattern_id: _record(row) for row in self.conn.execute(query)}

    def counts(self, start: datetime, end: datetime,
               pattern_ids: Iterable[str] | None = None) -> dict[tuple[str, str, datetime], int]:
        """Counts per (pattern, service, hour) for hours in ``[start, end)``."""
        c = pattern_counts_table.c
        query = select(c.pattern_id, c.service, c.hour_ms, c.n).where(c.hour_ms >= _ms(start), c.hour_ms < _ms(end))
        if pattern_ids is not None:
            query = query.where(c.pattern_id.in_(sorted(set(pattern_ids))))
        hour = _Hours()
        return {(pid, service, hour(ms)): int(n) for pid, service, ms, n in self.conn.execute(query)}

    def service_counts(self, start: datetime, end: datetime) -> dict[tuple[str, datetime], tuple[int, int]]:
        c = service_counts_table.c
        query = select(c.service, c.hour_ms, c.records, c.errors).where(c.hour_ms >= _ms(start), c.hour_ms < _ms(end))
        hour = _Hours()
        return {(service, hour(ms)): (int(records), int(errors))
                for service, ms, records, errors in self.conn.execute(query)}

    def processed_windows(self, start: datetime | None = None,
                          end: datetime | None = None) -> list[tuple[datetime, datetime]]:
        """Processed windows that overlap ``[start, end)`` (all of them without bounds)."""
        c = detect_windows_table.c
        query = select(c.window_start_ms, c.window_end_ms).order_by(c.window_start_ms)
        if start is not None and end is not None:
            query = query.where(c.window_start_ms < _ms(end), c.window_end_ms > _ms(start))
        return [(from_ms(r.window_start_ms), from_ms(r.window_end_ms)) for r in self.conn.execute(query)]

    def load_miner_state(self, name: str = MINER_NAME) -> Any:
        text = self.load_miner_state_text(name)
        return json.loads(text) if text else None

    def load_miner_state_text(self, name: str = MINER_NAME) -> str | None:
        """The stored state as the JSON text it was saved as (None: no state yet)."""
        text = self.conn.execute(select(miner_state_table.c.state).where(miner_state_table.c.name == name)).scalar()
        return str(text) if text else None

    # -- writes ------------------------------------------------------------------------------------

    def save_miner_state(self, state: Any, name: str = MINER_NAME) -> str:
        """Store the state; returns the JSON text stored (what ``load_miner_state_text`` reads back)."""
        text = json.dumps(state)
        upsert(self.conn, miner_state_table, [{"name": name, "version": 1, "state": text}], ["name"],
               lambda new: {"state": new.state})
        return text

    def upsert_patterns(self, updates: Iterable[PatternUpdate], status: Status = "new") -> None:
        """Insert patterns or widen their first/last seen and add to their totals."""
        rows = [{"pattern_id": u.pattern_id, "template": u.template, "status": status,
                 "first_seen_ms": _ms(u.first_seen), "last_seen_ms": _ms(u.last_seen), "total": u.total,
                 "status_changed_ms": now_ms()} for u in updates]
        t = patterns_table.c
        upsert(self.conn, patterns_table, rows, ["pattern_id"], lambda new: {
            "template": new.template,
            "first_seen_ms": _earliest(t.first_seen_ms, new.first_seen_ms),
            "last_seen_ms": _latest(t.last_seen_ms, new.last_seen_ms),
            "total": t.total + new.total,
        })

    def add_counts(self, rows: Iterable[tuple[str, str, datetime, int]]) -> None:
        """Add ``n`` to the count of (pattern, service, hour): concurrent writers add up."""
        values = [{"pattern_id": p, "service": s, "hour_ms": _ms(h), "n": int(n)} for p, s, h, n in rows]
        upsert(self.conn, pattern_counts_table, values, ["pattern_id", "service", "hour_ms"],
               lambda new: {"n": pattern_counts_table.c.n + new.n})

    def add_service_counts(self, rows: Iterable[tuple[str, datetime, int, int]]) -> None:
        values = [{"service": s, "hour_ms": _ms(h), "records": int(r), "errors": int(e)} for s, h, r, e in rows]
        t = service_counts_table.c
        upsert(self.conn, service_counts_table, values, ["service", "hour_ms"],
               lambda new: {"records": t.records + new.records, "errors": t.errors + new.errors})

    def add_examples(self, pattern_id: str, examples: Iterable[tuple[str, datetime, str]],
                     limit: int = MAX_EXAMPLES) -> None:
        """Keep a few distinct example lines per pattern. Lines must already be redacted."""
        self.add_examples_many([(pattern_id, examples)], limit)

    def add_examples_many(self, items: Iterable[tuple[str, Iterable[tuple[str, datetime, str]]]],
                          limit: int = MAX_EXAMPLES) -> None:
        """``add_examples`` of several patterns (a pattern may come more than once, e.g. once per
        service) in two statements: a count per pattern and one insert. Why: a detection window
        added the examples of a few dozen patterns, two statements each."""
        wanted = [(pid, list(examples)) for pid, examples in items]
        ids = sorted({pid for pid, _ in wanted})
        if not ids:
            return
        t = pattern_examples_table
        counted = select(t.c.pattern_id, func.count()).where(t.c.pattern_id.in_(ids)).group_by(t.c.pattern_id)
        have: dict[str, int] = {pid: int(n) for pid, n in self.conn.execute(counted)}
        room = {pid: limit - int(have.get(pid, 0)) for pid in ids}
        values: dict[tuple[str, str], dict[str, Any]] = {}
        for pattern_id, examples in wanted:
            for service, seen_at, line in examples:
                if room[pattern_id] <= 0:
                    break
                digest = hashlib.sha256(line.encode("utf-8", "replace")).hexdigest()[:32]
                if (pattern_id, digest) in values:  # the same line twice: kept once, room for another
                    continue
                values[(pattern_id, digest)] = {"pattern_id": pattern_id, "digest": digest, "service": service,
                                                "seen_ms": _ms(seen_at), "line": line}
                room[pattern_id] -= 1
        insert_ignore(self.conn, t, list(values.values()), ["pattern_id", "digest"])

    def set_status(self, pattern_id: str, status: Status) -> None:
        self.conn.execute(update(patterns_table).where(patterns_table.c.pattern_id == pattern_id)
                          .values(status=status, status_changed_ms=now_ms()))

    def add_aliases(self, aliases: dict[str, str]) -> None:
        """Record old id -> current id and fold the old pattern's history into the current one."""
        aliases = {old: new for old, new in aliases.items() if old != new}
        if not aliases:
            return
        upsert(self.conn, pattern_aliases_table, [{"old_id": o, "new_id": n} for o, n in aliases.items()],
               ["old_id"], lambda new: {"new_id": new.new_id})
        # Aliases that pointed at an id that is itself now an alias follow the chain.
        for old, new in aliases.items():
            self.conn.execute(update(pattern_aliases_table).where(pattern_aliases_table.c.new_id == old)
                              .values(new_id=new))
        for old, new in aliases.items():
            self._fold(old, new)

    def _fold(self, old: str, new: str) -> None:
        c = pattern_counts_table.c
        moved = [(r.service, r.hour_ms, r.n)
                 for r in self.conn.execute(select(c.service, c.hour_ms, c.n).where(c.pattern_id == old))]
        self.add_counts((new, s, from_ms(h), n) for s, h, n in moved)
        self.conn.execute(delete(pattern_counts_table).where(c.pattern_id == old))
        e = pattern_examples_table.c
        lines = [(r.service, from_ms(r.seen_ms), r.line) for r in
                 self.conn.execute(select(e.service, e.seen_ms, e.line).where(e.pattern_id == old))]
        self.add_examples(new, lines)
        self.conn.execute(delete(pattern_examples_table).where(e.pattern_id == old))
        old_row = self.patterns([old]).get(old)
        if old_row is not None:
            current = self.patterns([new]).get(new)
            template = current.template if current else old_row.template
            self.upsert_patterns([PatternUpdate(new, template, old_row.first_seen, old_row.last_seen,
                                                old_row.total)], status=old_row.status)  # type: ignore[arg-type]
            self.conn.execute(delete(patterns_table).where(patterns_table.c.pattern_id == old))

    def mark_window(self, start: datetime, end: datetime, error_records: int, patterns: int) -> None:
        insert_ignore(self.conn, detect_windows_table, [{
            "window_start_ms": _ms(start), "window_end_ms": _ms(end), "processed_ms": now_ms(),
            "error_records": int(error_records), "patterns": int(patterns)}], ["window_start_ms", "window_end_ms"])


class PatternStore:
    """The pattern store over one SQLAlchemy engine (``[state] url``)."""

    def __init__(self, engine_or_url: Engine | str) -> None:
        self.engine = open_state(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url

    @classmethod
    def from_config(cls, config: Any) -> PatternStore:
        return cls(config.state.url)

    # -- transactions --------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[StoreWriter]:
        """A plain transaction: enough for upserts that add up."""
        with self.engine.begin() as conn:
            yield StoreWriter(conn)

    @contextmanager
    def window_session(self, name: str = MINER_NAME) -> Iterator[StoreWriter]:
        """A transaction holding the miner's lock: one window's mine-compare-write at a time.

        SQLite: ``BEGIN IMMEDIATE`` takes the database write lock up front (waiting up to the busy
        timeout), so no later read-then-write can fail with a stale snapshot. PostgreSQL: the miner
        row is created if missing and locked with an UPDATE until commit.
        """
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            insert_ignore(conn, miner_state_table, [{"name": name, "version": 0, "state": None}], ["name"])
            conn.execute(update(miner_state_table).where(miner_state_table.c.name == name)
                         .values(version=miner_state_table.c.version + 1))
            try:
                yield StoreWriter(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    # -- reads for the CLI, digest and metrics -----------------------------------------------------------

    def resolve_id(self, pattern_id: str) -> str:
        """The current id for an id or an old alias of one."""
        with self.engine.connect() as conn:
            seen = set()
            current = pattern_id
            while current not in seen:
                seen.add(current)
                new = conn.execute(select(pattern_aliases_table.c.new_id)
                                   .where(pattern_aliases_table.c.old_id == current)).scalar()
                if new is None:
                    return current
                current = new
            return current

    def get(self, pattern_id: str) -> PatternRecord | None:
        current = self.resolve_id(pattern_id)
        with self.engine.connect() as conn:
            row = conn.execute(select(patterns_table).where(patterns_table.c.pattern_id == current)).first()
            if row is None:
                return None
            record = _record(row)
            record.aliases = sorted(conn.execute(select(pattern_aliases_table.c.old_id)
                                                 .where(pattern_aliases_table.c.new_id == current)).scalars())
            return record

    def require(self, pattern_id: str) -> PatternRecord:
        record = self.get(pattern_id)
        if record is None:
            raise UsageError(f"no pattern with id {pattern_id!r} in the pattern store: "
                             "'logpipe patterns list' shows the known ids")
        return record

    def list(self, status: str | None = None, service: str | None = None) -> builtins.list[PatternRecord]:
        """Patterns, most frequent first; ``service`` keeps those seen in that service."""
        query = select(patterns_table).order_by(patterns_table.c.total.desc(), patterns_table.c.pattern_id)
        if status is not None:
            if status not in STATUSES:
                raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
            query = query.where(patterns_table.c.status == status)
        if service is not None:
            c = pattern_counts_table.c
            query = query.where(patterns_table.c.pattern_id.in_(
                select(c.pattern_id).where(c.service == service).distinct()))
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def services_of(self, pattern_id: str) -> dict[str, int]:
        c = pattern_counts_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.service, func.sum(c.n)).where(c.pattern_id == pattern_id)
                                .group_by(c.service).order_by(func.sum(c.n).desc()))
            return {service: int(n) for service, n in rows}

    def hourly_counts(self, pattern_id: str, start: datetime | None = None,
                      end: datetime | None = None) -> dict[datetime, int]:
        """Counts per hour over all services (for the sparkline in ``patterns show``)."""
        c = pattern_counts_table.c
        query = (select(c.hour_ms, func.sum(c.n)).where(c.pattern_id == pattern_id).group_by(c.hour_ms)
                 .order_by(c.hour_ms))
        if start is not None:
            query = query.where(c.hour_ms >= _ms(start))
        if end is not None:
            query = query.where(c.hour_ms < _ms(end))
        with self.engine.connect() as conn:
            return {from_ms(hour): int(n) for hour, n in conn.execute(query)}

    def examples(self, pattern_id: str, limit: int = MAX_EXAMPLES) -> builtins.list[Example]:
        e = pattern_examples_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(e.service, e.seen_ms, e.line).where(e.pattern_id == pattern_id)
                                .order_by(e.seen_ms.desc(), e.digest).limit(limit))
            return [Example(r.service, from_ms(r.seen_ms), r.line) for r in rows]

    def counts(self, start: datetime, end: datetime,
               pattern_ids: Iterable[str] | None = None) -> dict[tuple[str, str, datetime], int]:
        with self.engine.connect() as conn:
            return StoreWriter(conn).counts(start, end, pattern_ids)

    def processed_windows(self, start: datetime | None = None,
                          end: datetime | None = None) -> builtins.list[tuple[datetime, datetime]]:
        with self.engine.connect() as conn:
            return StoreWriter(conn).processed_windows(start, end)

    def set_status(self, pattern_id: str, status: Status) -> PatternRecord:
        """Mute or resolve (or reopen) a pattern; ids of old aliases work too."""
        if status not in STATUSES:
            raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        record = self.require(pattern_id)
        with self.transaction() as writer:
            writer.set_status(record.pattern_id, status)
        record.status = status
        return record

    def add_counts(self, rows: Iterable[tuple[str, str, datetime, int]]) -> None:
        with self.transaction() as writer:
            writer.add_counts(rows)


def covered_hours(windows: Iterable[tuple[datetime, datetime]]) -> set[datetime]:
    """Hours fully inside one of the processed windows."""
    from logpipe.layout import HOUR, floor_hour

    hours: set[datetime] = set()
    for start, end in windows:
        hour = floor_hour(start)
        if hour < start:
            hour += HOUR
        while hour + HOUR <= end:
            hours.add(hour)
            hour += HOUR
    return hours


__all__ = ["STATUSES", "Example", "PatternRecord", "PatternStore", "PatternUpdate", "StoreWriter",
           "covered_hours"]
