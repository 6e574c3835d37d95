"""The outbox: what must reach a target exactly once, kept in the state database until it has.

Two channels use it - metric batches (``logpipe.sinks.publisher``) and digest deliveries
(``logpipe.digest.deliver``) - and they share the one state machine:

``pending`` -> ``sending`` -> ``sent``, and ``unknown`` for a send that failed in a way that may
have landed. Every change is a compare-and-set on the row's state, committed on its own:

* ``enqueue`` inserts rows inside the caller's transaction (so they commit with what produced them);
  a row already there is kept as it is, so queuing the same thing twice adds nothing;
* ``claim`` moves a row to ``sending`` and counts the attempt, committed *before* the send: of two
  processes, one wins; a row found ``sending`` later means a crash between the send and ``mark_sent``;
  a claim before a send that cannot be repeated harmlessly is ``durable`` (see below);
* ``mark_sent`` records when and how we know it arrived (the ledger); ``release`` puts a row back to
  ``pending`` (or ``unknown``) with the error, never dropping it.

Durability on SQLite: the state database runs in WAL mode with ``synchronous=NORMAL``
(``logpipe.state.db``): a commit survives the process being killed, but an OS crash or a power loss
may take back the last few commits (never part of one, never an older one before a newer one). Inside
the database that is harmless: what was lost is redone, and the local sink's rows and the outbox go
back together. A send to the outside world is not taken back, though: had the claim before a
CloudWatch call (which adds duplicates up) or a digest delivery been lost with the power, the next run
would see the row ``pending``, not in doubt, and send it again as if for the first time. So such a
claim is ``durable``: its commit runs with ``synchronous=FULL``, which syncs the write-ahead log up
to it - every earlier commit with it (the window that queued the row, too). One sync per send to a
non-idempotent target; an idempotent sink's claims (resending is harmless) stay as they are.
PostgreSQL syncs every commit anyway.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from logpipe.state.db import insert_new_many
from logpipe.state.tables import outbox as outbox_table

PENDING, SENDING, UNKNOWN, SENT = "pending", "sending", "unknown", "sent"
IN_DOUBT = (SENDING, UNKNOWN)
STATES = (PENDING, SENDING, UNKNOWN, SENT)
MAX_ERROR_CHARS = 2000
_KEY = ("channel", "target", "item_key")
_IN_CHUNK = 500  # values of one IN list (SQLite before 3.32 takes 999 parameters a statement)


@dataclass(frozen=True)
class OutboxItem:
    """Something to deliver: to ``target`` (a sink, a destination), identified there by ``key``."""

    target: str
    key: str
    kind: str
    job: str
    payload: str
    size: int = 1
    seq: int = 0
    window_start_ms: int | None = None
    window_end_ms: int | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A row of the outbox as read: the item and where it stands."""

    channel: str
    target: str
    key: str
    kind: str
    job: str
    payload: str
    size: int
    seq: int
    window_start_ms: int | None
    window_end_ms: int | None
    state: str
    attempts: int
    last_error: str | None
    created_ms: int
    updated_ms: int
    sent_ms: int | None
    sent_how: str | None


def _row(r: Any) -> OutboxRow:
    return OutboxRow(channel=r.channel, target=r.target, key=r.item_key, kind=r.kind, job=r.job, payload=r.payload,
                     size=int(r.size), seq=int(r.seq), window_start_ms=r.window_start_ms, window_end_ms=r.window_end_ms,
                     state=r.state, attempts=int(r.attempts), last_error=r.last_error, created_ms=int(r.created_ms),
                     updated_ms=int(r.updated_ms), sent_ms=r.sent_ms, sent_how=r.sent_how)


