"""EMF lines parsed back and checked against the Embedded Metric Format specification."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from logpipe.config import Config
from logpipe.metrics.model import UNITS, DataPoint
from logpipe.sinks.emf import EmfSink
from logpipe.sinks.publisher import Publisher

T = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def check_emf(doc: dict[str, Any]) -> None:
    """The rules of the EMF spec that CloudWatch enforces (or silently drops the metrics for)."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 0
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for d in directives:
        assert isinstance(d["Namespace"], str) and 1 <= len(d["Namespace"]) <= 1024
        assert isinstance(d["Dimensions"], list)
        for dim_set in d["Dimensions"]:
            assert len(dim_set) <= 30
            for name in dim_set:
                assert isinstance(doc[name], str), f"dimension {name} must be a string member"
        assert 1 <= len(d["Metrics"]) <= 100
        for m in d["Metrics"]:
            assert set(m) <= {"Name", "Unit", "StorageResolution"}
            assert m["Unit"] in UNITS
            value = doc[m["Name"]]
            if isinstance(value, list):
                assert 1 <= len(value) <= 100 and all(isinstance(v, int | float) for v in value)
            else:
                assert isinstance(value, int | float)


def _lines(points: list[DataPoint]) -> list[dict[str, Any]]:
    out = io.StringIO()
    EmfSink(Config().metrics, stream=out).send(points, "b" * 40)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_lines_follow_the_spec_and_group_by_dimensions() -> None:
    points = [DataPoint("ErrorCount", T, value=3, dimensions={"service": "api"}),
              DataPoint("LogRecords", T, value=300, dimensions={"service": "api"}),
              DataPoint("ErrorCount", T, value=1, dimensions={"service": "web"}),
              DataPoint("BadRecords", T, value=2)]
    docs = _lines(points)
    for doc in docs:
        check_emf(doc)
    assert len(docs) == 3
    api = next(d for d in docs if d.get("service") == "api")
    assert api["ErrorCount"] == 3 and api["LogRecords"] == 300
    assert api["_aws"]["Timestamp"] == int(T.timestamp() * 1000)
    assert api["_aws"]["CloudWatchMetrics"][0] == {
        "Namespace": "Logpipe", "Dimensions": [["service"]],
        "Metrics": [{"Name": "ErrorCount", "Unit": "Count"}, {"Name": "LogRecords", "Unit": "Count"}]}
    bare = next(d for d in docs if "service" not in d)
    assert bare["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]


def test_at_most_100_metrics_per_line() -> None:
    points = [DataPoint(f"M{i}", T, value=i, dimensions={"service": "api"}) for i in range(250)]
    docs = _lines(points)
    assert [len(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for d in docs] == [100, 100, 50]
    assert sorted(k for d in docs for k in d if k.startswith("M")) == sorted(f"M{i}" for i in range(250))
    for doc in docs:
        check_emf(doc)


def test_distributions_are_value_arrays() -> None:
    small = DataPoint("Latency", T, unit="Milliseconds", values=[5.0, 9.0], counts=[2, 1])
    big = DataPoint("LatencyBig", T, unit="Milliseconds", values=[float(v) for v in range(1000)], counts=[3] * 1000)
    doc = _lines([small, big])[0]
    check_emf(doc)
    assert doc["Latency"] == [5.0, 5.0, 9.0]
    assert len(doc["LatencyBig"]) == 100
    assert doc["LatencyBig"] == sorted(doc["LatencyBig"]) and 0 <= doc["LatencyBig"][0] < 20
    assert 980 <= doc["LatencyBig"][-1] <= 999


def test_publisher_writes_emf_once_per_window(tmp_path: Any, capsys: Any) -> None:
    config = Config.model_validate({"metrics": {"sinks": ["emf"]}, "state": {"url": f"sqlite:///{tmp_path}/s.db"}})
    points = [DataPoint("ErrorCount", T, value=3, dimensions={"service": "api"})]
    publisher = Publisher.from_config(config)
    assert publisher.enqueue("errors", T.replace(hour=5), T, points)
    assert publisher.flush().complete
    assert not publisher.enqueue("errors", T.replace(hour=5), T, points)
    publisher.flush()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    check_emf(json.loads(lines[0]))
