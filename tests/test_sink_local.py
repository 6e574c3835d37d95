"""The local sink: history in the state store, idempotent per batch, read back with ``series``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logpipe.config import Config
from logpipe.metrics.history import dimension_cardinality, metric_names, series
from logpipe.metrics.model import DataPoint
from logpipe.sinks.local import LocalSink
from logpipe.sinks.publisher import Publisher
from logpipe.state.db import open_state

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def test_series_round_trip_and_idempotent_resend(state_url: str) -> None:
    engine = open_state(state_url)
    sink = LocalSink(engine)
    points = [DataPoint("ErrorCount", T0 + timedelta(hours=h), value=h, dimensions={"service": s})
              for h in range(1, 4) for s in ("api", "web")]
    points.append(DataPoint("Latency", T0, unit="Milliseconds", dimensions={"service": "api"},
                            values=[1.0, 3.0], counts=[1, 3]))
    sink.send(points, "batch-1")
    sink.send(points, "batch-1")  # a resend after a crash: nothing doubles
    api = series(engine, "ErrorCount", {"service": "api"})
    assert api["value"].tolist() == [1.0, 2.0, 3.0]
    assert [t.hour for t in api["timestamp"]] == [1, 2, 3]
    window = series(engine, "ErrorCount", None, T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert sorted(window["value"].tolist()) == [2.0, 2.0, 3.0, 3.0]
    latency = series(engine, "Latency")
    assert latency["value"].tolist() == [10.0] and latency["count"].tolist() == [4.0]
    assert series(engine, "Nope").empty
    assert metric_names(engine) == ["ErrorCount", "Latency"]
    assert dimension_cardinality(engine) == {"service": 2}


def test_local_default_through_the_publisher(tmp_path: object) -> None:
    config = Config.model_validate({"state": {"url": f"sqlite:///{tmp_path}/s.db"}})
    assert config.metrics.sinks == ["local"]
    publisher = Publisher.from_config(config)
    points = [DataPoint("ErrorCount", T0, value=5, dimensions={"service": "api"})]
    assert publisher.enqueue("errors", T0 - timedelta(hours=1), T0, points)
    assert publisher.flush().complete
    assert not publisher.enqueue("errors", T0 - timedelta(hours=1), T0, points)
    publisher.flush()
    assert series(publisher.engine, "ErrorCount")["value"].tolist() == [5.0]
