"""Leases: which replica of ``logpipe serve`` may start windows.

Why: ECS runs two tasks during a rolling deploy, and a ``desiredCount`` of 2 runs two all the time.
The watermarks' compare-and-set already keeps two replicas from *completing* a window twice, but
both would still *do* every window (run every query, pay for every Athena scan). With a lease, one
replica is active and the others stand by:

* a lease is a row of ``service_leases`` (name, holder, expiry, fencing token); the same SQL on SQLite
  and PostgreSQL, so one code path is tested on both;
* the holder renews it every third of ``[service] lease_seconds``; anyone may take it once it has
  expired (a compare-and-set ``UPDATE ... WHERE expires_ms < now``: of two replicas racing for it,
  exactly one row update succeeds; on PostgreSQL the second re-reads the row after the first
  commits, on SQLite writes are serialised);
* a replica trusts its lease only until ``renewed_at + lease_seconds - margin`` by its *own* monotonic
  clock, measured from before the renewal was sent, so it stops starting windows before another
  replica can take the lease over, even if the database answers slowly;
* a replica that stops (SIGTERM) releases the lease, so the standby takes over at once; one that dies
  (``kill -9``, a lost host) is replaced within one lease period.

Clocks: expiry is compared with the replicas' wall clocks (epoch milliseconds); ECS hosts keep time
with NTP, and the margin covers the small skew that remains.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from logpipe.state.db import insert_ignore
from logpipe.state.tables import service_leases

# Stop trusting a lease this share of its period before it runs out (clock skew, a slow renewal).
SAFETY_MARGIN = 0.2


def replica_id() -> str:
    """This process as a lease holder: host, pid and a random part (a pid can be reused)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseState:
    name: str
    holder: str
    token: int
    expires_ms: int


class Lease:
    """One named lease held (or wanted) by ``holder``."""

    def __init__(self, engine: Engine, name: str, seconds: float, holder: str | None = None,
                 wall_clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        if seconds <= 0:
            raise ValueError("a lease lasts a positive number of seconds")
        self.engine = engine
        self.name = name
        self.seconds = seconds
        self.holder = holder or replica_id()
        self.token: int | None = None
        # On a takeover: whose lease it was and when it expired (for the log line), and when we took it.
        self.previous: LeaseState | None = None
        self.acquired_ms: int | None = None
        self._wall = wall_clock
        self._monotonic = monotonic
        self._valid_until = 0.0
        self._lock = threading.Lock()

    def held(self) -> bool:
        """True while this replica may start work under the lease (by its own clock)."""
        return self._monotonic() < self._valid_until

    def acquire(self) -> bool:
        """Renew the lease if held, take it over if free or expired; True if this replica holds it now."""
        asked = self._monotonic()
        now = int(self._wall() * 1000)
        expires = now + int(self.seconds * 1000)
        c = service_leases.c
        with self._lock, self.engine.begin() as conn:
            insert_ignore(conn, service_leases, [{"name": self.name, "holder": self.holder, "token": 1,
                                                  "acquired_ms": now, "expires_ms": expires}], ["name"])
            renewed = conn.execute(update(service_leases).where(c.name == self.name, c.holder == self.holder)
                                   .values(expires_ms=expires)).rowcount
            if not renewed:
                before = conn.execute(select(c.holder, c.expires_ms).where(c.name == self.name)).first()
                renewed = conn.execute(update(service_leases).where(c.name == self.name, c.holder != self.holder,
                                                                    c.expires_ms < now)
                                       .values(holder=self.holder, token=c.token + 1, acquired_ms=now,
                                               expires_ms=expires)).rowcount
                if renewed and before is not None:
                    self.previous = LeaseState(self.name, before.holder, 0, int(before.expires_ms))
                    self.acquired_ms = now
            if renewed:
                self.token = int(conn.execute(select(c.token).where(c.name == self.name)).scalar_one())
        if renewed:
            self._valid_until = asked + self.seconds * (1 - SAFETY_MARGIN)
            return True
        self._valid_until = 0.0
        return False

    def release(self) -> None:
        """Give the lease up now (a clean stop): the standby need not wait for it to expire."""
        self._valid_until = 0.0
        c = service_leases.c
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(service_leases).where(c.name == self.name, c.holder == self.holder)
                         .values(expires_ms=0))

    def current(self) -> LeaseState | None:
        """Who holds the lease according to the database (for /status)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(service_leases).where(service_leases.c.name == self.name)).first()
        return None if row is None else LeaseState(row.name, row.holder, int(row.token), int(row.expires_ms))


__all__ = ["SAFETY_MARGIN", "Lease", "LeaseState", "replica_id"]
