"""One SQLAlchemy engine for all state: patterns, watermarks, the outbox, local metrics.

Every table is declared in ``logpipe.state.tables`` and built by the Alembic migrations in
``logpipe/state/migrations``: ``open_state`` brings the database to the newest revision (a database
made before migrations existed is adopted by the baseline revision, then upgraded). The state lives
in PostgreSQL across deploys, so the schema changes only that way. SQLite gets WAL and a busy timeout
so that two processes (``serve`` and a manual ``logpipe run``) can write at once without "database
is locked" failures, and ``synchronous=NORMAL``: in WAL mode a commit then costs no sync (the log is
synced at checkpoints), survives the process being killed, and an OS crash or power loss can only take
back the last commits, whole and in order - what the state redoes by itself. The one place where that
is not enough, a claim before a send that cannot be taken back, syncs (``Outbox.claim(durable=True)``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe.errors import ConfigError, MissingExtraError
from logpipe.extras import require
from logpipe.layout import from_ms, to_ms

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy import Connection, Engine, Table

_ALIASES = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def _normalise_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in _ALIASES:
        parsed = parsed.set(drivername=_ALIASES[parsed.drivername])
    return parsed.render_as_string(hide_password=False)




@cache
def _engine_for(url: str) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    url = _normalise_url(url)
    parsed = make_url(url)
    if parsed.drivername.startswith("postgresql"):
        require("postgres", "a PostgreSQL state database")
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


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK_ID = 7_246_183_501  # PostgreSQL advisory lock held while migrating
_migrated: set[str] = set()
_migrated_lock = threading.Lock()


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision of the state schema."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_REVISION_LINE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)\s*$""", re.M)


@cache
def _head_from_files() -> str | None:
    """The newest revision read from the migration files' ``revision = "..."`` lines, without alembic
    (a third of a second of imports): the one no other file names as its ``down_revision``. None when
    the files do not say it plainly (a merge, an unusual line): alembic answers then.

    Read once per process: the files are the installed package's own, and a run cycle asked before
    every window's verdict lookup (``sqlite_reader``), reading and matching nine files each time."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        found = dict((m.group(1), m.group(2)) for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")))
        if not found.get("revision") or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            downs.add(found["down_revision"])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database is known to be at the newest revision, asked with one plain SELECT. False
    when unsure (no version table yet, files alembic must read): the caller asks alembic."""
    head = _head_from_files()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    except Exception:  # no version table: a new database
        return False
    return [str(r[0]) for r in rows] == [head]


def migrate(engine: Engine, revision: str = "head", downgrade: bool = False) -> None:
    """Upgrade (or downgrade) the state database, holding the database's lock so that two processes
    starting at once migrate one after the other."""
    from alembic import command

    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
        cfg = _alembic_config(conn)
        if downgrade:
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)
        conn.commit()


