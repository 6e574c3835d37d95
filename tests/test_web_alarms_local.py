"""The console's alarms without CloudWatch: the set ``logpipe dashboard render`` deploys (per service, a
heartbeat per scheduled job, one per ``-- alert``), each evaluated on the local metric history with
its own statistic, M-of-N datapoints, and missing heartbeats as breaching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from logpipe.config import Config
from logpipe.metrics.model import DataPoint
from logpipe.sinks.local import LocalSink
from logpipe.state.db import open_state
from logpipe.web.dashboards import alarms

NOW = datetime(2026, 11, 20, 12, 7, tzinfo=UTC)
ALERT_QUERY = """-- name: checkout_errors
-- description: Checkout errors per service.
-- schedule: every 15m
-- window: 15m
-- metric CheckoutErrors: column=errors, unit=Count, dimensions=service
-- metric CheckoutErrorsTotal: column=total, unit=Count
-- alert too_many: column=errors, op=>=, threshold=50, for=2, severity=critical
-- alert fleet: column=total, op=>, threshold=500
SELECT service, count(*) AS errors, sum(count(*)) OVER () AS total
FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end AND ts >= :window_start AND ts < :window_end AND level = 'ERROR'
GROUP BY service
"""


def point(name: str, minutes_ago: int, value: float, **dims: str) -> DataPoint:
    return DataPoint(name, NOW - timedelta(minutes=minutes_ago), value=value, dimensions=tuple(dims.items()))


def test_local_alarms_are_the_deployed_set_evaluated_on_local_history(tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "checkout_errors.sql").write_text(ALERT_QUERY)
    config = Config.model_validate({"state": {"url": f"sqlite:///{tmp_path}/state.db"},
                                    "queries": {"dirs": [str(tmp_path / "queries")]}})
    state = open_state(config.state.url)
    before = {a["name"]: a for a in alarms(config, state, now=NOW)}
    # nothing ran here yet: every heartbeat is "no job has run", not a wall of ALARMs
    beats = [a for n, a in before.items() if n.endswith("-heartbeat")]
    assert "logpipe-job-query-checkout_errors-heartbeat" in before and "logpipe-job-detect-heartbeat" in before
    assert {a["state"] for a in beats} == {"INSUFFICIENT_DATA"} and "no job has run" in beats[0]["reason"]

    LocalSink(state, config.metrics.namespace).send([
        point("CheckoutErrors", 30, 60, service="api"), point("CheckoutErrors", 15, 55, service="api"),  # 2 of 2
        point("CheckoutErrors", 30, 10, service="web"), point("CheckoutErrors", 15, 60, service="web"),  # 1 of 2
        point("CheckoutErrorsTotal", 15, 115),
        point("JobHeartbeat", 10, 1, job="query:checkout_errors"),  # fresh
        point("JobHeartbeat", 5 * 60, 1, job="detect"),  # 5 h ago: two 1 h windows missed
    ], "batch-1")
    found = {a["name"]: a for a in alarms(config, state, now=NOW)}
    # with no service known the alert is one Metrics Insights alarm (CloudWatch's to evaluate); once the
    # history names services, one alarm per service, as `logpipe dashboard render` would deploy
    assert before["logpipe-checkout_errors-too_many"]["state"] == "INSUFFICIENT_DATA"
    assert "Metrics Insights" in before["logpipe-checkout_errors-too_many"]["reason"]
    assert {"logpipe-checkout_errors-too_many-api", "logpipe-checkout_errors-too_many-web"} <= set(found)
    assert found["logpipe-checkout_errors-too_many-api"]["state"] == "ALARM"
    assert "2 of 2" in found["logpipe-checkout_errors-too_many-api"]["reason"]
    assert found["logpipe-checkout_errors-too_many-web"]["state"] == "OK"
    assert "1 of 2" in found["logpipe-checkout_errors-too_many-web"]["reason"]
    assert found["logpipe-checkout_errors-fleet"]["state"] == "OK"
    assert found["logpipe-job-query-checkout_errors-heartbeat"]["state"] == "OK"
    assert found["logpipe-job-detect-heartbeat"]["state"] == "ALARM"
    assert "missing data is breaching" in found["logpipe-job-detect-heartbeat"]["reason"]
    assert found["logpipe-job-digest-heartbeat"]["state"] == "ALARM"  # none ever recorded for it
    assert found["logpipe-api-error-spike"]["state"] == "INSUFFICIENT_DATA"  # an anomaly band: CloudWatch's
    assert {a["source"] for a in found.values()} == {"local"}
