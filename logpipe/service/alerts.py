"""Alerts on a saved query's result (``-- alert NAME: column=..., op=..., threshold=...``), checked by
the service on every window of the query's job - the embedded default's counterpart of the CloudWatch
alarm ``logpipe dashboard deploy`` makes of the same header.

Per alert and *series* (the row's values of the metric's dimensions, e.g. ``service=api``), the
state database keeps how many windows in a row breached (``alert_states``). When that reaches the
alert's ``for`` the alert fires once: a finding (kind ``alert``) is kept for the digest and the
console, and a message is queued at once for the alert's destinations (the digest destinations it
names, all of them when it names none). A window that does not breach (or has no row for the series)
resets the count and re-arms the alert.

Everything is written in the transaction that moves the job's watermark, so a window is counted once
and an alert is delivered once, whatever crashes in between (the digest outbox is the ledger).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from logpipe.errors import UsageError
from logpipe.layout import to_ms
from logpipe.queries.model import AlertSpec, SavedQuery
from logpipe.state.db import insert_ignore, now_ms, upsert
from logpipe.state.tables import alert_states, findings

if TYPE_CHECKING:
    from logpipe.config import Config, DestinationConfig


@dataclass(frozen=True)
class Firing:
    job: str
    query: str
    alert: AlertSpec
    series: dict[str, str]
    value: float
    window_start: datetime
    window_end: datetime

    @property
    def title(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.series.items()))
        return (f"alert {self.query}/{self.alert.name}: {self.alert.condition} for {self.alert.for_windows} "
                f"window(s) (value {self.value:g}{', ' + where if where else ''})")


def destinations_for(config: Config, alert: AlertSpec) -> list[DestinationConfig]:
    """The digest destinations an alert goes to; an unknown name is a clear error."""
    from logpipe.digest.deliver import destination_id

    every = list(config.digest.destinations)
    if not alert.destinations:
        return every
    by_name = {destination_id(d): d for d in every} | {d.name: d for d in every if d.name}
    unknown = [n for n in alert.destinations if n not in by_name]
    if unknown:
        raise UsageError(f"alert {alert.name}: destinations {', '.join(unknown)} are not [[digest.destinations]] "
                         f"names (known: {', '.join(sorted(by_name)) or 'none'}); give them a name = \"...\"")
    return [by_name[n] for n in alert.destinations]


def check_alerts(config: Config, query: SavedQuery) -> None:
    for alert in query.alerts:
        destinations_for(config, alert)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def breaching_series(query: SavedQuery, alert: AlertSpec, frame: Any) -> dict[str, tuple[bool, float]]:
    """Series (as JSON) -> (breached, the value that decided): the worst row of each series."""
    spec = query.metric_for(alert.column)
    dims = list(spec.dimensions) if spec is not None else []
    found: dict[str, tuple[bool, float]] = {}
    if alert.column not in frame.columns:
        return found
    for row in frame[[alert.column, *[d for d in dims if d in frame.columns]]].to_dict("records"):
        value = _number(row[alert.column])
        if value is None:
            continue
        series = json.dumps({d: str(row.get(d)) for d in dims}, sort_keys=True)
        breached = alert.breached(value)
        known = found.get(series)
        if known is None or (breached and not known[0]) or (breached == known[0] and alert.breached(value)
                                                             and abs(value) > abs(known[1])):
            found[series] = (breached, value)
    return found


def evaluate(conn: Connection, job: str, query: SavedQuery, frame: Any, start: datetime, end: datetime
             ) -> list[Firing]:
    """Count this window for every alert of the query; the alerts that fire now."""
    fired: list[Firing] = []
    t = alert_states.c
    for alert in query.alerts:
        seen = breaching_series(query, alert, frame)
        known = {r.series: r for r in conn.execute(select(alert_states).where(t.job == job, t.alert == alert.name))}
        rows = []
        for series in set(seen) | set(known):
            before = known.get(series)
            if before is not None and before.last_window_end_ms >= to_ms(end):
                continue  # this window was counted already
            breached, value = seen.get(series, (False, math.nan))
            consecutive = before is not None and before.last_window_end_ms == to_ms(start)
            count = ((before.breaching if consecutive and before else 0) + 1) if breached else 0
            was_firing = bool(before.firing) if before is not None and consecutive else False
            firing = breached and count >= alert.for_windows
            if firing and not was_firing:
                fired.append(Firing(job, query.name, alert, json.loads(series), value, start, end))
            rows.append({"job": job, "alert": alert.name, "series": series, "breaching": count,
                         "firing": 1 if firing else 0, "last_window_end_ms": to_ms(end),
                         "last_value": None if math.isnan(value) else value})
        if rows:
            upsert(conn, alert_states, rows, ["job", "alert", "series"], update=lambda new: {
                "breaching": new.breaching, "firing": new.firing, "last_window_end_ms": new.last_window_end_ms,
                "last_value": new.last_value})
    return fired


def record(conn: Connection, config: Config, firings: list[Firing]) -> None:
    """Keep each firing as a finding and queue its message for the alert's destinations, on ``conn``."""
    from logpipe.digest import deliver
    from logpipe.digest.model import Digest, DigestFinding

    rows = []
    for firing in firings:
        key = "\n".join([firing.job, firing.alert.name, json.dumps(firing.series, sort_keys=True),
                         str(to_ms(firing.window_end))])
        service = firing.series.get("service")
        command = (f"logpipe query run {firing.query} --since {firing.window_start:%Y-%m-%dT%H:%M:%SZ} "
                   f"--until {firing.window_end:%Y-%m-%dT%H:%M:%SZ}")
        body = {"kind": "alert", "severity": firing.alert.severity, "title": firing.title, "service": service,
                "query": firing.query, "alert": firing.alert.name, "series": firing.series, "value": firing.value,
                "condition": firing.alert.condition, "for_windows": firing.alert.for_windows, "command": command}
        rows.append({"finding_id": hashlib.sha256(key.encode()).hexdigest()[:24],
                     "window_start_ms": to_ms(firing.window_start), "window_end_ms": to_ms(firing.window_end),
                     "kind": "alert", "severity": firing.alert.severity, "service": service, "pattern_id": None,
                     "title": firing.title, "body": json.dumps(body, default=str), "created_ms": now_ms()})
        destinations = destinations_for(config, firing.alert)
        if destinations:
            digest = Digest(title=f"logpipe alert: {firing.query}/{firing.alert.name}",
                            window_start=firing.window_start, window_end=firing.window_end,
                            generated_at=firing.window_end, engine=config.engine.kind, services=[],
                            findings=[DigestFinding("alert", firing.alert.severity, firing.title, service, None, [],
                                                    command)], top_patterns=[])
            series = ",".join(f"{k}={v}" for k, v in sorted(firing.series.items()))
            deliver.enqueue(conn, digest, destinations, f"alert:{firing.job}:{firing.alert.name}:{series}")
    if rows:
        insert_ignore(conn, findings, rows, ["finding_id"])


__all__ = ["Firing", "breaching_series", "check_alerts", "destinations_for", "evaluate", "record"]
