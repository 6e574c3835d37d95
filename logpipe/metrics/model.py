"""Data points: what a saved query's metric mapping or a detector produces, before any sink sees it.

A data point is a metric name, a value (or a distribution of values with counts, so that sinks that
can compute percentiles get the raw shape), a unit, dimensions and a timestamp: the end of the
window it describes. Using the window's end (not "now") is what makes a re-run of the same window
produce the same points, which the exactly-once ledger relies on.

Every point has a stable identity, ``hash(namespace, name, sorted dimensions, timestamp)``, used to
dedupe and to read back what already landed in CloudWatch.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from logpipe.errors import QueryError
from logpipe.metrics.names import DIM_PATTERN, OTHER
from logpipe.queries.model import MetricSpec, QueryResult

# The units CloudWatch accepts (Datadog and EMF take the same names).
UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})
# Units whose values add up when two points are merged (the rest become a distribution).
ADDITIVE_UNITS = frozenset({"Count", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
                            "Kilobits", "Megabits", "Gigabits", "Terabits"})
UNKNOWN_DIMENSION_VALUE = "unknown"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class DataPoint:
    """One metric value (``value``) or distribution (``values`` with ``counts``) at one timestamp."""

    name: str
    timestamp: datetime
    value: float | None = None
    unit: str = "Count"
    dimensions: tuple[tuple[str, str], ...] = ()
    values: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    _id_cache: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        dims = self.dimensions.items() if isinstance(self.dimensions, Mapping) else self.dimensions
        object.__setattr__(self, "dimensions", tuple(sorted((str(k), str(v)) for k, v in dims)))
        object.__setattr__(self, "timestamp", _utc(self.timestamp))
        if self.unit not in UNITS:
            raise QueryError(f"metric {self.name!r} has unit {self.unit!r}; use one of: {', '.join(sorted(UNITS))}")
        if self.values:
            counts = self.counts or tuple(1.0 for _ in self.values)
            if len(counts) != len(self.values):
                raise QueryError(f"metric {self.name!r}: {len(self.values)} values but {len(counts)} counts")
            object.__setattr__(self, "values", tuple(float(v) for v in self.values))
            object.__setattr__(self, "counts", tuple(float(c) for c in counts))
        elif self.value is None:
            raise QueryError(f"metric {self.name!r} has neither a value nor a distribution")
        else:
            object.__setattr__(self, "value", float(self.value))

    @property
    def is_distribution(self) -> bool:
        return bool(self.values)

    @property
    def sample_count(self) -> float:
        """How many samples CloudWatch will count for this point (its ``SampleCount`` statistic)."""
        return sum(self.counts) if self.values else 1.0

    @property
    def total(self) -> float:
        """The ``Sum`` statistic this point contributes."""
        if self.values:
            return sum(v * c for v, c in zip(self.values, self.counts, strict=True))
        return float(self.value or 0.0)

    @property
    def dims(self) -> dict[str, str]:
        return dict(self.dimensions)

    def identity(self, namespace: str) -> str:
        """The stable id: the same metric, dimensions and timestamp always hash the same."""
        cached = self._id_cache.get(namespace)
        if cached is None:
            key = json.dumps([namespace, self.name, self.dimensions, self.timestamp.isoformat()],
                             separators=(",", ":"))
            cached = hashlib.sha256(key.encode()).hexdigest()[:32]
            self._id_cache[namespace] = cached
        return cached

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.name, "t": self.timestamp.isoformat(), "u": self.unit,
                               "d": [list(pair) for pair in self.dimensions]}
        if self.values:
            out["vs"], out["cs"] = list(self.values), list(self.counts)
        else:
            out["v"] = self.value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataPoint:
        return cls(name=data["n"], timestamp=datetime.fromisoformat(data["t"]), unit=data["u"],
                   dimensions=tuple((k, v) for k, v in data["d"]), value=data.get("v"),
                   values=tuple(data.get("vs", ())), counts=tuple(data.get("cs", ())))


def points_to_json(points: Sequence[DataPoint]) -> str:
    return json.dumps([p.to_dict() for p in points], separators=(",", ":"))


def points_from_json(text: str) -> list[DataPoint]:
    return [DataPoint.from_dict(item) for item in json.loads(text)]


def point_id(namespace: str, point: DataPoint) -> str:
    return point.identity(namespace)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def _dimension_value(value: Any) -> str:
    if _is_missing(value):
        return UNKNOWN_DIMENSION_VALUE
    text = str(value).strip()
    # CloudWatch: 1-1024 characters.
    return text[:1024] if text else UNKNOWN_DIMENSION_VALUE


def _as_list(value: Any) -> list[Any]:
    if _is_missing(value):
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _rows(result: QueryResult, spec: MetricSpec, needed: list[str]) -> list[dict[str, Any]]:
    """The result's rows with the ``needed`` columns. From the engine's Arrow table when there is one
    (its own values: an integer stays an integer where pandas would make a column with a NULL float,
    and no frame is built - a sixth of a run cycle's Python time went into frames for the metrics);
    from the frame otherwise. A zoned timestamp column (never a metric value; a dimension at most)
    comes through the frame, which converts it without pyarrow's time-zone lookups."""
    table = getattr(result, "table", None)
    columns = list(table.column_names) if table is not None else [str(c) for c in result.frame.columns]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise QueryError(
            f"saved query {result.query.name!r}: metric {spec.name!r} needs column(s) {', '.join(missing)} "
            f"but the result has {', '.join(columns) or 'no columns'}; fix the metric header "
            f"in {result.query.path}")
    if table is not None:
        import pyarrow as pa

        chosen = table.select(needed)
        if not any(pa.types.is_timestamp(field.type) and field.type.tz for field in chosen.schema):
            return list(chosen.to_pylist())
    return list(result.frame[needed].to_dict("records"))


def _points_for_spec(result: QueryResult, spec: MetricSpec) -> list[DataPoint]:
    needed = list(dict.fromkeys([spec.column, *spec.dimensions] + ([spec.counts_column] if spec.counts_column else [])))
    points = []
    for row in _rows(result, spec, needed):
        dims = tuple((d, _dimension_value(row[d])) for d in spec.dimensions)
        if spec.kind == "distribution":
            raw = [(v, c) for v, c in zip(
                _as_list(row[spec.column]),
                _as_list(row[spec.counts_column]) if spec.counts_column else [1.0] * len(_as_list(row[spec.column])),
                strict=False) if not _is_missing(v) and not _is_missing(c) and float(c) > 0]
            if not raw:
                continue
            points.append(DataPoint(spec.name, result.window_end, unit=spec.unit, dimensions=dims,
                                    values=tuple(float(v) for v, _ in raw), counts=tuple(float(c) for _, c in raw)))
        else:
            value = row[spec.column]
            if _is_missing(value):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise QueryError(f"saved query {result.query.name!r}: metric {spec.name!r} column "
                                 f"{spec.column!r} holds {value!r}, not a number") from None
            if math.isinf(number):
                continue
            points.append(DataPoint(spec.name, result.window_end, value=number, unit=spec.unit, dimensions=dims))
    return points


def points_from_result(result: QueryResult, top_patterns: int | None = None) -> list[DataPoint]:
    """The data points of a query result, one per row and metric, timestamped at the window's end.

    Rows with a missing value are skipped (there is nothing to say), rows that share dimensions are
    merged, and with ``top_patterns`` the pattern dimension keeps only the N largest patterns.
    """
    points: list[DataPoint] = []
    for spec in result.query.metrics:
        points.extend(_points_for_spec(result, spec))
    points = merge_points(points)
    if top_patterns is not None:
        points = cap_cardinality(points, DIM_PATTERN, top_patterns)
    return points


def merge(a: DataPoint, b: DataPoint) -> DataPoint:
    """Two points with the same identity as one: additive units add, others become a distribution."""
    if a.unit == b.unit and a.unit in ADDITIVE_UNITS and not a.values and not b.values:
        return DataPoint(a.name, a.timestamp, value=(a.value or 0) + (b.value or 0), unit=a.unit,
                         dimensions=a.dimensions)

    def parts(p: DataPoint) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (p.values, p.counts) if p.values else ((float(p.value or 0),), (1.0,))

    av, ac = parts(a)
    bv, bc = parts(b)
    return DataPoint(a.name, a.timestamp, unit=a.unit, dimensions=a.dimensions, values=av + bv, counts=ac + bc)


def merge_points(points: Iterable[DataPoint]) -> list[DataPoint]:
    """Points with the same name, dimensions and timestamp merged into one (order kept)."""
    merged: dict[tuple[Any, ...], DataPoint] = {}
    for point in points:
        key = (point.name, point.dimensions, point.timestamp)
        merged[key] = merge(merged[key], point) if key in merged else point
    return list(merged.values())


def cap_cardinality(points: Sequence[DataPoint], dimension: str, top: int) -> list[DataPoint]:
    """Keep ``dimension`` only for its ``top`` largest values (per metric name); the rest become ``other``.

    Why: every distinct dimension value is a new CloudWatch metric at $0.30 a month, and a noisy
    service can produce thousands of one-off patterns. Totals are preserved: ``other`` is their sum.
    """
    weight: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for p in points:
        value = p.dims.get(dimension)
        if value is not None:
            weight[p.name][value] += abs(p.total)
    keep = {name: {v for v, _ in sorted(w.items(), key=lambda kv: (-kv[1], kv[0]))[:top]}
            for name, w in weight.items()}
    out = []
    for p in points:
        value = p.dims.get(dimension)
        if value is None or value in keep[p.name]:
            out.append(p)
            continue
        dims = tuple((k, OTHER if k == dimension else v) for k, v in p.dimensions)
        out.append(DataPoint(p.name, p.timestamp, value=p.value, unit=p.unit, dimensions=dims,
                             values=p.values, counts=p.counts))
    return merge_points(out)


def compress_distribution(values: Sequence[float], counts: Sequence[float], max_values: int = 150
                          ) -> tuple[list[float], list[float]]:
    """At most ``max_values`` distinct values, keeping the total count and sum exactly.

    CloudWatch takes 150 distinct values per datum. Beyond that, sorted values are cut into bins
    of about equal count; each bin becomes its count-weighted mean, so Sum and SampleCount stay exact
    and percentiles move by at most one bin's width.
    """
    agg: dict[float, float] = defaultdict(float)
    for v, c in zip(values, counts, strict=True):
        agg[float(v)] += float(c)
    items = sorted(agg.items())
    if len(items) <= max_values:
        return [v for v, _ in items], [c for _, c in items]
    total = sum(c for _, c in items)
    per_bin = total / max_values
    out_v: list[float] = []
    out_c: list[float] = []
    acc_c = acc_s = 0.0
    remaining = len(items)
    for v, c in items:
        acc_c += c
        acc_s += v * c
        remaining -= 1
        bins_left = max_values - len(out_v) - 1
        if len(out_v) < max_values - 1 and (acc_c >= per_bin or remaining <= bins_left):
            out_v.append(acc_s / acc_c)
            out_c.append(acc_c)
            acc_c = acc_s = 0.0
    if acc_c:
        out_v.append(acc_s / acc_c)
        out_c.append(acc_c)
    return out_v, out_c
