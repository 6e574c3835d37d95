"""The local metric history: what the ``local`` sink wrote to the state store, read back by metric,
dimensions and time (for ``logpipe demo``, the local HTML dashboard and the cost estimate)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, and_, select

from logpipe.layout import to_ms
from logpipe.state.tables import metric_points as local_metrics

if TYPE_CHECKING:  # pandas on use: the local sink writes through this module in every run cycle
    import pandas as pd


def dims_key(dimensions: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    """The canonical text of a dimension set: the key points are stored and looked up by."""
    pairs = dimensions.items() if isinstance(dimensions, Mapping) else dimensions
    return json.dumps(sorted([str(k), str(v)] for k, v in pairs), separators=(",", ":"))


def series(engine: Engine, name: str, dims: Mapping[str, str] | None = None,
           start: datetime | None = None, end: datetime | None = None,
           namespace: str | None = None) -> pd.DataFrame:
    """The history of one metric: columns ``timestamp``, ``dims`` (dict), ``value`` (sum), ``count``.

    ``dims`` None returns every dimension combination; a mapping returns exactly that one. Points
    at the same timestamp and dimensions (from different jobs) are added up, as CloudWatch would.
    """
    import pandas as pd

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


__all__ = ["dimension_cardinality", "dims_key", "metric_names", "series"]
