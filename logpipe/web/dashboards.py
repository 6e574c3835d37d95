"""The dashboards' data: derived metrics as time series, from the local history or CloudWatch
``GetMetricData``, and the alarms' state.

One series per service (other dimensions are summed into it, as a CloudWatch SEARCH grouped by
service would show them). Locally the alarms of ``logpipe.metrics.dashboard.alarm_definitions`` are
evaluated on the newest data point (a threshold alarm; the anomaly-band alarm needs CloudWatch's model
and is shown as not evaluated); with the ``cloudwatch`` sink their real state comes from
``DescribeAlarms``.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from logpipe.config import Config
from logpipe.metrics import names as N

COMPARE = {"GreaterThanOrEqualToThreshold": operator.ge, "GreaterThanThreshold": operator.gt,
           "LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le}
MAX_SERIES = 24


def source_of(config: Config) -> str:
    return "cloudwatch" if "cloudwatch" in config.metrics.sinks else "local"


def metric_names(config: Config, state: Any) -> list[str]:
    if source_of(config) == "cloudwatch":
        from logpipe import aws

        cw = aws.client("cloudwatch", config.aws.region)
        found: set[str] = set()
        for page in cw.get_paginator("list_metrics").paginate(Namespace=config.metrics.namespace):
            found.update(m["MetricName"] for m in page.get("Metrics", []))
        return sorted(found)
    from logpipe.metrics.history import metric_names as local_names

    return local_names(state)


def _per_service(rows: list[tuple[datetime, dict[str, str], float]], service: str | None
                 ) -> dict[str, dict[float, float]]:
    out: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for moment, dims, value in rows:
        label = dims.get(N.DIM_SERVICE, "all")
        if service and label != service:
            continue
        out[label][moment.timestamp()] += value
    return out


def series(config: Config, state: Any, name: str, start: datetime, end: datetime,
           service: str | None = None) -> dict[str, Any]:
    """``{"x": [epoch s...], "series": [{"label", "values"}], "services": [...], "source"}``."""
    rows: list[tuple[datetime, dict[str, str], float]] = []
    source = source_of(config)
    if source == "cloudwatch":
        rows = _cloudwatch_rows(config, name, start, end)
    else:
        from logpipe.metrics.history import series as local_series

        frame = local_series(state, name, start=start, end=end, namespace=config.metrics.namespace)
        rows = [(ts.to_pydatetime(), dims, float(v)) for ts, dims, v in
                zip(frame["timestamp"], frame["dims"], frame["value"], strict=True)]
    services = sorted({d.get(N.DIM_SERVICE, "all") for _, d, _ in rows})
    grouped = _per_service(rows, service)
    xs = sorted({x for points in grouped.values() for x in points})
    labels = sorted(grouped, key=lambda k: -sum(grouped[k].values()))[:MAX_SERIES]
    info = N.KNOWN_BY_NAME.get(name)
    return {"name": name, "unit": info.unit if info else None, "source": source, "x": xs, "services": services,
            "series": [{"label": label, "values": [grouped[label].get(x) for x in xs]} for label in sorted(labels)]}


def _cloudwatch_rows(config: Config, name: str, start: datetime, end: datetime
                     ) -> list[tuple[datetime, dict[str, str], float]]:
    from logpipe import aws

    cw = aws.client("cloudwatch", config.aws.region)
    metrics = []
    for page in cw.get_paginator("list_metrics").paginate(Namespace=config.metrics.namespace, MetricName=name):
        metrics += page.get("Metrics", [])
    unique = {tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", []))): m for m in metrics}
    keyed = list(unique.items())[:500]
    span = (end - start).total_seconds()
    period = 300 if span <= 2 * 86400 else 3600
    queries = [{"Id": f"m{i}", "ReturnData": True,
                "MetricStat": {"Metric": {"Namespace": config.metrics.namespace, "MetricName": name,
                                          "Dimensions": [{"Name": k, "Value": v} for k, v in dims]},
                               "Period": period, "Stat": "Sum"}} for i, (dims, _m) in enumerate(keyed)]
    rows: list[tuple[datetime, dict[str, str], float]] = []
    if not queries:
        return rows
    token = None
    while True:
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        if token:
            kwargs["NextToken"] = token
        answer = cw.get_metric_data(**kwargs)
        for result in answer.get("MetricDataResults", []):
            dims = dict(keyed[int(result["Id"][1:])][0])
            rows += [(t, dims, float(v)) for t, v in zip(result.get("Timestamps", []), result.get("Values", []),
                                                          strict=True)]
        token = answer.get("NextToken")
        if not token:
            return rows


def alarms(config: Config, state: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every alarm with its state (OK, ALARM, INSUFFICIENT_DATA) and why.

    Locally: the same set ``logpipe dashboard render`` deploys (per service, a heartbeat per scheduled
    job, one per ``-- alert``), each evaluated on its metric's newest local point with the alarm's own
    statistic; a heartbeat alarm (missing data is breaching) fires when no window completed within its
    evaluation periods. Alarms on metric math (anomaly band, Metrics Insights) are CloudWatch's to
    evaluate and are listed as such."""
    from logpipe.metrics.dashboard import alarm_definitions, known_services
    from logpipe.queries.loader import load_queries
    from logpipe.service.jobs import build_jobs

    if source_of(config) == "cloudwatch":
        from logpipe import aws

        cw = aws.client("cloudwatch", config.aws.region)
        out = []
        for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=config.infra.stack_prefix + "-"):
            for alarm in page.get("MetricAlarms", []):
                out.append({"name": alarm["AlarmName"], "state": alarm.get("StateValue", "INSUFFICIENT_DATA"),
                            "reason": alarm.get("StateReason", ""), "metric": alarm.get("MetricName"),
                            "service": next((d["Value"] for d in alarm.get("Dimensions", [])
                                             if d["Name"] == N.DIM_SERVICE), None),
                            "description": alarm.get("AlarmDescription", ""), "source": "cloudwatch"})
        return out
    now = now or datetime.now(UTC)
    jobs = [(job.name, int(job.window.total_seconds())) for job in build_jobs(config)]
    definitions = alarm_definitions(config, known_services(config, state), list(load_queries(config).values()), jobs)
    history = _LocalHistory(config, state)
    heartbeats_recorded = history.points(N.JOB_HEARTBEAT) is not None
    out = []
    for alarm in definitions:
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        metric_dims = [d for m in alarm.get("Metrics", []) for d in m.get("MetricStat", {}).get("Metric", {})
                       .get("Dimensions", [])]
        service = dims.get(N.DIM_SERVICE) or next((d["Value"] for d in metric_dims if d["Name"] == N.DIM_SERVICE), None)
        entry = {"name": alarm["AlarmName"], "metric": alarm.get("MetricName"), "service": service,
                 "description": alarm["AlarmDescription"], "source": "local"}
        compare = COMPARE.get(alarm["ComparisonOperator"])
        if "Metrics" in alarm or compare is None:
            out.append({**entry, "state": "INSUFFICIENT_DATA",
                        "reason": "metric math (an anomaly band or a Metrics Insights query) is evaluated by "
                                  "CloudWatch only"})
            continue
        frame = history.series(alarm["MetricName"], dims)
        breaching = alarm.get("TreatMissingData") == "breaching"
        if breaching:
            span = timedelta(seconds=int(alarm["Period"]) * int(alarm.get("EvaluationPeriods", 1)))
            if not heartbeats_recorded and alarm["MetricName"] == N.JOB_HEARTBEAT:
                out.append({**entry, "state": "INSUFFICIENT_DATA",
                            "reason": "no job has run against this state yet (logpipe serve records a heartbeat "
                                      "per completed window)"})
                continue
            newest = frame["timestamp"].iloc[-1].to_pydatetime() if not frame.empty else None
            if newest is None or now - newest > span:
                seen = f"the last at {newest:%Y-%m-%d %H:%MZ}" if newest else "none recorded"
                out.append({**entry, "state": "ALARM",
                            "reason": f"no data point in the last {span} ({seen}): missing data is breaching"})
                continue
        if frame.empty:
            out.append({**entry, "state": "INSUFFICIENT_DATA", "reason": "no data point yet"})
            continue
        # M out of N: the newest N points (EvaluationPeriods), ALARM when M (DatapointsToAlarm) breach
        n = int(alarm.get("EvaluationPeriods", 1))
        m = int(alarm.get("DatapointsToAlarm", n))
        recent = frame.tail(n)
        values = [_statistic(alarm["Statistic"], float(v), float(c)) for v, c in zip(recent["value"], recent["count"],
                                                                                  strict=True)]
        breached = sum(compare(v, float(alarm["Threshold"])) for v in values)
        last = recent.iloc[-1]
        shown = ", ".join(f"{v:g}" for v in values)
        out.append({**entry, "state": "ALARM" if breached >= m else "OK",
                    "reason": f"{alarm['Statistic']} {shown} (newest at {last['timestamp']:%Y-%m-%d %H:%MZ}); "
                              f"{breached} of {len(values)} {alarm['ComparisonOperator']} {alarm['Threshold']:g}, "
                              f"{m} to alarm"})
    return out


