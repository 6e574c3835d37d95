"""``publish_result`` (the API for ``logpipe run``) and ``logpipe metrics status / flush``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from logpipe.config import Config
from logpipe.engines import QueryStats
from logpipe.metrics.history import series
from logpipe.metrics.names import OTHER
from logpipe.queries.model import MetricSpec, QueryResult, SavedQuery
from logpipe.sinks.publisher import Publisher, publish_result

END = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def _result() -> QueryResult:
    query = SavedQuery("pattern_counts", "", "select 1", Path("q.sql"),
                       metrics=(MetricSpec("PatternCount", "n", dimensions=("service", "pattern_id")),))
    frame = pd.DataFrame({"service": ["api"] * 4, "pattern_id": ["a", "b", "c", "d"], "n": [9, 5, 2, 1]})
    return QueryResult(query, frame, END - timedelta(hours=1), END, {}, QueryStats(engine="duckdb"))


def test_publish_result_queues_once_with_the_pattern_guard(tmp_path: Path) -> None:
    config = Config.model_validate({"metrics": {"top_patterns": 2}, "state": {"url": f"sqlite:///{tmp_path}/s.db"}})
    publisher = Publisher.from_config(config)
    assert publish_result(publisher, _result()) is True
    assert publish_result(publisher, _result()) is False
    assert publisher.flush().complete
    got = {d["pattern_id"]: v for d, v in zip(series(publisher.engine, "PatternCount")["dims"],
                                              series(publisher.engine, "PatternCount")["value"], strict=True)}
    assert got == {"a": 9, "b": 5, OTHER: 3}


def test_status_and_flush_commands(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.setenv("LOGPIPE_STATE_URL", url)
    config = Config.model_validate({"state": {"url": url}})
    publish_result(Publisher.from_config(config), _result())
    code, out, err = cli("metrics", "status")
    assert code == 0, err
    assert "local" in out and "1" in out
    code, out, err = cli("metrics", "flush")
    assert code == 0, err
    assert "local: 4 points in 1 batch sent" in out
    # A sink that cannot deliver: exit 1 with a one-line reason, the batch stays queued.
    monkeypatch.setenv("LOGPIPE_METRICS_SINKS", '["datadog"]')
    monkeypatch.delenv("DD_API_KEY", raising=False)
    publish_result(Publisher.from_config(Config.model_validate({"state": {"url": url}, "metrics": {"sinks": ["datadog"]}})),
                   _result(), job="other-job")
    code, out, err = cli("metrics", "flush")
    assert code == 1 and "DD_API_KEY" in err and "Traceback" not in err


def test_two_jobs_emitting_the_same_point_are_warned_about(tmp_path: Path, caplog: Any) -> None:
    config = Config.model_validate({"state": {"url": f"sqlite:///{tmp_path}/s.db"}})
    publisher = Publisher.from_config(config)
    publish_result(publisher, _result(), job="one")
    assert not caplog.records
    publish_result(publisher, _result(), job="two")
    assert any("PatternCount" in r.getMessage() and "one" in r.getMessage() for r in caplog.records)
