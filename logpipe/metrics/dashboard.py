"""The CloudWatch dashboard and alarms for logpipe's metrics, and a local HTML dashboard.

The dashboard uses ``SEARCH`` expressions, so a new service shows up without re-rendering. Alarms
cannot use SEARCH, so they are rendered per known service (from ``--service``, the FireLens config
and the local metric history): one per service is also what an ECS service's deployment
configuration wants (``deploymentConfiguration.alarms``), so a bad deploy of *that* service rolls back.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe import aws
from logpipe.config import parse_duration
from logpipe.errors import DeliveryError, UsageError
from logpipe.metrics import names as N

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from logpipe.config import Config
    from logpipe.queries.model import SavedQuery

PLACEHOLDER_ACCOUNT = "000000000000"
HTTP_5XX_THRESHOLD_PERCENT = 5.0
ANOMALY_BAND_WIDTH = 2.0


@dataclass(frozen=True)
class Rendered:
    name: str
    body: dict[str, Any]
    alarms: list[dict[str, Any]]


def _period(config: Config) -> int:
    seconds = parse_duration(config.service.window)
    return max(60, seconds - seconds % 60)


def _region(config: Config) -> str:
    return config.aws.region


def dashboard_name(config: Config) -> str:
    return f"{config.infra.stack_prefix}-logs"


def known_services(config: Config, engine: Engine | None = None, extra: Iterable[str] = ()) -> list[str]:
    services = set(extra) | set(config.firelens.services)
    if engine is not None:
        from sqlalchemy import select

        from logpipe.state.tables import metric_points as local_metrics

        with engine.connect() as conn:
            for (dims,) in conn.execute(select(local_metrics.c.dims).distinct()):
                services |= {v for k, v in json.loads(dims) if k == N.DIM_SERVICE and v != N.OTHER}
    return sorted(services)


def _search(namespace: str, metric: str, stat: str, period: int, dims: Sequence[str] = (N.DIM_SERVICE,)) -> str:
    schema = ",".join([namespace, *dims])
    return f"SEARCH('{{{schema}}} MetricName=\"{metric}\"', '{stat}', {period})"


def _metric_widget(title: str, expressions: list[tuple[str, str]], region: str, x: int, y: int,
                   width: int = 12, stat: str = "Sum", period: int = 3600) -> dict[str, Any]:
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": {
        "title": title, "region": region, "view": "timeSeries", "stacked": False, "stat": stat, "period": period,
        "metrics": [[{"expression": expr, "id": f"e{i}", "label": label}] for i, (label, expr) in enumerate(expressions)],
    }}


def alarm_definitions(config: Config, services: Sequence[str]) -> list[dict[str, Any]]:
    """``PutMetricAlarm`` arguments: new error pattern, error spike (anomaly band) and 5xx rate per service."""
    ns, period, prefix = config.metrics.namespace, _period(config), config.infra.stack_prefix
    alarms: list[dict[str, Any]] = []
    for service in services:
        dims = [{"Name": N.DIM_SERVICE, "Value": service}]
        common = {"ActionsEnabled": True, "TreatMissingData": "notBreaching", "EvaluationPeriods": 1,
                  "DatapointsToAlarm": 1}
        alarms.append({
            "AlarmName": f"{prefix}-{service}-new-error-pattern",
            "AlarmDescription": f"{service}: an error pattern never seen before appeared (logpipe detect)",
            "Namespace": ns, "MetricName": N.NEW_PATTERNS, "Dimensions": dims, "Statistic": "Sum",
            "Period": period, "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Unit": "Count", **common})
        alarms.append({
            "AlarmName": f"{prefix}-{service}-error-spike",
            "AlarmDescription": f"{service}: ERROR records above the anomaly detection band ({ANOMALY_BAND_WIDTH} sd)",
            "Metrics": [
                {"Id": "errors", "ReturnData": True, "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": N.ERROR_COUNT, "Dimensions": dims},
                    "Period": period, "Stat": "Sum"}},
                {"Id": "band", "Expression": f"ANOMALY_DETECTION_BAND(errors, {ANOMALY_BAND_WIDTH})",
                 "Label": "expected errors", "ReturnData": True},
            ],
            "ThresholdMetricId": "band", "ComparisonOperator": "GreaterThanUpperThreshold", **common})
        alarms.append({
            "AlarmName": f"{prefix}-{service}-http-5xx-rate",
            "AlarmDescription": f"{service}: more than {HTTP_5XX_THRESHOLD_PERCENT}% of HTTP responses are 5xx",
            "Namespace": ns, "MetricName": N.HTTP_5XX_RATE, "Dimensions": dims, "Statistic": "Average",
            "Period": period, "Threshold": HTTP_5XX_THRESHOLD_PERCENT,
            "ComparisonOperator": "GreaterThanThreshold", "Unit": "Percent", **common})
    return alarms


def dashboard_body(config: Config, queries: Sequence[SavedQuery], alarm_names: Sequence[str],
                   account_id: str = PLACEHOLDER_ACCOUNT) -> dict[str, Any]:
    """The dashboard JSON: the standard widgets, one per extra saved-query metric, the query list."""
    ns, period, region = config.metrics.namespace, _period(config), _region(config)
    widgets = [
        _metric_widget("Errors per service", [("", _search(ns, N.ERROR_COUNT, "Sum", period))], region, 0, 0,
                       period=period),
        _metric_widget("New error patterns", [("", _search(ns, N.NEW_PATTERNS, "Sum", period))], region, 12, 0,
                       period=period),
        _metric_widget("HTTP 5xx rate (%)", [("", _search(ns, N.HTTP_5XX_RATE, "Average", period))], region, 0, 6,
                       stat="Average", period=period),
        _metric_widget("Latency p95 (ms)", [("", _search(ns, N.LATENCY_P95, "Maximum", period)),
                                            ("", _search(ns, N.LATENCY, "p95", period))], region, 12, 6,
                       stat="Maximum", period=period),
        _metric_widget("Log volume", [("", _search(ns, N.LOG_RECORDS, "Sum", period)),
                                      ("", _search(ns, N.LOG_BYTES, "Sum", period))], region, 0, 12, period=period),
        _metric_widget("Bad records and job failures", [("", _search(ns, N.BAD_RECORDS, "Sum", period, (N.DIM_REASON,))),
                                                        ("", _search(ns, N.MISPLACED_RECORDS, "Sum", period, ())),
                                                        ("", _search(ns, N.JOB_FAILURES, "Sum", period, (N.DIM_JOB,)))],
                       region, 12, 12, period=period),
    ]
    y = 18
    extra = sorted({(m.name, m.dimensions, m.kind) for q in queries for m in q.metrics
                    if m.name not in N.KNOWN_BY_NAME}, key=lambda t: t[0])
    for i, (name, dims, kind) in enumerate(extra):
        stat = "p95" if kind == "distribution" else "Sum"
        widgets.append(_metric_widget(name, [("", _search(ns, name, stat, period, dims))], region,
                                      12 * (i % 2), y + 6 * (i // 2), stat=stat, period=period))
    y += 6 * ((len(extra) + 1) // 2)
    if alarm_names:
        widgets.append({"type": "alarm", "x": 0, "y": y, "width": 24, "height": 4, "properties": {
            "title": "Alarms", "alarms": [f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{n}"
                                          for n in list(alarm_names)[:100]]}})
        y += 4
    lines = ["## Saved queries", "", "Run one with `logpipe query run NAME --since 24h`.", ""]
    lines += [f"* `{q.name}`: {q.description or '(no description)'}".replace("\n", " ") for q in queries]
    widgets.append({"type": "text", "x": 0, "y": y, "width": 24, "height": max(3, min(20, len(lines) + 1)),
                    "properties": {"markdown": "\n".join(lines)}})
    return {"start": "-P7D", "periodOverride": "inherit", "widgets": widgets}


def render(config: Config, queries: Sequence[SavedQuery], services: Sequence[str],
           account_id: str = PLACEHOLDER_ACCOUNT) -> Rendered:
    alarms = alarm_definitions(config, services)
    body = dashboard_body(config, queries, [a["AlarmName"] for a in alarms], account_id)
    return Rendered(dashboard_name(config), body, alarms)


def write(rendered: Rendered, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dash = out / "dashboard.json"
    dash.write_text(json.dumps({"DashboardName": rendered.name, "DashboardBody": rendered.body}, indent=2) + "\n")
    alarms = out / "alarms.json"
    alarms.write_text(json.dumps(rendered.alarms, indent=2) + "\n")
    return [dash, alarms]


def account_id(config: Config) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(aws.client("sts", _region(config)).get_caller_identity()["Account"])
    except (ClientError, BotoCoreError) as exc:
        raise DeliveryError(f"cannot find the AWS account (sts:GetCallerIdentity failed: {exc}); "
                            "check your AWS credentials") from None


def deploy(config: Config, rendered: Rendered, client: Any = None) -> list[str]:
    """``PutDashboard`` and ``PutMetricAlarm`` for every alarm; the names applied."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or aws.client("cloudwatch", _region(config))
    applied = []
    try:
        answer = client.put_dashboard(DashboardName=rendered.name, DashboardBody=json.dumps(rendered.body))
        problems = answer.get("DashboardValidationMessages") or []
        if problems:
            raise DeliveryError(f"CloudWatch rejected parts of dashboard {rendered.name}: "
                                + "; ".join(f"{p.get('DataPath')}: {p.get('Message')}" for p in problems))
        applied.append(f"dashboard {rendered.name}")
        for alarm in rendered.alarms:
            client.put_metric_alarm(**alarm)
            applied.append(f"alarm {alarm['AlarmName']}")
    except (ClientError, BotoCoreError) as exc:
        raise DeliveryError(f"cannot deploy the dashboard/alarms (after {len(applied)} applied): {exc}") from None
    return applied


