"""Kept results of scheduled query runs: one per (job, window), in the state store, bounded.

Why: a scheduled query's result used to live only as the metrics derived from it; people want the
rows behind a spike ("which services, which messages, at 03:00?"). Each run's result is kept as
an Arrow IPC file (exact column types; rows written before are Parquet, read as such) with at most
``rows_kept`` rows; whenever a new one is written, results older than ``retention_days`` are deleted,
and so are a job's oldest windows beyond ``max_per_job`` (a job every minute would otherwise keep
20,000 windows in 14 days): the store's size is bounded by jobs x max_per_job x rows_kept. Writing a
window again (a rerun after a crash) replaces its row: one result per window, never two.

``save_in`` writes on the caller's transaction: the run cycle keeps a window's result in the one
commit that also queues its metric points and moves its watermark (``logpipe.service.jobs``).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, bindparam, delete, func, select

from logpipe.layout import from_ms, to_ms
from logpipe.queries.arrow import columns_of, from_parquet, head, table_of
from logpipe.queries.model import RUNNER_PARAMS, QueryResult
from logpipe.state.db import now_ms, replace_rows
from logpipe.state.tables import query_results


def result_id(job: str, start: datetime, end: datetime) -> str:
    key = f"{job}\n{to_ms(start)}\n{to_ms(end)}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


# An Arrow IPC file starts with these bytes; a Parquet file with b"PAR1".
_IPC_MAGIC = b"ARROW1"


def encode_table(table: pa.Table) -> bytes:
    """A kept result's bytes: an Arrow IPC file, LZ4-compressed.

    Why not Parquet (what results were kept as before): writing a small result as zstd Parquet cost
    about 0.35 ms, writing it as LZ4 IPC about 0.04 ms, for about the same size; a run cycle keeps a
    result per query window. IPC is Arrow's own layout, so the column types come back exactly. On the
    calling thread: handing a kept result's few buffers to Arrow's thread pool cost more than
    compressing them, and in a run cycle that pool waits behind DuckDB's threads (up to tens of ms)."""
    sink = io.BytesIO()
    options = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False)
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_table(data: bytes) -> pa.Table:
    """A kept result's table, from either encoding: an IPC file (``encode_table``) or Parquet (rows
    kept before, and still in the state database until pruned)."""
    if bytes(data[:len(_IPC_MAGIC)]) == _IPC_MAGIC:
        return pa.ipc.open_file(pa.BufferReader(data)).read_all()
    return from_parquet(data)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


@dataclass
class StoredResult:
    result_id: str
    job: str
    query: str
    window_start: datetime
    window_end: datetime
    params: dict[str, Any]
    rows: int
    rows_kept: int
    columns: list[tuple[str, str]]
    engine: str
    bytes_scanned: int
    created: datetime
    data: bytes | None = None

    def table(self) -> pa.Table:
        if self.data is None:
            raise ValueError("this stored result was listed without its data")
        return decode_table(self.data)

    def to_dict(self) -> dict[str, Any]:
        return {"result_id": self.result_id, "job": self.job, "query": self.query,
                "window_start": _json_value(self.window_start), "window_end": _json_value(self.window_end),
                "params": self.params, "rows": self.rows, "rows_kept": self.rows_kept,
                "columns": [{"name": n, "type": t} for n, t in self.columns], "engine": self.engine,
                "bytes_scanned": self.bytes_scanned, "created": _json_value(self.created)}


