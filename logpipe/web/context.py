"""What every route of the console needs: the config, the state database, the running service (for
``/healthz`` and ``/status``), who may do what, and the query runs. One instance per app."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from logpipe.config import Config
from logpipe.errors import UsageError
from logpipe.queries.model import SavedQuery
from logpipe.web.auth import Authenticator
from logpipe.web.runs import QueryRuns, RunRequest


@dataclass
class Console:
    config: Config
    auth: Authenticator
    service: Any | None = None  # logpipe.service.scheduler.Service under ``serve``; None for ``logpipe ui``
    adhoc_sql: bool = False
    local: bool = False  # ``logpipe ui`` on a laptop
    _state: Engine | None = field(default=None, repr=False)
    _runs: QueryRuns | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queries: tuple[float, dict[str, SavedQuery]] | None = field(default=None, repr=False)
    _memo: dict[str, tuple[float, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def served(cls, config: Config, service: Any | None = None) -> Console:
        """The console of ``logpipe serve``: identities from ``[web]`` (tokens or the ALB's OIDC),
        ad-hoc SQL only when ``[web] adhoc_sql`` turns it on (off by default)."""
        return cls(config, Authenticator(config.web, config.aws.region), service=service,
                   adhoc_sql=config.web.adhoc_sql)

    @property
    def state(self) -> Engine:
        with self._lock:
            if self._state is None:
                from logpipe.state.db import open_state

                self._state = open_state(self.config.state.url)
            return self._state

    @property
    def runs(self) -> QueryRuns:
        with self._lock:
            if self._runs is None:
                web = self.config.web
                self._runs = QueryRuns(self.config, web.max_running_queries, web.max_result_rows)
            return self._runs

    def queries(self) -> dict[str, SavedQuery]:
        """The saved queries, reloaded at most every 5 s (a new file shows up without a restart)."""
        import time

        from logpipe.queries.loader import load_queries

        now = time.monotonic()
        cached = self._queries
        if cached is None or now - cached[0] > 5:
            cached = (now, load_queries(self.config))
            self._queries = cached
        return cached[1]

    def memo(self, key: str, seconds: float, compute: Callable[[], Any]) -> Any:
        """``compute()``, reused for ``seconds``: what every page and a burst of API calls ask for at once
        (the alarms' state changes once a window, not once a request)."""
        import time

        now = time.monotonic()
        found = self._memo.get(key)
        if found is None or now - found[0] > seconds:
            found = (now, compute())
            self._memo[key] = found
        return found[1]

    def query(self, name: str) -> SavedQuery:
        found = self.queries().get(name)
        if found is None:
            raise LookupError(f"no saved query {name!r}")
        return found

    def patterns(self) -> Any:
        from logpipe.patterns.store import PatternStore

        return PatternStore(self.state)

    def results(self) -> Any:
        from logpipe.queries.stored import ResultStore

        web = self.config.web
        return ResultStore(self.state, web.result_retention_days, web.result_rows_kept, web.result_max_per_job)

    def close(self) -> None:
        if self._runs is not None:
            self._runs.close()


def fingerprint(query: SavedQuery) -> str:
    return hashlib.sha256(query.sql.encode("utf-8")).hexdigest()[:12]


def window_of(since: str | None, until: str | None, default: str, now: datetime | None = None
              ) -> tuple[datetime, datetime]:
    """``[start, end)`` from the form's since/until (relative or ISO 8601), default: the last ``default``."""
    from logpipe.queries.window import window_from

    now = now or datetime.now(UTC).replace(microsecond=0)
    return window_from(since or default, until or "now", now)


def run_request(console: Console, query: SavedQuery, raw_params: dict[str, str], since: str | None,
                until: str | None, engine: str | None, sql: str | None = None) -> tuple[RunRequest, dict[str, Any]]:
    """A validated run: parameters parsed by their types (UsageError names the bad one), the window
    made absolute (so the run's URL reproduces it), the engine known."""
    from logpipe.engines import ENGINES
    from logpipe.queries.params import resolve

    engine = engine or console.config.engine.kind
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    start, end = window_of(since, until, query.window)
    given = {k: v for k, v in raw_params.items() if v is not None and v != ""}
    resolve(query, given, start, end)  # raises UsageError for a bad or unknown value
    declared = {p.name for p in query.params}
    request = RunRequest(query=query.name, params=tuple(sorted(given.items())), start=start, end=end,
                         engine=engine, sql=sql, fingerprint=fingerprint(query))
    return request, {k: v for k, v in given.items() if k in declared}


def clamp_window(start: datetime, end: datetime, limit: timedelta) -> tuple[datetime, datetime]:
    return (max(start, end - limit), end)


__all__ = ["Console", "clamp_window", "fingerprint", "run_request", "window_of"]