def db_error_text(exc: BaseException) -> str:
    """A database error as one line: the driver's exception and the first line of its message.

    SQLAlchemy's text adds the statement with its parameters (which can hold stored examples) and a
    "Background on this error" link over several lines; a user needs what the driver said.
    """
    cause = getattr(exc, "orig", None) or exc
    first = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
    first = first.split(" [SQL:")[0].split("(Background on this error")[0].strip()
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def _absolute(url: str) -> str:
    """A SQLite URL with a relative path, made absolute now: the engines (and their pooled connections)
    are kept per URL for the process, so ``sqlite:///state.db`` must name one file, not whichever the
    working directory held when a connection was first opened."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return url  # open_state reports it
    database = parsed.database or ""
    if (parsed.drivername.startswith("sqlite") and database and database != ":memory:"
            and not database.startswith("file:") and not os.path.isabs(database)):
        return parsed.set(database=os.path.abspath(database)).render_as_string(hide_password=False)
    return url


def open_state(url: str) -> Engine:
    """The engine for a state URL, its schema at the newest revision."""
    url = _absolute(url)
    try:
        engine = _engine_for(url)
        with _migrated_lock:
            if url not in _migrated:
                if not _at_head(engine) and current_revision(engine) != head_revision():
                    migrate(engine)
                _migrated.add(url)
    except (ConfigError, MissingExtraError):
        raise
    except Exception as exc:
        from sqlalchemy.engine import make_url

        safe = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"cannot open the state database {safe}: {db_error_text(exc)}") from exc
    return engine


_PLAIN_SQLITE = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<path>[^?%]+)$")


def plain_sqlite_file(url: str) -> str | None:
    """The file of a plain SQLite URL (``sqlite:///PATH``), made absolute as ``open_state`` makes it;
    None for anything else (another database, in memory, a URI filename, options, escapes)."""
    found = _PLAIN_SQLITE.match(url)
    if found is None:
        return None
    path = found.group("path")
    if path == ":memory:" or path.startswith("file:"):
        return None
    return os.path.abspath(path)


def sqlite_reader(url: str) -> sqlite3.Connection | None:
    """A standard-library connection to read a plain SQLite state file that exists and is at the newest
    schema revision, or None. Reading remembered rows (the object verdicts of ``logpipe query run``)
    then needs neither SQLAlchemy nor Alembic, a tenth of a second of a short query's process. None
    whenever that cannot be told cheaply or anything fails: the caller opens the database with
    ``open_state``, which creates or migrates it (and reports what is wrong with it)."""
    import sqlite3
    from urllib.parse import quote

    path = plain_sqlite_file(url)
    if path is None or not os.path.isfile(path):
        return None
    head = _head_from_files()
    if head is None:
        return None
    try:
        con = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:  # no version table: a database open_state must build
        rows = []
    if [str(r[0]) for r in rows] != [head]:
        con.close()
        return None
    return con


# -- writing ------------------------------------------------------------------------------------------

# The SET clause of an upsert, from the row that was refused (``excluded``): {"n": table.c.n + excluded.n}.
UpdateFrom = Callable[[Any], Mapping[str, Any]]


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
           update: UpdateFrom | None = None) -> int:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` (or ``DO NOTHING`` without ``update``), on ``conn``.

    SQLite and PostgreSQL speak the same form, so concurrent writers add up or keep the first row
    instead of failing on a duplicate key. Returns the rows the database reports as written.
    """
    if not rows:
        return 0
    if update is None:  # the same statement every time: built once, executed with the rows as parameters
        key = (conn.dialect.name, table.name, tuple(keys))
        stmt = _IGNORING.get(key)
        if stmt is None:
            stmt = _IGNORING[key] = _dialect(conn).insert(table).on_conflict_do_nothing(index_elements=list(keys))
        return conn.execute(stmt, list(rows)).rowcount or 0
    stmt = _dialect(conn).insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=dict(update(stmt.excluded)))
    if len(rows) == 1:
        return conn.execute(stmt.values(**rows[0])).rowcount or 0
    return conn.execute(stmt, list(rows)).rowcount or 0


def replace_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> int:
    """Insert the rows, or overwrite every other column of the row already under their keys (an
    ``upsert`` whose SET clause takes every given column from the new row), with the statement built
    once per (dialect, table, keys, columns)."""
    if not rows:
        return 0
    columns = tuple(c for c in rows[0] if c not in keys)
    key = (conn.dialect.name, table.name, tuple(keys), columns)
    stmt = _REPLACING.get(key)
    if stmt is None:
        base = _dialect(conn).insert(table)
        stmt = _REPLACING[key] = base.on_conflict_do_update(index_elements=list(keys),
                                                            set_={c: base.excluded[c] for c in columns})
    return conn.execute(stmt, list(rows)).rowcount or 0


