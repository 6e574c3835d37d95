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
from datetime import datetime
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


def alarms(config: Config, state: Any) -> list[dict[str, Any]]:
    """Every alarm with its state (OK, ALARM, INSUFFICIENT_DATA) and why."""
    from logpipe.metrics.dashboard import alarm_definitions, known_services

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
    from logpipe.metrics.history import series as local_series

    out = []
    for alarm in alarm_definitions(config, known_services(config, state)):
        service = next((d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == N.DIM_SERVICE), None)
        entry = {"name": alarm["AlarmName"], "metric": alarm.get("MetricName"), "service": service,
                 "description": alarm["AlarmDescription"], "source": "local"}
        compare = COMPARE.get(alarm["ComparisonOperator"])
        if "Metrics" in alarm or compare is None:
            service = service or next((d["Value"] for m in alarm.get("Metrics", [])
                                       for d in m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
                                       if d["Name"] == N.DIM_SERVICE), None)
            out.append({**entry, "service": service, "state": "INSUFFICIENT_DATA",
                        "reason": "an anomaly-detection band is evaluated by CloudWatch only"})
            continue
        frame = local_series(state, alarm["MetricName"], {N.DIM_SERVICE: service} if service else None,
                             namespace=config.metrics.namespace)
        if frame.empty:
            out.append({**entry, "state": "INSUFFICIENT_DATA", "reason": "no data point yet"})
            continue
        last = frame.iloc[-1]
        value = float(last["value"] / last["count"]) if alarm["Statistic"] == "Average" and last["count"] else float(last["value"])
        firing = compare(value, float(alarm["Threshold"]))
        out.append({**entry, "state": "ALARM" if firing else "OK",
                    "reason": f"{alarm['Statistic']} {value:g} at {last['timestamp']:%Y-%m-%d %H:%MZ} "
                              f"({alarm['ComparisonOperator']} {alarm['Threshold']:g})"})
    return out


__all__ = ["alarms", "metric_names", "series", "source_of"]