class Outbox:
    """One channel of the outbox over the state database; safe to use from several processes."""

    def __init__(self, engine: Engine, channel: str, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.channel = channel
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _where(self, row: OutboxRow) -> list[Any]:
        c = outbox_table.c
        return [c.channel == self.channel, c.target == row.target, c.item_key == row.key]

    # -- writing ----------------------------------------------------------------------------------

    def enqueue(self, conn: Connection, items: Iterable[OutboxItem]) -> int:
        """Queue the items on ``conn`` (the caller's transaction); returns how many were new."""
        now = self.now_ms()
        rows = [{"channel": self.channel, "target": i.target, "item_key": i.key, "kind": i.kind, "job": i.job,
                 "window_start_ms": i.window_start_ms, "window_end_ms": i.window_end_ms, "seq": i.seq,
                 "size": i.size, "payload": i.payload, "state": PENDING, "attempts": 0, "last_error": None,
                 "created_ms": now, "updated_ms": now, "sent_ms": None, "sent_how": None} for i in items]
        # the count of rows really added is what callers report
        return insert_new_many(conn, outbox_table, rows, _KEY)

    def claim(self, row: OutboxRow, durable: bool = False) -> bool:
        """``row.state`` -> ``sending``, counting the attempt; False when another process got there first.
        ``durable``: synced to disk before returning (a send that cannot be repeated harmlessly follows)."""
        return bool(self.claim_many([row], durable))

    def claim_many(self, rows: Sequence[OutboxRow], durable: bool = False) -> list[OutboxRow]:
        """``claim`` of several rows in one transaction: the rows this process got (each a
        compare-and-set on its state, as ``claim``). For sinks that are idempotent: a crash after the
        claim leaves them all ``sending``, and an idempotent sink's in-doubt rows are simply resent."""
        got: list[OutboxRow] = []
        with self.engine.connect() as conn:
            # The driver's own connection: a PRAGMA through SQLAlchemy would open its transaction.
            sqlite = conn.connection.driver_connection if durable and conn.dialect.name == "sqlite" else None
            if sqlite is not None:
                sqlite.execute("PRAGMA synchronous=FULL")
            try:
                with conn.begin():
                    now = self.now_ms()
                    got = self._set_many(conn, _CLAIM_MANY, _CLAIM, rows, [r.state for r in rows], {"now": now})
            finally:
                if sqlite is not None:
                    sqlite.execute("PRAGMA synchronous=NORMAL")
        return got

    def mark_sent(self, row: OutboxRow, how: str = "send", expect: str = SENDING) -> bool:
        """The row reached its target (``how``: "send" or "readback"); False if its state had moved on."""
        return self.mark_sent_many([row], how, expect) == 1

    def mark_sent_many(self, rows: Sequence[OutboxRow], how: str = "send", expect: str = SENDING) -> int:
        """``mark_sent`` of several rows in one transaction; how many were still in state ``expect``."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            values = {"now": self.now_ms(), "how": how}
            return len(self._set_many(conn, _MARK_SENT_MANY, _MARK_SENT, rows, [expect] * len(rows), values))

    def _set_many(self, conn: Connection, many: Any, one: Any, rows: Sequence[OutboxRow], expected: Sequence[str],
                  values: dict[str, Any]) -> list[OutboxRow]:
        """A compare-and-set on several rows at once (``many``: ``UPDATE ... RETURNING item_key``): one
        statement per (target, expected state) and ``_IN_CHUNK`` keys, where there was one per row (a run
        cycle's flush claimed and marked each of its few hundred batches by itself: a round trip each
        on PostgreSQL). A database without UPDATE RETURNING sets them one by one (``one``, by its row
        count). The rows whose state was still the expected one, in the order given."""
        if not conn.dialect.update_returning:
            return [row for row, state in zip(rows, expected, strict=True)
                    if conn.execute(one, {"k_channel": self.channel, "k_target": row.target, "k_key": row.key,
                                          "expect": state, **values}).rowcount == 1]
        groups: dict[tuple[str, str], list[str]] = {}
        for row, state in zip(rows, expected, strict=True):
            groups.setdefault((row.target, state), []).append(row.key)
        done: set[tuple[str, str]] = set()
        for (target, state), keys in groups.items():
            for at in range(0, len(keys), _IN_CHUNK):
                found = conn.execute(many, {"k_channel": self.channel, "k_target": target,
                                            "k_keys": keys[at:at + _IN_CHUNK], "expect": state, **values})
                done.update((target, key) for (key,) in found)
        return [row for row in rows if (row.target, row.key) in done]

    def release(self, row: OutboxRow, error: str | None, state: str = PENDING, expect: str | None = None) -> None:
        """Put the row back (``pending``, or ``unknown`` for an outcome in doubt) with its last error."""
        c = outbox_table.c
        stmt = update(outbox_table).where(*self._where(row))
        if expect is not None:
            stmt = stmt.where(c.state == expect)
        with self.engine.begin() as conn:
            conn.execute(stmt.values(state=state, last_error=(error or "")[:MAX_ERROR_CHARS] or None,
                                     updated_ms=self.now_ms()))

    # -- reading ----------------------------------------------------------------------------------

    def rows(self, target: str | None = None, states: Sequence[str] = (PENDING,), key: str | None = None
             ) -> list[OutboxRow]:
        """Rows in ``states``, oldest window first (then job, sequence, age, target)."""
        c = outbox_table.c
        query = select(outbox_table).where(c.channel == self.channel, c.state.in_(list(states)))
        if target is not None:
            query = query.where(c.target == target)
        if key is not None:
            query = query.where(c.item_key == key)
        query = query.order_by(c.window_start_ms, c.job, c.seq, c.created_ms, c.target)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def payloads(self, target: str, window_end_ms: Iterable[int], *, states: Sequence[str] | None = None,
                 other_than_job: str | None = None, other_than_key: str | None = None) -> list[tuple[str, str]]:
        """(job, payload) of the target's rows for windows ending at these times."""
        c = outbox_table.c
        query = select(c.job, c.payload).where(c.channel == self.channel, c.target == target,
                                               c.window_end_ms.in_(sorted(set(window_end_ms))))
        if states is not None:
            query = query.where(c.state.in_(list(states)))
        if other_than_job is not None:
            query = query.where(c.job != other_than_job)
        if other_than_key is not None:
            query = query.where(c.item_key != other_than_key)
        with self.engine.connect() as conn:
            return [(r.job, r.payload) for r in conn.execute(query)]

    def payloads_by_end(self, target: str, window_end_ms: Sequence[int]) -> list[tuple[int, str, str]]:
        """(window end, job, payload) of the target's rows for windows ending at these times, in one
        query per ``_IN_CHUNK`` ends (SQLite bounds a statement's parameters)."""
        c = outbox_table.c
        ends = sorted(set(window_end_ms))
        found: list[tuple[int, str, str]] = []
        with self.engine.connect() as conn:
            for at in range(0, len(ends), _IN_CHUNK):
                query = select(c.window_end_ms, c.job, c.payload).where(
                    c.channel == self.channel, c.target == target, c.window_end_ms.in_(ends[at:at + _IN_CHUNK]))
                found.extend((int(r.window_end_ms), r.job, r.payload) for r in conn.execute(query))
        return found

    def count_open(self, target: str) -> int:
        """Rows of the target not sent yet."""
        c = outbox_table.c
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox_table).where(
                c.channel == self.channel, c.target == target, c.state != SENT)).scalar_one())

    def status(self) -> dict[str, dict[str, int]]:
        """Rows per target and state."""
        c = outbox_table.c
        out: dict[str, dict[str, int]] = defaultdict(dict)
        with self.engine.connect() as conn:
            for target, state, n in conn.execute(select(c.target, c.state, func.count())
                                                 .where(c.channel == self.channel).group_by(c.target, c.state)):
                out[target][state] = int(n)
        return dict(out)

    def sent(self) -> list[OutboxRow]:
        """What reached its target, in the order it did (the ledger)."""
        c = outbox_table.c
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(select(outbox_table).where(c.channel == self.channel,
                                                                              c.state == SENT)
                                                  .order_by(c.sent_ms, c.target, c.item_key))]



