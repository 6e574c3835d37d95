"""The embedded default sink: data points in a table of the state store.

Why a table and not a file: ``logpipe demo``, the local HTML dashboard and the cost estimate read
history back by metric, dimensions and time, and the same SQLAlchemy URL is SQLite on a laptop and
PostgreSQL on ECS. Rows are unique per (batch id, point identity), so resending a batch after a
crash inserts nothing twice: this sink is idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from logpipe.layout import to_ms
from logpipe.metrics.model import DataPoint
from logpipe.state.db import metadata

local_metrics = Table(
    "metric_points", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(64), nullable=False),
    Column("point_id", String(64), nullable=False),
    Column("namespace", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("dims", Text, nullable=False),  # canonical JSON of the sorted dimension pairs
    Column("ts_ms", BigInteger, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("value", Float, nullable=False),  # the Sum the point contributes
    Column("count", Float, nullable=False),  # the SampleCount
    Column("dist", Text, nullable=True),  # JSON [[values], [counts]] for distributions
    UniqueConstraint("batch_id", "point_id", name="uq_metric_points_batch_point"),
    Index("ix_metric_points_name_ts", "name", "ts_ms"),
)


def dims_key(dimensions: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    pairs = dimensions.items() if isinstance(dimensions, Mapping) else dimensions
    return json.dumps(sorted([str(k), str(v)] for k, v in pairs), separators=(",", ":"))


class LocalSink:
    name = "local"
    idempotent = True

    def __init__(self, engine: Engine, namespace: str = "Logpipe", batch_points: int = 5000) -> None:
        self.engine = engine
        self.namespace = namespace
        self.batch_points = batch_points

    def plan(self, points: Sequence[DataPoint]) -> list[list[DataPoint]]:
        return [list(points[i:i + self.batch_points]) for i in range(0, len(points), self.batch_points)]

    def send(self, points: Sequence[DataPoint], batch_id: str) -> None:
        rows = [{
            "batch_id": batch_id, "point_id": p.identity(self.namespace), "namespace": self.namespace,
            "name": p.name, "dims": dims_key(p.dimensions), "ts_ms": to_ms(p.timestamp), "unit": p.unit,
            "value": p.total, "count": p.sample_count,
            "dist": json.dumps([list(p.values), list(p.counts)]) if p.values else None,
        } for p in points]
        if not rows:
            return
        dialect = self.engine.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(local_metrics).on_conflict_do_nothing(index_elements=["batch_id", "point_id"])
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def landed(self, points: Sequence[DataPoint], baseline: dict[str, float]) -> bool | None:
        return None  # never asked: the sink is idempotent


def series(engine: Engine, name: str, dims: Mapping[str, str] | None = None,
           start: datetime | None = None, end: datetime | None = None,
           namespace: str | None = None) -> pd.DataFrame:
    """The history of one metric: columns ``timestamp``, ``dims`` (dict), ``value`` (sum), ``count``.

    ``dims`` None returns every dimension combination; a mapping returns exactly that one. Points
    at the same timestamp and dimensions (from different jobs) are added up, as CloudWatch would.
    """
    t = local_metrics
    conds = [t.c.name == name]
    if dims is not None:
        conds.append(t.c.dims == dims_key(dims))
    if start is not None:
        conds.append(t.c.ts_ms >= to_ms(start))
    if end is not None:
        conds.append(t.c.ts_ms <= to_ms(end))
    if namespace is not None:
        conds.append(t.c.namespace == namespace)
    query = select(t.c.ts_ms, t.c.dims, t.c.value, t.c.count).where(and_(*conds)).order_by(t.c.ts_ms)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=["ts_ms", "dims", "value", "count"])
    if frame.empty:
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"), "dims": [],
                             "value": pd.Series(dtype=float), "count": pd.Series(dtype=float)})
    frame = frame.groupby(["ts_ms", "dims"], as_index=False)[["value", "count"]].sum()
    frame["timestamp"] = pd.to_datetime(frame["ts_ms"], unit="ms", utc=True)
    frame["dims"] = [dict(json.loads(d)) for d in frame["dims"]]
    return frame[["timestamp", "dims", "value", "count"]]


def metric_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(local_metrics.c.name).distinct().order_by(local_metrics.c.name))]


def dimension_cardinality(engine: Engine) -> dict[str, int]:
    """Distinct values per dimension name seen in the local history (for the cost estimate)."""
    seen: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for (dims,) in conn.execute(select(local_metrics.c.dims).distinct()):
            for k, v in json.loads(dims):
                seen.setdefault(k, set()).add(v)
    return {k: len(v) for k, v in seen.items()}
