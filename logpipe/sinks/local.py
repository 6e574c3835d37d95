"""The embedded default sink: data points in a table of the state store.

Why a table and not a file: ``logpipe demo``, the local HTML dashboard and the cost estimate read
history back by metric, dimensions and time (``logpipe.metrics.history``), and the same SQLAlchemy URL is SQLite on a laptop and
PostgreSQL on ECS. Rows are unique per (batch id, point identity), so resending a batch after a
crash inserts nothing twice: this sink is idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Engine

from logpipe.layout import to_ms
from logpipe.metrics.history import dims_key
from logpipe.metrics.model import DataPoint
from logpipe.state.db import insert_ignore
from logpipe.state.tables import metric_points as local_metrics


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
        self.send_many([(points, batch_id)])

    def send_many(self, batches: Sequence[tuple[Sequence[DataPoint], str]]) -> None:
        """Several batches in one transaction (the publisher's flush hands over a chunk of claimed
        batches: a run cycle's flush sent a few hundred, one transaction each)."""
        rows = [{
            "batch_id": batch_id, "point_id": p.identity(self.namespace), "namespace": self.namespace,
            "name": p.name, "dims": dims_key(p.dimensions), "ts_ms": to_ms(p.timestamp), "unit": p.unit,
            "value": p.total, "count": p.sample_count,
            "dist": json.dumps([list(p.values), list(p.counts)]) if p.values else None,
        } for points, batch_id in batches for p in points]
        if not rows:
            return
        with self.engine.begin() as conn:
            insert_ignore(conn, local_metrics, rows, ["batch_id", "point_id"])

    def landed(self, points: Sequence[DataPoint], baseline: dict[str, float]) -> bool | None:
        return None  # never asked: the sink is idempotent


__all__ = ["LocalSink", "local_metrics"]
