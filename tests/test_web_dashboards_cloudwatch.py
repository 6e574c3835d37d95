"""The console's dashboards with the ``cloudwatch`` sink: metric names from ``ListMetrics``, series
per service from ``GetMetricData`` (other dimensions summed into the service), and the alarms' real
state from ``DescribeAlarms`` - against moto in server mode over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logpipe.config import Config
from logpipe.state.db import open_state
from logpipe.web import dashboards

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_series_and_alarms_come_from_cloudwatch(aws: str, boto_client: Any, tmp_path: Path) -> None:
    config = Config.model_validate({"state": {"url": f"sqlite:///{tmp_path}/state.db"},
                                    "metrics": {"sinks": ["cloudwatch"], "namespace": "LogpipeTest"},
                                    "aws": {"region": "us-east-1"}})
    state = open_state(config.state.url)
    cw = boto_client("cloudwatch")
    data = []
    for hour in range(3):
        at = T0 + timedelta(hours=hour)
        for service, level, value in (("checkout", "ERROR", 5 + hour), ("checkout", "FATAL", 1),
                                      ("orders", "ERROR", 2 * hour)):
            data.append({"MetricName": "ErrorCount", "Timestamp": at, "Value": value, "Unit": "Count",
                         "Dimensions": [{"Name": "service", "Value": service}, {"Name": "level", "Value": level}]})
    cw.put_metric_data(Namespace="LogpipeTest", MetricData=data)
    cw.put_metric_data(Namespace="Elsewhere", MetricData=[{"MetricName": "NotOurs", "Value": 1.0}])

    assert dashboards.source_of(config) == "cloudwatch"
    assert dashboards.metric_names(config, state) == ["ErrorCount"]
    got = dashboards.series(config, state, "ErrorCount", T0 - timedelta(hours=1), T0 + timedelta(hours=4))
    assert got["source"] == "cloudwatch" and got["services"] == ["checkout", "orders"]
    assert got["x"] == [(T0 + timedelta(hours=h)).timestamp() for h in range(3)]
    values = {s["label"]: s["values"] for s in got["series"]}
    assert values == {"checkout": [6.0, 7.0, 8.0], "orders": [0.0, 2.0, 4.0]}  # ERROR + FATAL summed per hour
    only = dashboards.series(config, state, "ErrorCount", T0 - timedelta(hours=1), T0 + timedelta(hours=4), "orders")
    assert [s["label"] for s in only["series"]] == ["orders"]

    for name, service in (("logpipe-checkout-error-spike", "checkout"), ("logpipe-orders-error-spike", "orders"),
                          ("someone-else-alarm", "orders")):
        cw.put_metric_alarm(AlarmName=name, Namespace="LogpipeTest", MetricName="ErrorCount", Statistic="Sum",
                            Period=3600, EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold",
                            Dimensions=[{"Name": "service", "Value": service}], AlarmDescription=f"{service} errors")
    cw.set_alarm_state(AlarmName="logpipe-checkout-error-spike", StateValue="ALARM", StateReason="Threshold crossed")
    cw.set_alarm_state(AlarmName="logpipe-orders-error-spike", StateValue="INSUFFICIENT_DATA", StateReason="no data")
    alarms = {a["name"]: a for a in dashboards.alarms(config, state)}
    assert set(alarms) == {"logpipe-checkout-error-spike", "logpipe-orders-error-spike"}  # the stack's own only
    assert (alarms["logpipe-checkout-error-spike"]["state"], alarms["logpipe-checkout-error-spike"]["service"],
            alarms["logpipe-checkout-error-spike"]["reason"]) == ("ALARM", "checkout", "Threshold crossed")
    assert (alarms["logpipe-orders-error-spike"]["state"], alarms["logpipe-orders-error-spike"]["reason"]) == (
        "INSUFFICIENT_DATA", "no data")
    assert {a["source"] for a in alarms.values()} == {"cloudwatch"}
