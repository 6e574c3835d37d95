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
    assert len(json.loads((out / "alarms.json").read_text())) == 3


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
    assert all(f":{account}:alarm:logpipe-checkout-" in a for a in alarm_widget["properties"]["alarms"])


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
