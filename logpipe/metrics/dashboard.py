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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logpipe import aws
from logpipe.durations import parse_duration
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
    timings: list[Any] = field(default_factory=list)  # AlarmTiming per alarm, in order


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


@dataclass(frozen=True)
class Producer:
    """The scheduled job that produces a metric, and the window each of its points describes."""

    job: str
    window_seconds: int


@dataclass(frozen=True)
class AlarmTiming:
    """How late an alarm can fire, for ``dashboard render`` and the alarm's description."""

    alarm: str
    metric: str
    job: str
    period: int
    delay_seconds: int
    explanation: str


def producers(config: Config, queries: Sequence[SavedQuery]) -> dict[str, Producer]:
    """Metric name -> the scheduled job producing it. Why: an alarm's period must be the window of the
    query behind its metric (``ErrorCount`` hourly, ``Http5xxRate`` every 15 minutes); a shorter period
    evaluates periods that can never hold a point, a longer one mixes windows."""
    found: dict[str, Producer] = {}
    for query in queries:
        if not query.schedule:
            continue
        window = parse_duration(query.window)
        for spec in query.metrics:
            known = found.get(spec.name)
            if known is None or window > known.window_seconds:  # two producers: the coarser one decides
                found[spec.name] = Producer(f"query:{query.name}", window)
    detect = Producer("detect", parse_duration(config.service.window))
    for name in (N.NEW_PATTERNS, N.PATTERN_COUNT, N.BAD_RECORDS, N.MISPLACED_RECORDS):
        found.setdefault(name, detect)
    return found


def _as_period(seconds: int) -> int:
    """A CloudWatch alarm period: a multiple of 60 seconds, at least 60."""
    return max(60, seconds - seconds % 60)