class ResultStore:
    """Results of scheduled runs over the state engine."""

    def __init__(self, engine: Engine, retention_days: int = 14, rows_kept: int = 1000,
                 max_per_job: int = 1000) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self.rows_kept = rows_kept
        self.max_per_job = max_per_job

    def save(self, job: str, result: QueryResult) -> StoredResult | None:
        """Keep the result of ``job`` for its window (replacing an earlier one), then prune old ones."""
        if self.retention_days <= 0:
            return None
        with self.engine.begin() as conn:
            return self.save_in(conn, job, result)

    def save_in(self, conn: Connection, job: str, result: QueryResult, prune: bool = True) -> StoredResult | None:
        """``save`` on the caller's transaction: the result is kept if and when it commits.

        ``prune=False``: the old results are left for ``prune`` (a run cycle prunes each job once, at
        its end, where pruning after every window was two statements a window)."""
        if self.retention_days <= 0:
            return None
        table = table_of(result)
        kept = head(table, self.rows_kept)
        params = {k: _json_value(v) for k, v in result.params.items() if k not in RUNNER_PARAMS}
        rid = result_id(job, result.window_start, result.window_end)
        row = {"result_id": rid, "job": job, "query": result.query.name,
               "window_start_ms": to_ms(result.window_start), "window_end_ms": to_ms(result.window_end),
               "params": json.dumps(params, sort_keys=True), "rows": table.num_rows, "rows_kept": kept.num_rows,
               "columns": json.dumps(columns_of(table)), "data": encode_table(kept), "engine": result.stats.engine,
               "bytes_scanned": int(result.stats.bytes_scanned), "created_ms": now_ms()}
        replace_rows(conn, query_results, [row], ["result_id"])
        if prune:
            self.prune_in(conn, job)
        # what was written, not read back (a run cycle saves a result per window: the read was a fifth
        # of the save)
        return self._stored(SimpleNamespace(**row), True)

    def prune_in(self, conn: Connection, job: str) -> None:
        """Drop the results older than the retention, and ``job``'s beyond its newest ``max_per_job``."""
        cutoff = now_ms() - int(timedelta(days=self.retention_days).total_seconds() * 1000)
        conn.execute(_PRUNE_OLD, {"cutoff": cutoff})
        conn.execute(_PRUNE_JOB, {"k_job": job, "skip": self.max_per_job - 1})

    def prune(self, job: str) -> None:
        """``prune_in`` in a transaction of its own (nothing to do when results are not kept)."""
        if self.retention_days <= 0:
            return
        with self.engine.begin() as conn:
            self.prune_in(conn, job)

    def _stored(self, r: Any, with_data: bool) -> StoredResult:
        return StoredResult(
            result_id=r.result_id, job=r.job, query=r.query, window_start=from_ms(r.window_start_ms),
            window_end=from_ms(r.window_end_ms), params=json.loads(r.params), rows=int(r.rows),
            rows_kept=int(r.rows_kept), columns=[tuple(c) for c in json.loads(r.columns)],
            engine=r.engine, bytes_scanned=int(r.bytes_scanned), created=from_ms(r.created_ms),
            data=bytes(r.data) if with_data else None)

    def get(self, rid: str) -> StoredResult | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(query_results).where(query_results.c.result_id == rid)).first()
        return self._stored(row, True) if row is not None else None

    def list(self, query: str | None = None, start: datetime | None = None, end: datetime | None = None,
             limit: int = 200) -> list[StoredResult]:
        """Kept results, newest window first; ``start``/``end`` keep windows that overlap them."""
        t = query_results.c
        cols = [c for c in query_results.c if c.name != "data"]
        stmt = select(*cols).order_by(t.window_end_ms.desc(), t.job).limit(limit)
        if query is not None:
            stmt = stmt.where(t.query == query)
        if start is not None:
            stmt = stmt.where(t.window_end_ms > to_ms(start))
        if end is not None:
            stmt = stmt.where(t.window_start_ms < to_ms(end))
        with self.engine.connect() as conn:
            return [self._stored(r, False) for r in conn.execute(stmt)]

    def counts(self) -> dict[str, int]:
        """Kept results per query."""
        t = query_results.c
        with self.engine.connect() as conn:
            return {q: int(n) for q, n in conn.execute(select(t.query, func.count()).group_by(t.query))}


# The pruning statements of every save, built once (a run cycle saves a result per query window).
_r = query_results.c
_PRUNE_OLD = delete(query_results).where(_r.created_ms < bindparam("cutoff"))
# a job's windows older than its ``max_per_job``-th newest, in one statement (no such window: NULL,
# nothing deleted)
_NTH_NEWEST = (select(_r.window_end_ms).where(_r.job == bindparam("k_job")).order_by(_r.window_end_ms.desc())
               .offset(bindparam("skip")).limit(1).scalar_subquery())
_PRUNE_JOB = delete(query_results).where(_r.job == bindparam("k_job"), _r.window_end_ms < _NTH_NEWEST)

__all__ = ["ResultStore", "StoredResult", "decode_table", "encode_table", "result_id"]
