"""Issue 5's acceptance, end to end through the CLI: metrics from ``logpipe run`` land in CloudWatch
(moto in server mode, read back with GetMetricData), a second run over the same windows adds nothing,
and with a fault proxy failing 30% of CloudWatch calls nothing is lost or doubled."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.service_config import write_service_config

from logpipe.config import load_config

T0 = datetime(2026, 4, 6, tzinfo=UTC)
H = timedelta(hours=1)
NOW = (T0 + 5 * H + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config(tmp_path: Path) -> Path:
    return write_service_config(tmp_path, """
[metrics]
sinks = ["local", "cloudwatch"]
namespace = "RunTest"
readback_settle_seconds = 0
[aws]
region = "us-east-1"
""")


def _local_points(config_path: Path) -> dict[tuple[str, str, int], float]:
    """What the local sink holds: the ground truth of what was published, per metric, dims and time."""
    from sqlalchemy import select

    from logpipe.state.db import open_state
    from logpipe.state.tables import metric_points as local_metrics

    engine = open_state(load_config(config_path).state.url)
    out: dict[tuple[str, str, int], float] = defaultdict(float)
    with engine.connect() as conn:
        for row in conn.execute(select(local_metrics.c.name, local_metrics.c.dims, local_metrics.c.ts_ms,
                                       local_metrics.c.value)):
            out[(row.name, row.dims, row.ts_ms)] += row.value
    return dict(out)


def _cloudwatch_points(cloudwatch: Any, name: str, dims: list[tuple[str, str]]) -> dict[int, tuple[float, float]]:
    """Sum and SampleCount per timestamp, from GetMetricData (one query per statistic)."""
    dimensions = [{"Name": k, "Value": v} for k, v in dims]
    queries = [{"Id": stat.lower(), "ReturnData": True,
                "MetricStat": {"Metric": {"Namespace": "RunTest", "MetricName": name, "Dimensions": dimensions},
                               "Period": 60, "Stat": stat}} for stat in ("Sum", "SampleCount")]
    result = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=T0 - H, EndTime=T0 + 8 * H)
    series = {r["Id"]: dict(zip((int(t.timestamp() * 1000) for t in r["Timestamps"]), r["Values"], strict=True))
              for r in result["MetricDataResults"]}
    return {ts: (series["sum"][ts], series["samplecount"].get(ts, 0.0)) for ts in series["sum"]}


@pytest.mark.slow
def test_logpipe_run_publishes_each_point_once_through_30_percent_faults(
        cli, aws: str, fault_proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from logpipe.simulate import simulate
    from logpipe.store import Store

    config_path = _config(tmp_path)
    simulate(Store(load_config(config_path).store), T0, T0 + 5 * H, seed=3, rate=0.2)
    proxy = fault_proxy(aws, failure_rate=0.3, modes=("throttle", "500", "cut", "cut_after"), seed=11)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", proxy.url)

    # The first run takes the most recent complete window; the next catches up on the four after it.
    start = cli("--config", str(config_path), "run", "--now", (T0 + H + timedelta(minutes=15)).isoformat())
    assert start.exit_code == 0, start.stderr
    first = cli("--config", str(config_path), "run", "--now", NOW, "--format", "json")
    reports = json.loads(first.stdout)
    assert {r["job"] for r in reports} >= {"query:errors_by_service", "detect"}
    assert all(len(r["windows"]) == 4 for r in reports if r["job"] in ("query:errors_by_service", "detect"))
    # Whatever the faults left queued is retried by later runs (or `logpipe metrics flush`).
    for _ in range(6):
        if cli("--config", str(config_path), "metrics", "flush").exit_code == 0:
            break
    assert sum(proxy.stats.get(mode, 0) for mode in ("throttle", "500", "cut", "cut_after")) > 0

    local = _local_points(config_path)
    assert any(name == "ErrorCount" for name, _, _ in local)
    import boto3

    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws, region_name="us-east-1")  # moto, not the proxy

    def check() -> int:
        checked = 0
        for (name, dims_text, ts), value in local.items():
            dims = [tuple(pair) for pair in json.loads(dims_text)]
            got = _cloudwatch_points(cloudwatch, name, dims)
            assert ts in got, (name, dims, ts)
            total, samples = got[ts]
            assert samples == 1, (name, dims, ts, samples)  # arrived exactly once
            assert total == pytest.approx(value), (name, dims, ts)
            checked += 1
        return checked

    assert check() == len(local)

    # A second run over the same windows adds nothing, anywhere.
    again = cli("--config", str(config_path), "run", "--now", NOW, "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert all(not r["windows"] for r in json.loads(again.stdout))
    assert _local_points(config_path) == local
    assert check() == len(local)