def _evaluation_periods(period: int, wanted: int) -> int:
    """At most what CloudWatch accepts: Period x EvaluationPeriods <= 7 days, <= 1 day under an hour."""
    limit = 86_400 if period < 3600 else 604_800
    if period > limit:
        raise UsageError(f"an alarm period of {period}s is longer than CloudWatch allows ({limit}s): use a "
                         "shorter window for the job or query behind it")
    return max(1, min(wanted, limit // period))


def human(seconds: float) -> str:
    """``5400`` -> ``1h30m``: durations as the config writes them."""
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def end_to_end_delay(config: Config, window_seconds: int) -> tuple[int, str]:
    """How long after a record is logged its window's alarm can fire, and why.

    A record waits in Firehose's buffer (``[infra] firehose_buffer_seconds``), its window closes (up
    to one window later), the job waits ``[service] lateness`` for late objects, then queries and
    publishes. (CloudWatch then evaluates the alarm within its period.)"""
    buffer = config.infra.firehose_buffer_seconds
    lateness = parse_duration(config.service.lateness)
    delay = buffer + lateness + window_seconds
    why = (f"window {human(window_seconds)} + lateness {human(lateness)} + Firehose buffer {human(buffer)}")
    return delay, why


def alarm_topic_arn(config: Config, account_id: str) -> str:
    """The ARN of the topic the stateless stack creates with ``[alarms] create_topic``."""
    region = config.aws.region
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:sns:{region}:{account_id}:{config.infra.stack_prefix}-alarms"


def alarm_actions(config: Config, account_id: str = PLACEHOLDER_ACCOUNT) -> dict[str, Any]:
    """``AlarmActions`` (and ``OKActions``) of every generated alarm: ``[alarms] actions`` and the
    stack's topic. An alarm without actions pages nobody."""
    topics = list(config.alarms.actions)
    if config.alarms.create_topic:
        topics.append(alarm_topic_arn(config, account_id))
    topics = list(dict.fromkeys(topics))
    out: dict[str, Any] = {"ActionsEnabled": True, "AlarmActions": topics}
    if config.alarms.notify_ok:
        out["OKActions"] = topics
    return out


def _safe(name: str) -> str:
    """A job or query name as part of an alarm name (``query:errors`` -> ``query-errors``)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def _describe(text: str, timing: tuple[int, str]) -> str:
    delay, why = timing
    return f"{text}. Fires up to {human(delay)} after the records ({why}).  [logpipe]"[:1024]


def alarm_definitions(config: Config, services: Sequence[str], queries: Sequence[SavedQuery] = (),
                      jobs: Sequence[tuple[str, int]] = (), account_id: str = PLACEHOLDER_ACCOUNT,
                      ) -> list[dict[str, Any]]:
    """``PutMetricAlarm`` arguments: per service new error pattern, error spike (anomaly band) and 5xx
    rate; one heartbeat alarm per scheduled job (``jobs``: name and window seconds); one alarm per
    ``-- alert`` of a scheduled saved query. Every alarm carries ``[alarms]`` actions; its period is the
    window of the job that produces its metric (``[service] window`` when no scheduled query does)."""
    return [a for a, _ in _alarms_and_timings(config, services, queries, jobs, account_id)]


def alarm_timings(config: Config, services: Sequence[str], queries: Sequence[SavedQuery] = (),
                  jobs: Sequence[tuple[str, int]] = ()) -> list[AlarmTiming]:
    return [t for _, t in _alarms_and_timings(config, services, queries, jobs, PLACEHOLDER_ACCOUNT)]


def _alarms_and_timings(config: Config, services: Sequence[str], queries: Sequence[SavedQuery],
                        jobs: Sequence[tuple[str, int]], account_id: str
                        ) -> list[tuple[dict[str, Any], AlarmTiming]]:
    ns, prefix = config.metrics.namespace, config.infra.stack_prefix
    made = producers(config, queries)
    fallback = Producer("[service] window", parse_duration(config.service.window))
    actions = alarm_actions(config, account_id)
    out: list[tuple[dict[str, Any], AlarmTiming]] = []

    def add(alarm: dict[str, Any], metric: str, producer: Producer, timing: tuple[int, str]) -> None:
        alarm.update(actions)
        # a metric alarm has its Period; metric math has it on a MetricStat or (Metrics Insights) on the query
        period = alarm.get("Period") or next(m["MetricStat"]["Period"] if "MetricStat" in m else m["Period"]
                                             for m in alarm["Metrics"] if "MetricStat" in m or "Period" in m)
        out.append((alarm, AlarmTiming(alarm["AlarmName"], metric, producer.job, period, timing[0], timing[1])))

    for service in services:
        dims = [{"Name": N.DIM_SERVICE, "Value": service}]
        common = {"TreatMissingData": "notBreaching", "EvaluationPeriods": 1, "DatapointsToAlarm": 1}
        new = made.get(N.NEW_PATTERNS, fallback)
        timing = end_to_end_delay(config, new.window_seconds)
        add({"AlarmName": f"{prefix}-{service}-new-error-pattern",
             "AlarmDescription": _describe(f"{service}: an error pattern never seen before appeared ({new.job})", timing),
             "Namespace": ns, "MetricName": N.NEW_PATTERNS, "Dimensions": dims, "Statistic": "Sum",
             "Period": _as_period(new.window_seconds), "Threshold": 1.0,
             "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Unit": "Count", **common},
            N.NEW_PATTERNS, new, timing)
        errors = made.get(N.ERROR_COUNT, fallback)
        timing = end_to_end_delay(config, errors.window_seconds)
        add({"AlarmName": f"{prefix}-{service}-error-spike",
             "AlarmDescription": _describe(f"{service}: ERROR records above the anomaly detection band "
                                           f"({ANOMALY_BAND_WIDTH} sd, {errors.job})", timing),
             "Metrics": [
                 {"Id": "errors", "ReturnData": True, "MetricStat": {
                     "Metric": {"Namespace": ns, "MetricName": N.ERROR_COUNT, "Dimensions": dims},
                     "Period": _as_period(errors.window_seconds), "Stat": "Sum"}},
                 {"Id": "band", "Expression": f"ANOMALY_DETECTION_BAND(errors, {ANOMALY_BAND_WIDTH})",
                  "Label": "expected errors", "ReturnData": True},
             ],
             "ThresholdMetricId": "band", "ComparisonOperator": "GreaterThanUpperThreshold", **common},
            N.ERROR_COUNT, errors, timing)
        http = made.get(N.HTTP_5XX_RATE, fallback)
        timing = end_to_end_delay(config, http.window_seconds)
        add({"AlarmName": f"{prefix}-{service}-http-5xx-rate",
             "AlarmDescription": _describe(f"{service}: more than {HTTP_5XX_THRESHOLD_PERCENT}% of HTTP responses "
                                           f"are 5xx ({http.job})", timing),
             "Namespace": ns, "MetricName": N.HTTP_5XX_RATE, "Dimensions": dims, "Statistic": "Average",
             "Period": _as_period(http.window_seconds), "Threshold": HTTP_5XX_THRESHOLD_PERCENT,
             "ComparisonOperator": "GreaterThanThreshold", "Unit": "Percent", **common},
            N.HTTP_5XX_RATE, http, timing)

    for job, window in jobs:
        period = _as_period(window)
        missed = _evaluation_periods(period, config.alarms.heartbeat_missed_windows)
        producer = Producer(job, window)
        delay, why = end_to_end_delay(config, window)
        timing = (delay + (missed - 1) * period, f"{missed} missed window(s); {why}")
        add({"AlarmName": f"{prefix}-job-{_safe(job)}-heartbeat",
             "AlarmDescription": _describe(f"job {job} completed no window in {missed} window(s) of "
                                           f"{human(window)}: the pipeline is stuck, failing or not running", timing),
             "Namespace": ns, "MetricName": N.JOB_HEARTBEAT, "Dimensions": [{"Name": N.DIM_JOB, "Value": job}],
             "Statistic": "SampleCount", "Period": period, "Threshold": 1.0,
             "ComparisonOperator": "LessThanThreshold", "Unit": "Count",
             # No data IS the failure this alarm is for.
             "TreatMissingData": "breaching", "EvaluationPeriods": missed, "DatapointsToAlarm": missed},
            N.JOB_HEARTBEAT, producer, timing)

    for query in queries:
        if not query.schedule:
            continue
        for alert in query.alerts:
            spec = query.metric_for(alert.column)
            if spec is None:  # the loader refuses such a file; a query built in code may still
                raise UsageError(f"alert {alert.name} of {query.name}: no gauge metric holds column {alert.column}")
            producer = Producer(f"query:{query.name}", parse_duration(query.window))
            for alarm in _alert_alarms(config, query, alert, spec, producer, services):
                add(alarm, spec.name, producer, end_to_end_delay(config, producer.window_seconds))
    return out


COMPARISON = {">": "GreaterThanThreshold", ">=": "GreaterThanOrEqualToThreshold", "<": "LessThanThreshold",
              "<=": "LessThanOrEqualToThreshold"}
METRICS_INSIGHTS_RANGE = 3 * 3600  # Metrics Insights alarms see the last 3 hours only


def _alert_alarms(config: Config, query: SavedQuery, alert: Any, spec: Any, producer: Producer,
                  services: Sequence[str]) -> list[dict[str, Any]]:
    """A ``-- alert`` as CloudWatch alarms on its metric: one per service for a per-service metric, one
    for a metric without dimensions, else one Metrics Insights alarm over every series (any breaching
    series fires it: MAX for an upper bound, MIN for a lower one)."""
    ns, prefix = config.metrics.namespace, config.infra.stack_prefix
    period = _as_period(producer.window_seconds)
    evaluations = _evaluation_periods(period, alert.for_windows)
    stat = "Maximum" if alert.op.startswith(">") else "Minimum"
    timing = end_to_end_delay(config, producer.window_seconds)
    what = (f"{query.name}: {alert.condition} for {evaluations} window(s) of {human(producer.window_seconds)} "
            f"[{alert.severity}]")
    common = {"ComparisonOperator": COMPARISON[alert.op], "Threshold": alert.threshold,
              "EvaluationPeriods": evaluations, "DatapointsToAlarm": evaluations,
              "TreatMissingData": "notBreaching"}  # no row in a window: nothing to alert on
    base = f"{prefix}-{_safe(query.name)}-{alert.name}"
    dims = tuple(spec.dimensions)
    if dims == (N.DIM_SERVICE,) and services:
        return [{"AlarmName": f"{base}-{service}", "AlarmDescription": _describe(f"{service}: {what}", timing),
                 "Namespace": ns, "MetricName": spec.name, "Dimensions": [{"Name": N.DIM_SERVICE, "Value": service}],
                 "Statistic": stat, "Period": period, **common} for service in services]
    if not dims:
        return [{"AlarmName": base, "AlarmDescription": _describe(what, timing), "Namespace": ns,
                 "MetricName": spec.name, "Statistic": stat, "Period": period, **common}]
    if period * evaluations > METRICS_INSIGHTS_RANGE:
        raise UsageError(f"alert {alert.name} of {query.name}: metric {spec.name} has dimensions "
                         f"{', '.join(dims)}, so its alarm is a Metrics Insights query, which sees only the last "
                         f"3 hours; window x for = {human(period * evaluations)}: use a shorter window or for=")
    schema = ", ".join([f'"{ns}"', *dims])
    return [{"AlarmName": base, "AlarmDescription": _describe(what, timing),
             "Metrics": [{"Id": "q", "ReturnData": True, "Period": period,
                          "Expression": f"SELECT {stat.upper()[:3]}({spec.name}) FROM SCHEMA({schema})"}],
             **common}]


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
        # Each scheduled job's completed windows and how long they took: a flat heartbeat is a dead pipeline.
        _metric_widget("Job heartbeats (windows completed)", [("", _search(ns, N.JOB_HEARTBEAT, "SampleCount", period,
                                                                           (N.DIM_JOB,)))],
                       region, 0, 18, stat="SampleCount", period=period),
        _metric_widget("Job window duration (s)", [("", _search(ns, N.JOB_DURATION, "Maximum", period, (N.DIM_JOB,)))],
                       region, 12, 18, stat="Maximum", period=period),
    ]
    y = 24
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
           account_id: str = PLACEHOLDER_ACCOUNT, jobs: Sequence[tuple[str, int]] = ()) -> Rendered:
    """The dashboard and every alarm; ``jobs`` (name, window seconds) get a heartbeat alarm each."""
    pairs = _alarms_and_timings(config, services, queries, jobs, account_id)
    alarms = [a for a, _ in pairs]
    body = dashboard_body(config, queries, [a["AlarmName"] for a in alarms], account_id)
    return Rendered(dashboard_name(config), body, alarms, [t for _, t in pairs])


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
                         "(the demo keeps its own: logpipe --config logpipe-demo/logpipe.toml dashboard render --local)")
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
