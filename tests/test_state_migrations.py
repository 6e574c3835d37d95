"""The state schema is built by Alembic migrations, on SQLite and PostgreSQL: a new database gets
exactly the tables ``logpipe.state.tables`` declares, and a database made before migrations existed
is upgraded with its rows (outbox batches, the ledger, digest deliveries, pattern times) intact."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, insert, select

from logpipe.state.db import MIGRATIONS, current_revision, head_revision, migrate, open_state
from logpipe.state.outbox import Outbox
from logpipe.state.tables import metadata, outbox, pattern_counts, patterns

T0 = datetime(2026, 11, 26, 10, 0, 0)
T0_MS = 1795687200000  # 2026-11-26T10:00:00Z


def baseline_module():  # the revision module's name starts with a digit: load it by path
    path = MIGRATIONS / "versions" / "0001_baseline.py"
    spec = importlib.util.spec_from_file_location("logpipe_state_baseline", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def old_database(url: str) -> None:
    """A state database as logpipe made it before migrations (create_all), with rows in it."""
    old = MetaData()
    baseline_module().baseline(old)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    old.create_all(engine)
    t = old.tables
    with engine.begin() as conn:
        conn.execute(insert(t["metric_outbox"]), [
            {"batch_id": "b-sent", "sink": "cloudwatch", "job": "query:x", "window_start_ms": 1, "window_end_ms": 2,
             "seq": 0, "n_points": 3, "points_json": "[]", "state": "sent", "attempts": 1, "last_error": None,
             "updated_ms": 10},
            {"batch_id": "b-doubt", "sink": "cloudwatch", "job": "query:x", "window_start_ms": 1, "window_end_ms": 2,
             "seq": 1, "n_points": 4, "points_json": "[1]", "state": "unknown", "attempts": 2, "last_error": "HTTP 500",
             "updated_ms": 11}])
        conn.execute(insert(t["metric_ledger"]), [
            {"batch_id": "b-sent", "sink": "cloudwatch", "job": "query:x", "window_start_ms": 1, "window_end_ms": 2,
             "n_points": 3, "published_ms": 12, "how": "readback"}])
        conn.execute(insert(t["digest_outbox"]), [
            {"digest_key": "digest:w", "destination": "file:/tmp/d.md", "kind": "file", "job": "digest",
             "payload": json.dumps({"path": "/tmp/d.md"}), "state": "pending", "attempts": 1, "last_error": "disk full",
             "created_ms": 5, "updated_ms": 6, "sent_ms": None}])
        conn.execute(insert(t["patterns"]), [
            {"pattern_id": "p1", "template": "user <*> failed", "status": "new", "first_seen": T0,
             "last_seen": T0.replace(minute=30, second=15, microsecond=250000), "total": 7, "status_changed_at": None}])
        conn.execute(insert(t["pattern_counts"]), [{"pattern_id": "p1", "service": "api", "hour": T0, "n": 7}])
    engine.dispose()


def test_a_new_database_has_exactly_the_declared_schema(state_url: str) -> None:
    engine = open_state(state_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_a_database_from_before_migrations_is_upgraded_with_its_rows(state_url: str) -> None:
    old_database(state_url)
    engine = open_state(state_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        rows = {(r.channel, r.item_key): r for r in conn.execute(select(outbox))}
        p = conn.execute(select(patterns)).one()
        counts = conn.execute(select(pattern_counts)).all()
    assert set(rows) == {("metrics", "b-sent"), ("metrics", "b-doubt"), ("digest", "digest:w")}
    sent, doubt, digest = rows["metrics", "b-sent"], rows["metrics", "b-doubt"], rows["digest", "digest:w"]
    assert (sent.state, sent.size, sent.sent_ms, sent.sent_how, sent.target) == ("sent", 3, 12, "readback", "cloudwatch")
    assert (doubt.state, doubt.attempts, doubt.last_error, doubt.payload) == ("unknown", 2, "HTTP 500", "[1]")
    assert (digest.state, digest.target, digest.kind, digest.last_error) == ("pending", "file:/tmp/d.md", "file",
                                                                              "disk full")
    assert (p.first_seen_ms, p.last_seen_ms, p.status_changed_ms) == (T0_MS, T0_MS + 30 * 60_000 + 15_250, None)
    assert [(c.hour_ms, c.n) for c in counts] == [(T0_MS, 7)]
    # The moved rows are the outbox's: the pending digest is picked up, the in-doubt batch resolved later.
    assert [r.key for r in Outbox(engine, "digest").rows()] == ["digest:w"]
    assert Outbox(engine, "metrics").status() == {"cloudwatch": {"sent": 1, "unknown": 1}}


def test_downgrade_and_upgrade_again_keep_the_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    old_database(url)
    engine = open_state(url)
    migrate(engine, "0001", downgrade=True)
    assert current_revision(engine) == "0001"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT how FROM metric_ledger").scalars().all() == ["readback"]
        assert conn.exec_driver_sql("SELECT hour FROM pattern_counts").scalar_one().startswith("2026-11-26 10:00:00")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(select(pattern_counts.c.hour_ms)).scalar_one() == T0_MS
        assert conn.execute(select(outbox.c.sent_how).where(outbox.c.item_key == "b-sent")).scalar_one() == "readback"


def test_two_processes_opening_a_new_database_at_once_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    script = textwrap.dedent(f"""
        import time
        from logpipe.state.db import current_revision, open_state
        go = {__import__('time').time() + 1.5}
        while time.time() < go:
            pass
        print(current_revision(open_state({url!r})))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _out, err in outs]
    assert [out.strip() for out, _err in outs] == [head_revision()] * 2


@pytest.mark.parametrize("table", sorted(metadata.tables))
def test_every_declared_table_is_built_by_a_migration(table: str, tmp_path: Path) -> None:
    engine = open_state(f"sqlite:///{tmp_path}/state.db")
    with engine.connect() as conn:
        assert conn.dialect.has_table(conn, table)


def test_a_relative_sqlite_url_names_the_file_of_the_working_directory_it_is_opened_in(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """Engines are kept per URL for the process: ``sqlite:///state.db`` opened in two folders must be
    two databases, each migrated (a pooled connection of the first folder's file was reused before)."""
    from sqlalchemy import inspect

    from logpipe.state.db import open_state

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        engine = open_state("sqlite:///state.db")
        assert str(tmp_path / name / "state.db") in str(engine.url)
        assert "alembic_version" in inspect(engine).get_table_names()
    assert (tmp_path / "a" / "state.db").is_file() and (tmp_path / "b" / "state.db").is_file()
