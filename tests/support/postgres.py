"""A fresh PostgreSQL database per test on the local server (127.0.0.1:5432, trust auth).

Why a database and not a schema: the state code's migrations create its tables in the default
schema, so a fresh database is the isolation that needs nothing from
the code under test. ``DROP DATABASE ... WITH (FORCE)`` ends connections a cached engine still holds.
"""

from __future__ import annotations

import uuid
from functools import cache

HOST = "127.0.0.1"
PORT = 5432
USER = "postgres"
ADMIN_DB = "test"


def _connect(dbname: str = ADMIN_DB):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(host=HOST, port=PORT, user=USER, dbname=dbname, autocommit=True, connect_timeout=3)


@cache
def unavailable_reason() -> str | None:
    """None when the server answers, else why not (checked once per process)."""
    try:
        with _connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL not reachable on {HOST}:{PORT}: {type(exc).__name__}: {str(exc).strip()}"
    return None


def create_database() -> str:
    """Create an empty database and return its name."""
    name = f"logpipe_test_{uuid.uuid4().hex[:16]}"
    with _connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with _connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url_for(name: str) -> str:
    return f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{name}"