class _LocalHistory:
    """The newest week of each metric's local history, read once per metric name (not once per alarm:
    the alarms of every service and job share a handful of metrics)."""

    LOOKBACK = timedelta(days=8)

    def __init__(self, config: Config, state: Any) -> None:
        self.config = config
        self.state = state
        self._frames: dict[str, Any] = {}

    def points(self, name: str) -> Any:
        if name not in self._frames:
            from sqlalchemy import func, select

            from logpipe.layout import from_ms
            from logpipe.metrics.history import series as local_series
            from logpipe.state.tables import metric_points

            t = metric_points.c
            namespace = self.config.metrics.namespace
            with self.state.connect() as conn:
                newest = conn.execute(select(func.max(t.ts_ms)).where(t.name == name, t.namespace == namespace)).scalar()
            self._frames[name] = None if newest is None else local_series(
                self.state, name, start=from_ms(int(newest)) - self.LOOKBACK, namespace=namespace)
        frame = self._frames[name]
        return frame if frame is not None and not frame.empty else None

    def series(self, name: str, dims: dict[str, str]) -> Any:
        """The points with exactly these dimensions, oldest first (columns timestamp, value, count)."""
        import pandas as pd

        frame = self.points(name)
        if frame is None:
            return pd.DataFrame({"timestamp": [], "value": [], "count": []})
        return frame[[d == dims for d in frame["dims"]]].reset_index(drop=True)


def _statistic(statistic: str, total: float, count: float) -> float:
    """The alarm's statistic of one local point (its sum and sample count; one sample per job and
    window, so Maximum and Minimum of a point are its mean)."""
    if statistic == "Sum":
        return total
    if statistic == "SampleCount":
        return count
    return total / count if count else total


__all__ = ["alarms", "metric_names", "series", "source_of"]