# The per-row statements of ``claim`` and ``mark_sent`` (one row or many), built once (a run cycle's flush
# claims and marks a few hundred batches; building each statement cost more than running it).
_o = outbox_table.c
# (bound names other than the columns': an UPDATE reserves those for its SET clause)
_ROW = (_o.channel == bindparam("k_channel"), _o.target == bindparam("k_target"), _o.item_key == bindparam("k_key"))
_CLAIM = (update(outbox_table).where(*_ROW, _o.state == bindparam("expect"))
          .values(state=SENDING, attempts=_o.attempts + 1, updated_ms=bindparam("now")))
_MARK_SENT = (update(outbox_table).where(*_ROW, _o.state == bindparam("expect"))
              .values(state=SENT, last_error=None, updated_ms=bindparam("now"), sent_ms=bindparam("now"),
                      sent_how=bindparam("how")))

# The same compare-and-sets on many keys of one target at once; the keys whose row was updated come back.
_ROWS = (_o.channel == bindparam("k_channel"), _o.target == bindparam("k_target"),
         _o.item_key.in_(bindparam("k_keys", expanding=True)))
_CLAIM_MANY = (update(outbox_table).where(*_ROWS, _o.state == bindparam("expect"))
               .values(state=SENDING, attempts=_o.attempts + 1, updated_ms=bindparam("now")).returning(_o.item_key))
_MARK_SENT_MANY = (update(outbox_table).where(*_ROWS, _o.state == bindparam("expect"))
                   .values(state=SENT, last_error=None, updated_ms=bindparam("now"), sent_ms=bindparam("now"),
                           sent_how=bindparam("how")).returning(_o.item_key))

__all__ = ["IN_DOUBT", "PENDING", "SENDING", "SENT", "STATES", "UNKNOWN", "Outbox", "OutboxItem", "OutboxRow"]
