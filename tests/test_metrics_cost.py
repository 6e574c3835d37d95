"""The monthly CloudWatch cost estimate and ``logpipe metrics cost``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from logpipe.config import Config
from logpipe.metrics import names as N
from logpipe.metrics.cost import estimate
from logpipe.queries.model import MetricSpec, SavedQuery


def _query(*specs: MetricSpec, window: str = "1h") -> SavedQuery:
    return SavedQuery("q", "", "select 1", Path("q.sql"), window=window, metrics=specs)


def test_prices_follow_cardinality() -> None:
    config = Config.model_validate({"metrics": {"top_patterns": 5}})
    base = estimate(config, [], services=4)
    by_name = {m.name: m.series for m in base.metrics}
    # ErrorCount, Http5xxRate... come from saved queries: without a query declaring them nothing emits them
    assert N.ERROR_COUNT not in by_name and N.HTTP_5XX_RATE not in by_name
    assert {m.job for m in base.metrics} == {"detect", "every job"}
    assert by_name[N.PATTERN_COUNT] == 5 + 4 and by_name[N.BAD_RECORDS] == 3 and by_name[N.MISPLACED_RECORDS] == 1
    assert base.metric_series == sum(by_name.values())
    # $0.30 per metric, $0.10 per alarm metric (3 per anomaly alarm), $3 per dashboard, requests per 1,000.
    lines = {item.split(" (")[0]: monthly for item, _, _, monthly in base.lines}
    assert lines["metrics"] == pytest.approx(0.30 * base.metric_series)
    assert lines["alarms"] == pytest.approx(0.10 * (4 * 5 + 2))  # + the detect and digest heartbeats
    assert lines["dashboards"] == 3.0
    assert base.requests_per_month == 720  # one call per hourly window
    # A saved query with a high-cardinality dimension costs what its history shows.
    custom = _query(MetricSpec("ByRoute", "n", dimensions=("service", "route")), window="15m")
    more = estimate(config, [custom], services=4, observed={"route": 50})
    assert more.metric_series - base.metric_series == 4 * 50 + 3  # and JobFailures, JobHeartbeat, JobDuration
    assert more.requests_per_month == 720 + 30 * 96
    assert more.total > base.total
    # More than 1,000 points in one window needs more than one call per window.
    many = estimate(config, [_query(MetricSpec("ByRoute", "n", dimensions=("route",)))], services=1,
                    observed={"route": 1500})
    assert many.requests_per_month == 720 + 2 * 720


def test_each_metric_is_listed_under_the_job_that_emits_it() -> None:
    """Issue 18, row 13: ErrorCount, Http5xxRate, LatencyP95 were listed under ``detect``."""
    from logpipe.queries.loader import load_queries

    config = Config()
    rows = estimate(config, list(load_queries(config).values()), services=3).metrics
    jobs = {m.name: m.job for m in rows}
    assert jobs[N.ERROR_COUNT] == "errors_by_service"
    assert jobs[N.HTTP_5XX_RATE] == jobs[N.LATENCY_P95] == "http_status_latency"
    assert jobs[N.LOG_RECORDS] == "log_volume"
    assert jobs[N.BAD_RECORDS] == jobs[N.NEW_PATTERNS] == "detect"
    assert jobs[N.JOB_HEARTBEAT] == "every job"
    assert len(rows) == len({(m.name, m.dimensions) for m in rows})  # each series once


def test_cost_cli_table_and_json(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGPIPE_STATE_URL", f"sqlite:///{tmp_path}/none.db")
    code, out, err = cli("metrics", "cost", "--services", "3")
    assert code == 0, err
    assert "PutMetricData requests" in out and "total" in out
    code, out, err = cli("metrics", "cost", "--services", "3", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["total_usd"] == pytest.approx(sum(line["monthly_usd"] for line in data["lines"]), abs=0.01)
    assert any(m["name"] == N.ERROR_COUNT and m["series"] == 3 for m in data["metrics"])
    assert not (tmp_path / "none.db").exists()
    code, _, err = cli("metrics", "cost", "--services", "0")
    assert code == 2 and "--services" in err
