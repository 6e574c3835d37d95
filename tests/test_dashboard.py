"""Dashboard and alarms: accepted by CloudWatch (moto server), and the local HTML dashboard."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from logpipe.config import Config
from logpipe.metrics import names as N
from logpipe.metrics.dashboard import alarm_definitions, deploy, render, render_local_html
from logpipe.metrics.model import DataPoint
from logpipe.queries.model import MetricSpec, SavedQuery
from logpipe.sinks.publisher import Publisher

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def _queries() -> list[SavedQuery]:
    return [SavedQuery("errors_by_service", "ERROR records per service", "select 1", Path("q1.sql"),
                       metrics=(MetricSpec(N.ERROR_COUNT, "errors", dimensions=("service",)),)),
            SavedQuery("checkout_latency", "checkout latency", "select 1", Path("q2.sql"),
                       metrics=(MetricSpec("CheckoutLatency", "ms", unit="Milliseconds", dimensions=("service",),
                                           kind="distribution"),))]


def test_dashboard_and_alarms_accepted_by_cloudwatch(aws: str) -> None:
    config = Config.model_validate({"aws": {"region": "us-east-1"}})
    rendered = render(config, _queries(), ["api", "web"], "123456789012")
    titles = [w["properties"].get("title") for w in rendered.body["widgets"]]
    assert {"Errors per service", "New error patterns", "HTTP 5xx rate (%)", "Latency p95 (ms)", "Log volume",
            "Alarms", "CheckoutLatency"} <= set(titles)
    text = next(w for w in rendered.body["widgets"] if w["type"] == "text")["properties"]["markdown"]
    assert "`errors_by_service`" in text and "`checkout_latency`" in text

    applied = deploy(config, rendered)
    assert len(applied) == 1 + 6
    client = boto3.client("cloudwatch", region_name="us-east-1")
    body = json.loads(client.get_dashboard(DashboardName=rendered.name)["DashboardBody"])
    assert body == rendered.body
    alarms = client.describe_alarms(AlarmNamePrefix="logpipe-")["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(a["AlarmName"] for a in rendered.alarms)
    spike = next(a for a in alarms if a["AlarmName"] == "logpipe-api-error-spike")
    assert spike["ThresholdMetricId"] == "band"
    assert any("ANOMALY_DETECTION_BAND" in (m.get("Expression") or "") for m in spike["Metrics"])
    alarm_widget = next(w for w in rendered.body["widgets"] if w["type"] == "alarm")
    assert all(re.match(r"arn:aws:cloudwatch:us-east-1:123456789012:alarm:logpipe-", a)
               for a in alarm_widget["properties"]["alarms"])


def test_alarm_metric_names_are_the_shared_constants() -> None:
    alarms = alarm_definitions(Config(), ["api"])
    used = {a.get("MetricName") for a in alarms} | {m["MetricStat"]["Metric"]["MetricName"]
                                                     for a in alarms for m in a.get("Metrics", []) if "MetricStat" in m}
    assert used - {None} == {N.NEW_PATTERNS, N.ERROR_COUNT, N.HTTP_5XX_RATE}


def test_render_cli_writes_json(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "dash"
    code, _, stderr = cli("dashboard", "render", "--out", str(out), "--service", "api")
    assert code == 0, stderr
    dash = json.loads((out / "dashboard.json").read_text())
    assert dash["DashboardName"] == "logpipe-logs" and dash["DashboardBody"]["widgets"]
    alarms = json.loads((out / "alarms.json").read_text())
    _, jobs = _shipped_jobs(Config())
    assert len(alarms) == 3 + len(jobs)  # three for the service, a heartbeat per scheduled job


def test_render_cli_without_services_says_what_to_do(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("LOGPIPE_STATE_URL", f"sqlite:///{tmp_path}/none.db")
    code, _, stderr = cli("dashboard", "render", "--out", str(tmp_path / "d"))
    assert code == 2 and "--service" in stderr


def test_local_html_dashboard(tmp_path: Path) -> None:
    config = Config.model_validate({"state": {"url": f"sqlite:///{tmp_path}/s.db"}})
    publisher = Publisher.from_config(config)
    for h in range(6):
        end = T0 + timedelta(hours=h + 1)
        points = [DataPoint(N.ERROR_COUNT, end, value=h * 2, dimensions={"service": "api"}),
                  DataPoint(N.ERROR_COUNT, end, value=1, dimensions={"service": "web"}),
                  DataPoint(N.LOG_RECORDS, end, value=1000 + h, dimensions={"service": "api"})]
        publisher.enqueue("errors", end - timedelta(hours=1), end, points)
    assert publisher.flush().complete
    page = render_local_html(config, publisher.engine, tmp_path / "out" / "index.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert page.index("ErrorCount") < page.index("LogRecords")


def test_deploy_cli_on_moto(cli: Any, aws: str, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("LOGPIPE_STATE_URL", f"sqlite:///{tmp_path}/none.db")
    monkeypatch.setenv("LOGPIPE_AWS_REGION", "us-east-1")
    code, out, err = cli("dashboard", "deploy", "--service", "checkout")
    assert code == 0, err
    assert "applied dashboard logpipe-logs" in out and "applied alarm logpipe-checkout-error-spike" in out
    client = boto3.client("cloudwatch", region_name="us-east-1")
    body = json.loads(client.get_dashboard(DashboardName="logpipe-logs")["DashboardBody"])
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    assert all(f":{account}:alarm:logpipe-" in a for a in alarm_widget["properties"]["alarms"])
    assert any(f":{account}:alarm:logpipe-checkout-" in a for a in alarm_widget["properties"]["alarms"])
    assert any(a.endswith(":alarm:logpipe-job-detect-heartbeat") for a in alarm_widget["properties"]["alarms"])


def test_render_local_cli(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.setenv("LOGPIPE_STATE_URL", url)
    code, _, err = cli("dashboard", "render", "--local", "--out", str(tmp_path / "html"))
    assert code == 2 and "no local metric history" in err
    config = Config.model_validate({"state": {"url": url}})
    publisher = Publisher.from_config(config)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    publisher.enqueue("errors", end - timedelta(hours=1), end,
                      [DataPoint(N.ERROR_COUNT, end, value=4, dimensions={"service": "api"})])
    publisher.flush()
    code, _, err = cli("dashboard", "render", "--local", "--out", str(tmp_path / "html"))
    assert code == 0, err
    assert "data:image/png;base64," in (tmp_path / "html" / "index.html").read_text()


# -- alarms that page someone ---------------------------------------------------------------------------

def _shipped_jobs(config: Config) -> tuple[list[SavedQuery], list[tuple[str, int]]]:
    from logpipe.queries.loader import load_queries
    from logpipe.service.jobs import build_jobs

    return (list(load_queries(config).values()),
            [(j.name, int(j.window.total_seconds())) for j in build_jobs(config)])


def test_alarms_page_someone_and_follow_their_metrics_windows(aws: str) -> None:
    """Against moto: every alarm carries the configured and the stack's topic, each period is the window
    of the query behind its metric, the heartbeat alarms treat missing data as breaching."""
    sns = boto3.client("sns", region_name="us-east-1")
    oncall = sns.create_topic(Name="oncall")["TopicArn"]
    config = Config.model_validate({"aws": {"region": "us-east-1"}, "service": {"window": "5m"},
                                    "alarms": {"actions": [oncall], "create_topic": True}})
    queries, jobs = _shipped_jobs(config)
    rendered = render(config, queries, ["checkout"], "123456789012", jobs)
    deploy(config, rendered)
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix="logpipe-")["MetricAlarms"]}
    assert set(alarms) == {a["AlarmName"] for a in rendered.alarms}
    stack_topic = "arn:aws:sns:us-east-1:123456789012:logpipe-alarms"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [oncall, stack_topic], alarm["AlarmName"]
        assert alarm["OKActions"] == [oncall, stack_topic]
        assert "Fires up to" in alarm["AlarmDescription"]
    # Periods: ErrorCount is hourly (errors_by_service), Http5xxRate every 15m (http_status_latency),
    # NewPatterns from detect over [service] window (5m) - not one period for all.
    spike = alarms["logpipe-checkout-error-spike"]
    assert next(m for m in spike["Metrics"] if m["Id"] == "errors")["MetricStat"]["Period"] == 3600
    assert alarms["logpipe-checkout-http-5xx-rate"]["Period"] == 900
    assert alarms["logpipe-checkout-new-error-pattern"]["Period"] == 300
    # One heartbeat per scheduled job, missing data breaching, period = the job's window.
    beats = {a["Dimensions"][0]["Value"]: a for a in alarms.values() if a.get("MetricName") == N.JOB_HEARTBEAT}
    assert set(beats) == {name for name, _ in jobs} and "query:errors_by_service" in beats
    for name, window in jobs:
        beat = beats[name]
        assert beat["TreatMissingData"] == "breaching"
        assert beat["Period"] == max(60, window) and beat["ComparisonOperator"] == "LessThanThreshold"
        assert beat["EvaluationPeriods"] == beat["DatapointsToAlarm"] == 2
    assert beats["digest"]["Period"] == 86400


def test_end_to_end_delay_is_computed_shown_and_described(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from logpipe.metrics.dashboard import alarm_timings, end_to_end_delay

    config = Config.model_validate({"service": {"lateness": "10m"}, "infra": {"firehose_buffer_seconds": 300}})
    assert end_to_end_delay(config, 3600)[0] == 3600 + 600 + 300
    queries, jobs = _shipped_jobs(config)
    timings = {t.alarm: t for t in alarm_timings(config, ["api"], queries, jobs)}
    assert timings["logpipe-api-http-5xx-rate"].delay_seconds == 900 + 600 + 300
    assert timings["logpipe-api-http-5xx-rate"].job == "query:http_status_latency"
    alarm = next(a for a in alarm_definitions(config, ["api"], queries) if a["AlarmName"] == "logpipe-api-http-5xx-rate")
    assert "Fires up to 30m after the records (window 15m + lateness 10m + Firehose buffer 5m)" in alarm["AlarmDescription"]

    code, out, err = cli("dashboard", "render", "--out", str(tmp_path / "d"), "--service", "api")
    assert code == 0, err
    assert "end-to-end delay" in out and "query:http_status_latency" in out and "1h15m" in out
    assert "page nobody" in err  # no [alarms] actions configured


def test_alarm_actions_must_be_sns_topic_arns() -> None:
    import pytest

    from logpipe.config import load_config
    from logpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="not an SNS topic ARN"):
        load_config(environ={"LOGPIPE_ALARMS_ACTIONS": '["arn:aws:sqs:us-east-1:123456789012:q"]'})


ALERT_QUERY = """-- name: checkout_errors
-- description: Checkout errors per service.
-- schedule: every 15m
-- window: 15m
-- metric CheckoutErrors: column=errors, unit=Count, dimensions=service
-- metric CheckoutErrorsTotal: column=total, unit=Count
-- alert too_many: column=errors, op=>=, threshold=50, for=2, severity=critical, destinations=oncall
-- alert fleet: column=total, op=>, threshold=500
SELECT service, count(*) AS errors, sum(count(*)) OVER () AS total
FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end AND ts >= :window_start AND ts < :window_end AND level = 'ERROR'
GROUP BY service
"""


def test_alert_header_becomes_a_cloudwatch_alarm(aws: str, tmp_path: Path) -> None:
    from logpipe.queries.loader import load_query_file

    (tmp_path / "checkout_errors.sql").write_text(ALERT_QUERY)
    query = load_query_file(tmp_path / "checkout_errors.sql")
    assert [a.name for a in query.alerts] == ["too_many", "fleet"]
    assert query.alerts[0].for_windows == 2 and query.alerts[0].destinations == ("oncall",)
    config = Config.model_validate({"aws": {"region": "us-east-1"}})
    rendered = render(config, [query], ["api", "web"], "123456789012")
    deploy(config, rendered)
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix="logpipe-checkout_errors")["MetricAlarms"]}
    assert set(alarms) == {"logpipe-checkout_errors-too_many-api", "logpipe-checkout_errors-too_many-web",
                           "logpipe-checkout_errors-fleet"}
    api = alarms["logpipe-checkout_errors-too_many-api"]
    assert (api["MetricName"], api["Threshold"], api["ComparisonOperator"]) == (
        "CheckoutErrors", 50.0, "GreaterThanOrEqualToThreshold")
    assert api["Period"] == 900 and api["EvaluationPeriods"] == api["DatapointsToAlarm"] == 2
    assert api["Dimensions"] == [{"Name": "service", "Value": "api"}] and "[critical]" in api["AlarmDescription"]
    fleet = alarms["logpipe-checkout_errors-fleet"]
    assert fleet["MetricName"] == "CheckoutErrorsTotal" and not fleet.get("Dimensions")


def test_alert_on_a_column_without_a_metric_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from logpipe.errors import QueryError
    from logpipe.queries.loader import load_query_file

    path = tmp_path / "checkout_errors.sql"
    path.write_text(ALERT_QUERY.replace("column=total, op=>", "column=nothing, op=>"))
    with pytest.raises(QueryError, match=r"checkout_errors.sql:8: alert fleet watches column 'nothing'"):
        load_query_file(path)
    path.write_text(ALERT_QUERY.replace("op=>=", "op=~"))
    with pytest.raises(QueryError, match=r":7: alert too_many: op=~ is not one of"):
        load_query_file(path)


def test_heartbeat_alarms_evaluated_locally_treat_missing_data_as_breaching(tmp_path: Path) -> None:
    from logpipe.web.dashboards import alarms

    config = Config.model_validate({"state": {"url": f"sqlite:///{tmp_path}/s.db"},
                                    "queries": {"include_shipped": False}, "service": {"lateness": "10m"}})
    publisher = Publisher.from_config(config)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for job, end in (("detect", now), ("digest", now - timedelta(days=3))):
        publisher.enqueue(f"{job}:heartbeat", end - timedelta(hours=1), end,
                          [DataPoint(N.JOB_HEARTBEAT, end, value=1, dimensions={"job": job})])
    assert publisher.flush().complete
    found = {a["name"]: a for a in alarms(config, publisher.engine) if a["metric"] == N.JOB_HEARTBEAT}
    assert found["logpipe-job-detect-heartbeat"]["state"] == "OK"
    assert found["logpipe-job-digest-heartbeat"]["state"] == "ALARM"  # 3 days old, 2 x 24h allowed
    assert "missing data is breaching" in found["logpipe-job-digest-heartbeat"]["reason"]
