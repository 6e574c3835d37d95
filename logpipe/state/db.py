"""One SQLAlchemy engine for all state: patterns, watermarks, the publish ledger, local metrics.

Every table is declared in ``logpipe.state.tables``; ``open_state`` creates what is missing. SQLite gets WAL and a busy timeout so that two processes (``serve`` and a manual
``logpipe run``) can write at once without "database is locked" failures.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from logpipe.errors import ConfigError
from logpipe.state.tables import metadata

_ALIASES = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def _normalise_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in _ALIASES:
        parsed = parsed.set(drivername=_ALIASES[parsed.drivername])
    return parsed.render_as_string(hide_password=False)




@cache
def _engine_for(url: str) -> Engine:
    url = _normalise_url(url)
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def open_state(url: str) -> Engine:
    """The engine for a state URL, with every table created."""
    try:
        engine = _engine_for(url)
        metadata.create_all(engine)
    except ConfigError:
        raise
    except Exception as exc:
        safe = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"cannot open the state database {safe}: {exc}") from exc
    return engine