# -- the local dashboard -------------------------------------------------------------------------------

def _chart(frame: Any, title: str, unit: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.8), dpi=90)
    try:
        frame = frame.assign(label=[", ".join(f"{k}={v}" for k, v in sorted(d.items())) or "all"
                                    for d in frame["dims"]])
        totals = frame.groupby("label")["value"].sum().sort_values(ascending=False)
        for label in totals.index[:8]:
            part = frame[frame["label"] == label].sort_values("timestamp")
            ax.plot(part["timestamp"], part["value"], marker="o", markersize=2, linewidth=1.2, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(totals) > 1:
            ax.legend(fontsize=7, loc="upper left", ncols=2)
        fig.autofmt_xdate()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def render_local_html(config: Config, engine: Engine, out_path: str | Path, start: datetime | None = None,
                      end: datetime | None = None) -> Path:
    """An HTML page with one chart per metric in the local history (images inline, no network)."""
    from logpipe.extras import require
    from logpipe.metrics.history import metric_names, series

    require("charts", "the local HTML dashboard")
    names = metric_names(engine)
    if not names:
        from sqlalchemy.engine import make_url

        where = make_url(str(engine.url)).render_as_string(hide_password=True)
        raise UsageError(f"no local metric history in {where}: run `logpipe run` with the local sink first "
                         "(the demo keeps its own state: add LOGPIPE_STATE_URL=sqlite:///logpipe-demo/state.db)")
    order = [m.name for m in N.KNOWN_METRICS]
    names.sort(key=lambda n: (order.index(n) if n in order else len(order), n))
    sections = []
    for name in names:
        frame = series(engine, name, None, start, end, namespace=config.metrics.namespace)
        if frame.empty:
            continue
        info = N.KNOWN_BY_NAME.get(name)
        image = _chart(frame, name, info.unit if info else "")
        about = html.escape(info.description) if info else "saved-query metric"
        sections.append(f'<section><h2>{html.escape(name)}</h2><p>{about}</p>'
                        f'<img alt="{html.escape(name)}" src="data:image/png;base64,{image}"></section>')
    if not sections:
        sections.append("<p>No metric points in the chosen time range; widen it with --since.</p>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>logpipe metrics</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222}"
            "img{max-width:100%}section{margin-bottom:2em}</style></head><body>"
            f"<h1>logpipe metrics: {html.escape(config.metrics.namespace)}</h1>" + "".join(sections) + "</body></html>")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