_REPLACING: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}
# ``INSERT ... ON CONFLICT DO NOTHING`` per (dialect, table, keys): building it was seven times the cost
# of running it on SQLite (a run cycle inserts this way a few thousand times).
_IGNORING: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _dialect(conn: Connection) -> Any:
    """The dialect's module on first use: the PostgreSQL one is a tenth of a second of imports that a
    SQLite state never needs."""
    import importlib

    return importlib.import_module("sqlalchemy.dialects." + ("postgresql" if conn.dialect.name == "postgresql"
                                                             else "sqlite"))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> int:
    """Insert the rows whose keys are not there yet; returns how many the database reports as added
    (PostgreSQL through SQLAlchemy reports none: ``insert_new`` tells for one row)."""
    return upsert(conn, table, rows, keys)


def insert_new(conn: Connection, table: Table, row: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """Insert one row unless a row with its key is there (committed, or written by this transaction);
    True when this row was added.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: one statement where a count and an insert were two,
    and an answer PostgreSQL gives too (its row count through SQLAlchemy is -1 for either outcome).
    A database without RETURNING (SQLite before 3.35) is asked first."""
    if not conn.dialect.insert_returning:
        from sqlalchemy import and_, func, select

        key = and_(*(table.c[k] == row[k] for k in keys))
        if conn.execute(select(func.count()).select_from(table).where(key)).scalar_one():
            return False
        return bool(upsert(conn, table, [row], keys))
    cache_key = (conn.dialect.name, table.name, tuple(keys))
    stmt = _INSERTING_NEW.get(cache_key)
    if stmt is None:
        stmt = _INSERTING_NEW[cache_key] = (_dialect(conn).insert(table).on_conflict_do_nothing(index_elements=list(keys))
                                            .returning(table.c[keys[0]]))
    return conn.execute(stmt, dict(row)).first() is not None


def insert_new_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> int:
    """``insert_new`` for many rows: how many were added (a row whose key is there, or repeats an
    earlier row of ``rows``, is not), in one statement (``insert_new_keys``). A window's data points
    were a statement each, ~5 % of a run cycle over compacted hours."""
    return len(insert_new_keys(conn, table, rows, keys))


def insert_new_keys(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
                    ) -> set[tuple[Any, ...]]:
    """``insert_new`` for many rows, answering which were added: the key tuples (``keys``' values, in
    order) of the rows written (a row whose key is there, or repeats an earlier row of ``rows``, is
    not). One batched ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` of the key columns (SQLAlchemy's
    "insertmanyvalues", SQLite and PostgreSQL alike): a row returned is a row added. A database
    without it is asked row by row."""
    if not rows:
        return set()
    if not conn.dialect.insert_returning or not getattr(conn.dialect, "use_insertmanyvalues", False):
        return {tuple(row[k] for k in keys) for row in rows if insert_new(conn, table, row, keys)}
    cache_key = (conn.dialect.name, table.name, tuple(keys), "many")
    stmt = _INSERTING_NEW.get(cache_key)
    if stmt is None:
        stmt = _INSERTING_NEW[cache_key] = (_dialect(conn).insert(table).on_conflict_do_nothing(index_elements=list(keys))
                                            .returning(*(table.c[k] for k in keys)))
    return {tuple(found) for found in conn.execute(stmt, [dict(row) for row in rows])}


# ``insert_new``'s and ``insert_new_keys``' statements per (dialect, table, keys[, "many"])
_INSERTING_NEW: dict[tuple[Any, ...], Any] = {}


# -- time: epoch milliseconds, UTC ----------------------------------------------------------------------


# ``logpipe.layout.to_ms`` / ``from_ms`` convert; these two are what state code needs besides.


def from_ms_or_none(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def now_ms() -> int:
    return int(time.time() * 1000)


__all__ = ["MIGRATIONS", "current_revision", "db_error_text", "from_ms", "from_ms_or_none", "head_revision", "insert_ignore",
           "insert_new", "insert_new_keys", "insert_new_many", "migrate",
           "now_ms", "open_state", "plain_sqlite_file", "replace_rows", "sqlite_reader", "to_ms", "upsert"]
