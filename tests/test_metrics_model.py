"""Data points from saved-query results: identity, merging, the cardinality guard, distributions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logpipe.engines import QueryStats
from logpipe.errors import QueryError
from logpipe.metrics.model import (
    DataPoint,
    cap_cardinality,
    compress_distribution,
    points_from_json,
    points_from_result,
    points_to_json,
)
from logpipe.metrics.names import OTHER
from logpipe.queries.model import MetricSpec, QueryResult, SavedQuery

START = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def _result(frame: pd.DataFrame, *metrics: MetricSpec) -> QueryResult:
    query = SavedQuery(name="q", description="", sql="select 1", path=Path("queries/q.sql"), metrics=metrics)
    return QueryResult(query=query, frame=frame, window_start=START, window_end=END, params={},
                       stats=QueryStats(engine="duckdb"))


def test_one_point_per_row_and_metric_at_the_window_end() -> None:
    frame = pd.DataFrame({"service": ["api", "web", None], "errors": [3, 0, 2], "bytes": [100, 200, None]})
    points = points_from_result(_result(frame, MetricSpec("ErrorCount", "errors", dimensions=("service",)),
                                        MetricSpec("LogBytes", "bytes", unit="Bytes", dimensions=("service",))))
    got = {(p.name, p.dims["service"]): p.value for p in points}
    assert got == {("ErrorCount", "api"): 3, ("ErrorCount", "web"): 0, ("ErrorCount", "unknown"): 2,
                   ("LogBytes", "api"): 100, ("LogBytes", "web"): 200}  # a missing value is no point
    assert all(p.timestamp == END for p in points)


def test_distribution_columns() -> None:
    frame = pd.DataFrame({"service": ["api"], "ms": [[10.0, 20.0, None]], "n": [[5, 1, 1]]})
    (point,) = points_from_result(_result(frame, MetricSpec("Latency", "ms", unit="Milliseconds",
                                                            dimensions=("service",), kind="distribution",
                                                            counts_column="n")))
    assert point.values == (10.0, 20.0) and point.counts == (5.0, 1.0)
    assert point.sample_count == 6 and point.total == 70


def test_bad_specs_name_the_column_and_file() -> None:
    frame = pd.DataFrame({"service": ["api"], "errors": ["lots"]})
    with pytest.raises(QueryError, match=r"needs column\(s\) missing.*queries/q.sql"):
        points_from_result(_result(frame, MetricSpec("ErrorCount", "missing")))
    with pytest.raises(QueryError, match="not a number"):
        points_from_result(_result(frame, MetricSpec("ErrorCount", "errors")))
    with pytest.raises(QueryError, match="unit 'Widgets'"):
        DataPoint("X", END, value=1, unit="Widgets")


def test_identity_is_stable_and_ignores_dimension_order() -> None:
    a = DataPoint("PatternCount", END, value=1, dimensions={"service": "api", "pattern_id": "p1"})
    b = DataPoint("PatternCount", END.astimezone(), value=99, dimensions=[("pattern_id", "p1"), ("service", "api")])
    assert a.identity("Logpipe") == b.identity("Logpipe")
    assert a.identity("Logpipe") != a.identity("Other")
    assert DataPoint("PatternCount", END + timedelta(seconds=1), value=1,
                     dimensions=a.dimensions).identity("Logpipe") != a.identity("Logpipe")
    assert points_from_json(points_to_json([a, b])) == [a, b]


def test_rows_with_the_same_dimensions_merge() -> None:
    frame = pd.DataFrame({"service": ["api", "api"], "errors": [3, 4], "ms": [10.0, 30.0]})
    points = points_from_result(_result(frame, MetricSpec("ErrorCount", "errors", dimensions=("service",)),
                                        MetricSpec("LatencyP95", "ms", unit="Milliseconds", dimensions=("service",))))
    by_name = {p.name: p for p in points}
    assert by_name["ErrorCount"].value == 7  # counts add up
    assert by_name["LatencyP95"].values == (10.0, 30.0)  # other units become a distribution


def test_top_patterns_guard_keeps_totals() -> None:
    frame = pd.DataFrame({"service": ["api"] * 5, "pattern_id": ["a", "b", "c", "d", "e"], "n": [50, 40, 3, 2, 1]})
    spec = MetricSpec("PatternCount", "n", dimensions=("service", "pattern_id"))
    points = points_from_result(_result(frame, spec), top_patterns=2)
    got = {p.dims["pattern_id"]: p.value for p in points}
    assert got == {"a": 50, "b": 40, OTHER: 6}
    assert cap_cardinality(points, "pattern_id", 0) == [
        DataPoint("PatternCount", END, value=96, dimensions={"service": "api", "pattern_id": OTHER})]


@given(st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False), st.integers(1, 50)), min_size=1, max_size=600),
       st.integers(1, 150))
def test_compressed_distributions_keep_count_and_sum(pairs: list[tuple[float, int]], limit: int) -> None:
    values, counts = [float(v) for v, _ in pairs], [float(c) for _, c in pairs]
    out_v, out_c = compress_distribution(values, counts, limit)
    assert len(out_v) == len(out_c) <= limit
    assert sum(out_c) == pytest.approx(sum(counts))
    assert sum(v * c for v, c in zip(out_v, out_c, strict=True)) == pytest.approx(
        sum(v * c for v, c in zip(values, counts, strict=True)), rel=1e-9, abs=1e-6)
    assert min(out_v) >= min(values) - 1e-6 and max(out_v) <= max(values) + 1e-6


def test_points_from_the_engines_arrow_table_are_the_points_from_its_frame() -> None:
    """A result from DuckDB carries its Arrow table: the points are read from it (no pandas frame is
    built) and are the frame's points, with one difference for the better: an integer dimension in a
    column holding a NULL stays ``5`` (pandas makes the column float: ``5.0``)."""
    import duckdb

    specs = (MetricSpec("ErrorCount", "errors", dimensions=("service",)),
             MetricSpec("Latency", "ms", unit="Milliseconds", dimensions=("service",), kind="distribution",
                        counts_column="n"),
             MetricSpec("ByStatus", "errors", dimensions=("status",)))
    table = duckdb.sql(
        "SELECT * FROM (VALUES ('api', 3, [10.0, 20.0, NULL], [5, 1, 1], 500), ('web', NULL, [1.5], [2], NULL), "
        "(NULL, 2, NULL, NULL, 502), ('api', 4, [30.0], [1], 500)) AS t(service, errors, ms, n, status)"
    ).to_arrow_table()
    query = SavedQuery(name="q", description="", sql="select 1", path=Path("queries/q.sql"), metrics=specs)
    from_table = points_from_result(QueryResult(query=query, frame=None, window_start=START, window_end=END, params={},
                                                stats=QueryStats(engine="duckdb"), table=table))
    from_frame = points_from_result(_result(table.to_pandas(), *specs))

    def key(points: list[DataPoint]) -> list[tuple[object, ...]]:
        return sorted((p.name, p.dimensions, p.value, p.values, p.counts) for p in points)

    assert [k for k in key(from_table) if k[0] != "ByStatus"] == [k for k in key(from_frame) if k[0] != "ByStatus"]
    assert {p.dims["status"] for p in from_table if p.name == "ByStatus"} == {"500", "502"}
    assert {p.dims["status"] for p in from_frame if p.name == "ByStatus"} == {"500.0", "502.0"}
    (latency_api,) = [p for p in from_table if p.name == "Latency" and p.dims["service"] == "api"]
    assert latency_api.values == (10.0, 20.0, 30.0) and latency_api.counts == (5.0, 1.0, 1.0)
