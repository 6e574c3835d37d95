"""Grafana's JSON data source (the ``simpod-json-datasource`` plugin) over the derived metrics.

Why a second shape of the same data: Grafana's JSON data source does not read arbitrary JSON; it
speaks a small protocol (``GET /`` to test the connection, ``POST /metrics`` for the metric picker,
``POST /metric-payload-options`` for a payload's choices, ``POST /query`` for time series,
``/tag-keys`` and ``/tag-values`` for ad-hoc filters; the older SimpleJson plugin's ``/search``
too). Point the data source's URL at ``https://HOST/api/grafana`` with an ``Authorization: Bearer``
header (Access: Server). The series are the dashboards' own (``logpipe.web.dashboards``): local
metric history or CloudWatch ``GetMetricData``, one per service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from logpipe.web.context import Console

router = APIRouter(prefix="/api/grafana")
SERVICE = "service"


def _console(request: Request) -> Console:
    return request.app.state.console


def _services(console: Console) -> list[str]:
    from logpipe.metrics.dashboard import known_services

    return sorted(known_services(console.config, console.state))


@router.get("", summary="Grafana JSON data source: test connection")
@router.get("/", include_in_schema=False)
def test_connection() -> dict[str, str]:
    return {"status": "ok", "datasource": "logpipe"}


@router.post("/metrics", summary="Grafana JSON data source: the metrics, each with a service payload")
def metrics(request: Request) -> list[dict[str, Any]]:
    from logpipe.web import dashboards

    console = _console(request)
    options = [{"label": s, "value": s} for s in _services(console)]
    payload = {"label": "Service", "name": SERVICE, "type": "select", "placeholder": "all services",
               "options": options}
    return [{"label": name, "value": name, "payloads": [payload]}
            for name in dashboards.metric_names(console.config, console.state)]


@router.post("/metric-payload-options", summary="Grafana JSON data source: a payload's choices (services)")
@router.post("/options", include_in_schema=False)  # the plugin's older name for it
def payload_options(request: Request) -> list[dict[str, str]]:
    return [{"label": s, "value": s} for s in _services(_console(request))]


@router.post("/search", summary="SimpleJson data source: metric names")
def search(request: Request) -> list[str]:
    from logpipe.web import dashboards

    console = _console(request)
    return dashboards.metric_names(console.config, console.state)


@router.post("/tag-keys", summary="Grafana JSON data source: keys for ad-hoc filters")
def tag_keys() -> list[dict[str, str]]:
    return [{"type": "string", "text": SERVICE}]


class TagValuesBody(BaseModel):
    key: str


@router.post("/tag-values", summary="Grafana JSON data source: values of an ad-hoc filter key")
def tag_values(body: TagValuesBody, request: Request) -> list[dict[str, str]]:
    if body.key != SERVICE:
        return []
    return [{"text": s} for s in _services(_console(request))]


class Range(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime


class Target(BaseModel):
    target: str | None = None
    refId: str | None = None  # the plugin's field name
    payload: dict[str, Any] | str | None = None
    hide: bool = False


class AdhocFilter(BaseModel):
    key: str
    operator: str = "="
    value: str


class QueryBody(BaseModel):
    range: Range
    targets: list[Target] = Field(default_factory=list, max_length=50)
    adhocFilters: list[AdhocFilter] = Field(default_factory=list)  # the plugin's field name


def _service_of(target: Target, filters: list[AdhocFilter]) -> str | None:
    payload = target.payload if isinstance(target.payload, dict) else {}
    chosen = payload.get(SERVICE)
    for f in filters:
        if f.key == SERVICE and f.operator == "=":
            if chosen and chosen != f.value:
                raise HTTPException(400, f"the panel asks for service {chosen!r} and the ad-hoc filter for "
                                         f"{f.value!r}: no series can match both")
            chosen = f.value
        elif f.key == SERVICE:
            raise HTTPException(400, f"ad-hoc filter operator {f.operator!r} on service: only '=' is supported")
    return str(chosen) if chosen else None


@router.post("/query", summary="Grafana JSON data source: time series (one per metric and service)")
def query(body: QueryBody, request: Request) -> list[dict[str, Any]]:
    """``[{"target": "ErrorCount checkout", "datapoints": [[value, epoch ms], ...]}, ...]``."""
    from logpipe.metrics.names import KNOWN_BY_NAME
    from logpipe.web import dashboards

    console = _console(request)
    start, end = body.range.from_, body.range.to
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(400, "range.from and range.to need a time zone (Grafana sends them in UTC, ending in Z)")
    if end <= start:
        raise HTTPException(400, f"range.to ({end.isoformat()}) must be after range.from ({start.isoformat()})")
    known = set(dashboards.metric_names(console.config, console.state))
    out: list[dict[str, Any]] = []
    for target in body.targets:
        if target.hide or not target.target:
            continue
        if target.target not in known and target.target not in KNOWN_BY_NAME:
            raise HTTPException(404, f"no metric {target.target!r}: POST /api/grafana/metrics lists them")
        service = _service_of(target, body.adhocFilters)
        data = dashboards.series(console.config, console.state, target.target, start, end, service)
        for s in data["series"]:
            points = [[v, int(x * 1000)] for x, v in zip(data["x"], s["values"], strict=True) if v is not None]
            out.append({"target": f"{target.target} {s['label']}", "refId": target.refId, "datapoints": points})
    return out


__all__ = ["router"]
