"""Kept results of scheduled runs (logpipe.queries.stored): one per job and window, exact types, at
most ``rows_kept`` rows, pruned by age and by count per job: the state store stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
from sqlalchemy import update

from logpipe.engines.base import QueryStats
from logpipe.queries.model import QueryResult, SavedQuery
from logpipe.queries.stored import ResultStore
from logpipe.state.db import now_ms, open_state
from logpipe.state.tables import query_results

T0 = datetime(2026, 11, 20, tzinfo=UTC)
QUERY = SavedQuery(name="errors_by_service", description="d", sql="SELECT 1", path=Path("q.sql"), window="1h")


def result(hour: int, rows: int) -> QueryResult:
    start = T0 + timedelta(hours=hour)
    table = pa.table({"hour": pa.array([start] * rows, pa.timestamp("us", tz="UTC")),
                      "errors": pa.array(range(rows), pa.int64()),
                      "note": pa.array([None if i % 2 else f"n{i}" for i in range(rows)], pa.string())})
    return QueryResult(QUERY, pd.DataFrame(), start, start + timedelta(hours=1), {"service": "checkout"},
                       QueryStats(engine="duckdb", bytes_scanned=1234), table)


def test_one_result_per_window_with_exact_types_and_at_most_rows_kept(tmp_path: Path) -> None:
    store = ResultStore(open_state(f"sqlite:///{tmp_path}/state.db"), retention_days=14, rows_kept=5)
    first = store.save("query:errors_by_service", result(0, 12))
    assert first is not None and (first.rows, first.rows_kept) == (12, 5)
    again = store.save("query:errors_by_service", result(0, 3))  # the same window rerun: replaced, not added
    assert again is not None and again.result_id == first.result_id
    [only] = store.list("errors_by_service")
    assert (only.rows, only.rows_kept, only.params) == (3, 3, {"service": "checkout"})
    table = store.get(only.result_id).table()  # type: ignore[union-attr]
    assert str(table.schema.field("errors").type) == "int64" and table.column("note").to_pylist() == ["n0", None, "n2"]


def test_old_results_and_a_jobs_oldest_windows_beyond_its_cap_are_pruned(state_url: str) -> None:
    engine = open_state(state_url)
    store = ResultStore(engine, retention_days=14, rows_kept=10, max_per_job=4)
    for hour in range(6):
        store.save("query:errors_by_service", result(hour, 2))
    store.save("query:other", result(0, 1))
    kept = [k for k in store.list("errors_by_service") if k.job == "query:errors_by_service"]
    assert [k.window_start for k in kept] == [T0 + timedelta(hours=h) for h in (5, 4, 3, 2)]  # the newest 4
    assert store.counts() == {"errors_by_service": 5}  # a second job of the same query, its cap its own
    assert len(store.list()) == 5
    # a result written 15 days ago goes at the next write
    with engine.begin() as conn:
        conn.execute(update(query_results).where(query_results.c.job == "query:other")
                     .values(created_ms=now_ms() - 15 * 86_400_000))
    store.save("query:errors_by_service", result(6, 2))
    assert {k.job for k in store.list()} == {"query:errors_by_service"}


def test_retention_zero_keeps_nothing(tmp_path: Path) -> None:
    store = ResultStore(open_state(f"sqlite:///{tmp_path}/state.db"), retention_days=0)
    assert store.save("query:errors_by_service", result(0, 2)) is None
    assert store.list() == []


def test_results_kept_as_parquet_before_are_still_read_with_their_types(tmp_path: Path) -> None:
    """Results are now kept as Arrow IPC files; rows kept as Parquet by an older version stay browsable."""
    from logpipe.queries.arrow import to_parquet
    from logpipe.queries.stored import decode_table

    engine = open_state(f"sqlite:///{tmp_path}/state.db")
    store = ResultStore(engine, retention_days=14, rows_kept=10)
    new = store.save("query:errors_by_service", result(0, 3))
    old = store.save("query:errors_by_service", result(1, 4))
    assert new is not None and old is not None and new.data is not None and new.data[:6] == b"ARROW1"
    as_parquet = to_parquet(result(1, 4).table)  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(update(query_results).where(query_results.c.result_id == old.result_id).values(data=as_parquet))
    for kept in (new, old):
        got = store.get(kept.result_id)
        assert got is not None
        assert got.table().equals(decode_table(kept.data))  # type: ignore[arg-type]
        assert str(got.table().schema.field("hour").type) == "timestamp[us, tz=UTC]"
    assert store.get(old.result_id).data[:4] == b"PAR1"  # type: ignore[union-attr,index]


def test_a_run_prunes_a_jobs_kept_results_once_at_its_end(tmp_path: Path) -> None:
    """A run cycle keeps each window's result with its watermark and prunes the job's results over
    its cap once, at the job's end (pruning after every window was two statements a window): after
    six windows with a cap of three, the newest three are kept."""
    from sqlalchemy import event

    from logpipe.config import Config
    from logpipe.queries.loader import get_query
    from logpipe.service.jobs import JobRunner, JobSpec

    (tmp_path / "store").mkdir()
    config = Config.model_validate({
        "store": {"root": str(tmp_path / "store"), "cache_dir": str(tmp_path / "cache")},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "service": {"lateness": "10m", "first_run_backfill": "6h"},
        "web": {"result_max_per_job": 3}})
    runner = JobRunner(config)
    prunes: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("DELETE FROM QUERY_RESULTS"):
            prunes.append(statement)

    event.listen(runner.engine, "before_cursor_execute", count)
    job = JobSpec("query:errors_by_service", "query", "5 * * * *", timedelta(hours=1),
                  get_query(config, "errors_by_service"))
    report = runner.run(job, T0 + timedelta(hours=9, minutes=15))
    assert [w.ok for w in report.windows] == [True] * 6
    kept = runner.results.list("errors_by_service")
    assert [k.window_start for k in kept] == [T0 + timedelta(hours=h) for h in (8, 7, 6)]
    assert len(prunes) == 2  # by age and by count, once for the job's six windows
