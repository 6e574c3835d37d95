"""The JSON API under ``/api``: everything the console's pages show, for scripts and Grafana too.

Reads need any signed-in identity; what changes state (running a query, mute, resolve) needs an
operator and is written to the audit log with who did it. The OpenAPI document is ``/api/openapi.json``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from logpipe.errors import LogpipeError
from logpipe.layout import floor_hour
from logpipe.queries.model import SavedQuery
from logpipe.redact import redact
from logpipe.web.auth import Identity
from logpipe.web.context import Console, run_request, window_of
from logpipe.web.runs import Run, iso
from logpipe.web.tables import DOWNLOADS, chart_spec, download, table_json

router = APIRouter(prefix="/api")


def console_of(request: Request) -> Console:
    return request.app.state.console


def identity(request: Request) -> Identity:
    return request.state.identity


def operator(request: Request) -> Identity:
    who = identity(request)
    if not who.operator:
        raise HTTPException(403, f"{who.name} has read-only access: running queries, muting and resolving need "
                                 "an operator (the operator token, or an identity in [web] operators)")
    return who


def _params_from(request: Request) -> dict[str, str]:
    return {k[2:]: v for k, v in request.query_params.items() if k.startswith("p.")}


def _query(console: Console, name: str) -> SavedQuery:
    try:
        return console.query(name)
    except LookupError:
        raise HTTPException(404, f"no saved query {name!r}: GET /api/queries lists them") from None


def param_info(query: SavedQuery) -> list[dict[str, Any]]:
    from logpipe.queries.params import _describe

    out = []
    for p in query.params:
        default = p.default
        if isinstance(default, (list, tuple)):
            default = ",".join(str(v) for v in default)
        out.append({"name": p.name, "type": p.type, "item_type": p.item_type if p.type == "list" else None,
                    "choices": list(p.choices), "default": None if default is None else str(default),
                    "required": p.required, "description": p.description, "accepts": _describe(p)})
    return out


_ENGINES: dict[tuple[str, str], tuple[list[str], str | None]] = {}


def engine_support(query: SavedQuery) -> tuple[list[str], str | None]:
    """The engines a query runs on, and why not locally when it uses a construct DuckDB cannot answer
    as Athena would (the same check ``logpipe query list`` shows). Cached per query text."""
    from logpipe.queries.runner import athena_only

    key = (query.name, hashlib.sha256(query.sql.encode("utf-8")).hexdigest())
    found = _ENGINES.get(key)
    if found is None:
        try:
            reason = athena_only(query)
        except LogpipeError as exc:  # a query that does not parse runs nowhere; say why
            found = ([], str(exc))
        else:
            found = (["athena"], reason) if reason else (["athena", "duckdb"], None)
        _ENGINES[key] = found
    return found


def query_info(query: SavedQuery, athena_only: str | bool | None = False) -> dict[str, Any]:
    """A query as the console lists it. ``athena_only`` is the catalogue's answer (the reason, or None
    for both engines); without it (False) the query is translated here, once per text and process."""
    if athena_only is False:
        engines, why = engine_support(query)
    else:
        why = athena_only if isinstance(athena_only, str) else None
        engines = ["athena"] if why else ["athena", "duckdb"]
    return {"name": query.name, "description": query.description, "schedule": query.schedule,
            "window": query.window, "params": param_info(query),
            "metrics": [{"name": m.name, "column": m.column, "unit": m.unit, "dimensions": list(m.dimensions)}
                        for m in query.metrics],
            "engines": engines, "athena_only": why}


def _catalogued(console: Console, query: SavedQuery) -> dict[str, Any]:
    """``query_info`` with the engines from the cached catalogue ``logpipe query list`` keeps (a file
    is translated again only when it or the translator changed)."""
    from logpipe.queries.catalog import query_catalog

    entry = query_catalog(console.config).get(query.name)
    if entry is None or Path(entry.path).resolve() != Path(query.path).resolve():
        return query_info(query)
    return query_info(query, entry.athena_only)


# -- who am I ---------------------------------------------------------------------------------------


@router.get("/whoami", summary="The caller's identity and role")
def whoami(request: Request) -> dict[str, Any]:
    who = identity(request)
    console = console_of(request)
    return {"name": who.name, "role": who.role, "via": who.via, "adhoc_sql": console.adhoc_sql}


# -- saved queries ------------------------------------------------------------------------------------


@router.get("/queries", summary="The saved queries")
def list_queries(request: Request) -> list[dict[str, Any]]:
    console = console_of(request)
    kept = console.results().counts()
    return [{**_catalogued(console, q), "kept_results": kept.get(q.name, 0)}
            for _, q in sorted(console.queries().items())]


@router.get("/queries/{name}", summary="One saved query: its parameters, schedule, metrics and SQL")
def get_query(name: str, request: Request) -> dict[str, Any]:
    console = console_of(request)
    query = _query(console, name)
    return {**_catalogued(console, query), "sql": query.sql}


@router.get("/queries/{name}/explain", summary="Partitions, bytes and the Athena cost a run would scan")
def explain(name: str, request: Request, since: str | None = None, until: str | None = None) -> dict[str, Any]:
    from logpipe.queries.runner import explain_query

    console = console_of(request)
    query = _query(console, name)
    start, end = window_of(since, until, query.window)
    result = explain_query(console.config, query, start, end, _params_from(request))
    return {"query": name, "since": iso(start), "until": iso(end), "objects": result.objects,
            "bytes_scanned": result.bytes_scanned, "athena_cost_usd": result.athena_cost_usd,
            "bounded": result.bounded, "warnings": result.warnings,
            "partitions": [{"partition": p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] if "/" in p else p,
                            "objects": n, "bytes": b} for p, n, b in result.partitions]}


class RunBody(BaseModel):
    """A run of a saved query: parameter values as text, the window, the engine."""

    params: dict[str, str] = Field(default_factory=dict)
    since: str | None = Field(default=None, description="'now', a duration back (2h) or ISO 8601")
    until: str | None = None
    engine: Literal["duckdb", "athena"] | None = None


def run_view(run: Run) -> dict[str, Any]:
    from urllib.parse import urlencode

    data = run.to_dict()
    path = "/ui/sql" if run.request.sql is not None else f"/ui/queries/{run.request.query}"
    data["url"] = f"{path}?{urlencode({**run.request.url_query(), 'run': '1'})}"
    data["downloads"] = {fmt: f"/api/runs/{run.run_id}/result.{fmt}" for fmt in DOWNLOADS}
    return data


@router.post("/queries/{name}/runs", status_code=202, summary="Run a saved query (operators)")
def start_run(name: str, request: Request, body: RunBody = Body(default_factory=RunBody),
              who: Identity = Depends(operator)) -> dict[str, Any]:
    from logpipe.state import audit

    console = console_of(request)
    query = _query(console, name)
    run_req, values = run_request(console, query, body.params, body.since, body.until, body.engine)
    existing = console.runs.get(run_req.run_id)
    run = console.runs.submit(run_req, query, values, who.name)
    if existing is None or existing is not run:
        audit.record(console.state, who.name, "run_query", f"query:{name}", run_id=run.run_id,
                     params=dict(run_req.params), since=iso(run_req.start), until=iso(run_req.end),
                     engine=run_req.engine)
    return run_view(run)


class SqlBody(BaseModel):
    sql: str = Field(max_length=100_000)
    since: str | None = None
    until: str | None = None
    engine: Literal["duckdb", "athena"] | None = None


@router.post("/sql/runs", status_code=202, summary="Run ad-hoc SQL over `logs` (operators; when enabled)")
def start_sql(request: Request, body: SqlBody, who: Identity = Depends(operator)) -> dict[str, Any]:
    from logpipe.queries.runner import adhoc_query
    from logpipe.state import audit

    console = console_of(request)
    if not console.adhoc_sql:
        raise HTTPException(403, "ad-hoc SQL is off: set [web] adhoc_sql = true to allow it")
    query = adhoc_query(body.sql)
    query = SavedQuery(name="adhoc", description=query.description, sql=query.sql, path=query.path, window="1h")
    run_req, values = run_request(console, query, {}, body.since, body.until, body.engine, sql=query.sql)
    run = console.runs.submit(run_req, query, values, who.name)
    audit.record(console.state, who.name, "run_sql", "query:adhoc", run_id=run.run_id, sql=query.sql[:2000],
                 since=iso(run_req.start), until=iso(run_req.end))
    return run_view(run)


def _run(console: Console, run_id: str) -> Run:
    run = console.runs.get(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id}: runs are kept in memory while the server runs; open the "
                                 "run's URL again to run it again")
    return run


@router.get("/runs/{run_id}", summary="A run's state and progress")
def get_run(run_id: str, request: Request) -> dict[str, Any]:
    return run_view(_run(console_of(request), run_id))


@router.post("/runs/{run_id}/cancel", summary="Cancel a run (operators)")
def cancel_run(run_id: str, request: Request, who: Identity = Depends(operator)) -> dict[str, Any]:
    from logpipe.state import audit

    console = console_of(request)
    run = _run(console, run_id)
    console.runs.cancel(run_id)
    audit.record(console.state, who.name, "cancel_query", f"query:{run.request.query}", run_id=run_id)
    return run_view(run)


def _finished_table(run: Run) -> Any:
    if run.state != "done" or run.table is None:
        raise HTTPException(409, f"run {run.run_id} is {run.state}" + (f": {run.error}" if run.error else ""))
    return run.table


@router.get("/runs/{run_id}/result", summary="A finished run's rows (typed JSON) and its chart")
def run_result(run_id: str, request: Request, offset: int = Query(0, ge=0),
               limit: int = Query(1000, ge=1, le=10_000)) -> dict[str, Any]:
    run = _run(console_of(request), run_id)
    table = _finished_table(run)
    return {**table_json(table, offset, limit), "rows_total": run.total_rows, "chart": chart_spec(table)}


def _download(table: Any, fmt: str, stem: str) -> Response:
    if fmt not in DOWNLOADS:
        raise HTTPException(404, f"no download format {fmt!r}: use {', '.join(DOWNLOADS)}")
    return Response(download(table, fmt), media_type=DOWNLOADS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'})


@router.get("/runs/{run_id}/result.{fmt}", summary="Download a finished run's rows (csv, json, parquet)")
def run_download(run_id: str, fmt: str, request: Request) -> Response:
    run = _run(console_of(request), run_id)
    stem = f"{run.request.query}-{run.request.start:%Y%m%dT%H%MZ}-{run.request.end:%Y%m%dT%H%MZ}"
    return _download(_finished_table(run), fmt, stem)


# -- kept results of scheduled runs --------------------------------------------------------------------


@router.get("/queries/{name}/results", summary="Kept results of a query's scheduled runs, by window")
def kept_results(name: str, request: Request, since: str | None = None, until: str | None = None
                 ) -> list[dict[str, Any]]:
    console = console_of(request)
    start, end = window_of(since, until, "30d") if since or until else (None, None)
    return [r.to_dict() for r in console.results().list(name, start, end)]


def _kept(console: Console, rid: str) -> Any:
    found = console.results().get(rid)
    if found is None:
        raise HTTPException(404, f"no kept result {rid} (results are kept for "
                                 f"{console.config.web.result_retention_days} days)")
    return found


@router.get("/results/{rid}.{fmt}", summary="Download a kept result (csv, json, parquet)")
def kept_download(rid: str, fmt: str, request: Request) -> Response:
    found = _kept(console_of(request), rid)
    return _download(found.table(), fmt, f"{found.query}-{found.window_start:%Y%m%dT%H%MZ}-{found.window_end:%Y%m%dT%H%MZ}")


@router.get("/results/{rid}", summary="A kept result: its rows (typed JSON) and chart")
def kept_result(rid: str, request: Request) -> dict[str, Any]:
    found = _kept(console_of(request), rid)
    table = found.table()
    # "rows" is the kept rows themselves (as in a run's result); "rows_total" what the query returned
    return {**found.to_dict(), **table_json(table), "rows_total": found.rows, "chart": chart_spec(table)}


# -- schema ----------------------------------------------------------------------------------------------


_SCHEMA: list[dict[str, str]] = []


@router.get("/schema", summary="The columns of the `logs` table")
def schema(request: Request) -> dict[str, Any]:
    if not _SCHEMA:
        from logpipe.engines.duckdb import DuckDBEngine
        from logpipe.store import Store

        config = console_of(request).config
        con = DuckDBEngine(config.engine, Store(config.store)).connect([])
        try:
            _SCHEMA.extend({"name": str(r[0]), "type": str(r[1])} for r in con.execute("DESCRIBE logs").fetchall())
        finally:
            con.close()
    return {"table": "logs", "columns": _SCHEMA}


# -- patterns --------------------------------------------------------------------------------------------


def _pattern_row(record: Any, counts: dict[datetime, int], hours: list[datetime], services: dict[str, int]
                 ) -> dict[str, Any]:
    return {"pattern_id": record.pattern_id, "template": redact(record.template), "status": record.status,
            "first_seen": iso(record.first_seen), "last_seen": iso(record.last_seen), "count": record.total,
            "services": services, "trend": [counts.get(h, 0) for h in hours],
            "trend_start": iso(hours[0]) if hours else None}


def pattern_level(template: str) -> str:
    text = template.upper()
    return "FATAL" if any(w in text for w in ("FATAL", "PANIC", "CRITICAL")) else "ERROR"


@router.get("/patterns", summary="Error patterns with counts and a 48-hour trend")
def list_patterns(request: Request, status: str | None = None, service: str | None = None,
                  limit: int = Query(200, ge=1, le=2000)) -> list[dict[str, Any]]:
    from sqlalchemy import func, select

    from logpipe.state.tables import pattern_counts

    console = console_of(request)
    store = console.patterns()
    records = store.list(status=status, service=service)[:limit]
    c = pattern_counts.c
    with console.state.connect() as conn:
        newest = conn.execute(select(func.max(c.hour_ms))).scalar()
    end = floor_hour(datetime.fromtimestamp((newest or 0) / 1000, UTC)) + timedelta(hours=1) if newest else \
        floor_hour(datetime.now(UTC)) + timedelta(hours=1)
    hours = [end - timedelta(hours=48 - i) for i in range(48)]
    ids = [r.pattern_id for r in records]
    per: dict[str, dict[datetime, int]] = {}
    services: dict[str, dict[str, int]] = {}
    for (pid, svc, hour), n in store.counts(hours[0], end, ids).items():
        per.setdefault(pid, {})
        per[pid][hour] = per[pid].get(hour, 0) + n
        services.setdefault(pid, {})
        services[pid][svc] = services[pid].get(svc, 0) + n
    out = []
    for r in records:
        row = _pattern_row(r, per.get(r.pattern_id, {}), hours, services.get(r.pattern_id, {}))
        row["level"] = pattern_level(r.template)
        out.append(row)
    return out


def _pattern(console: Console, pattern_id: str) -> Any:
    record = console.patterns().get(pattern_id)
    if record is None:
        raise HTTPException(404, f"no pattern {pattern_id!r}")
    return record


def pattern_window(console: Console, record: Any) -> tuple[datetime, datetime]:
    """The hours the store counted the pattern in, up to the last 7 days of them."""
    hourly = console.patterns().hourly_counts(record.pattern_id)
    if not hourly:
        end = floor_hour(record.last_seen) + timedelta(hours=1)
        return end - timedelta(hours=24), end
    end = max(hourly) + timedelta(hours=1)
    start = max(min(hourly), end - timedelta(days=7))
    return start, end


@router.get("/patterns/{pattern_id}", summary="One pattern: examples (redacted), hourly counts, services, findings")
def get_pattern(pattern_id: str, request: Request) -> dict[str, Any]:
    from logpipe.detectors.history import list_findings
    from logpipe.state import audit

    console = console_of(request)
    record = _pattern(console, pattern_id)
    store = console.patterns()
    hourly = store.hourly_counts(record.pattern_id)
    start, end = pattern_window(console, record)
    return {"pattern_id": record.pattern_id, "template": redact(record.template), "status": record.status,
            "level": pattern_level(record.template), "aliases": record.aliases,
            "first_seen": iso(record.first_seen), "last_seen": iso(record.last_seen), "count": record.total,
            "services": store.services_of(record.pattern_id),
            "examples": [{"service": redact(e.service), "seen": iso(e.seen_at), "line": redact(e.line)}
                         for e in store.examples(record.pattern_id)],
            "hourly": {"x": [h.timestamp() for h in sorted(hourly)], "counts": [hourly[h] for h in sorted(hourly)]},
            "lines_window": {"since": iso(start), "until": iso(end)},
            "lines_url": f"/ui/patterns/{record.pattern_id}/lines",
            "findings": [f.to_dict() for f in list_findings(console.state, pattern_id=record.pattern_id, limit=50)],
            "history": [e.to_dict() for e in audit.entries(console.state, f"pattern:{record.pattern_id}", 20)]}


@router.get("/patterns/{pattern_id}/lines", summary="The saved query (and its parameters) returning exactly the pattern's lines")
def pattern_lines(pattern_id: str, request: Request, since: str | None = None, until: str | None = None
                  ) -> dict[str, Any]:
    from urllib.parse import urlencode

    from logpipe.detectors.lines import pattern_shapes

    console = console_of(request)
    record = _pattern(console, pattern_id)
    if since or until:
        start, end = window_of(since, until, "24h")
    else:
        start, end = pattern_window(console, record)
    found = pattern_shapes(console.config, record.pattern_id, start, end, console.patterns())
    counted = sum(console.patterns().hourly_counts(record.pattern_id, start, end).values())
    query = {**{f"p.{k}": v for k, v in found.params().items()}, "since": iso(start), "until": iso(end), "run": "1"}
    return {"pattern_id": record.pattern_id, "query": found.query, "params": found.params(),
            "since": iso(start), "until": iso(end), "line_ids": len(found.ids), "records": found.records,
            "counted_in_store": counted, "truncated": found.truncated, "services": found.services,
            "url": f"/ui/queries/{found.query}?{urlencode(query)}"}


@router.get("/patterns/{pattern_id}/release", summary="The release (task definition) the pattern first appeared in")
def pattern_release(pattern_id: str, request: Request) -> dict[str, Any]:
    from logpipe.detectors.lines import pattern_shapes
    from logpipe.queries.runner import run_query

    console = console_of(request)
    record = _pattern(console, pattern_id)
    hourly = console.patterns().hourly_counts(record.pattern_id)
    first_hour = min(hourly) if hourly else floor_hour(record.first_seen)
    start, end = first_hour, first_hour + timedelta(hours=1)
    found = pattern_shapes(console.config, record.pattern_id, start, end, console.patterns())
    if not found.ids:
        return {"pattern_id": record.pattern_id, "release": None, "first_line_at": None,
                "reason": "the first hour's lines are no longer in the store"}
    frame = run_query(console.config, found.query, start, end, {"patterns": found.ids, "limit": 1}).frame
    if frame.empty:
        return {"pattern_id": record.pattern_id, "release": None, "first_line_at": None, "reason": "no line found"}
    row = frame.iloc[0]
    return {"pattern_id": record.pattern_id, "release": row.get("ecs_task_definition") or None,
            "service": row.get("service"), "first_line_at": iso(row["ts"].to_pydatetime())}


class StatusBody(BaseModel):
    status: Literal["muted", "resolved", "known", "new"]
    note: str | None = Field(default=None, max_length=500)


@router.post("/patterns/{pattern_id}/status", summary="Mute, resolve or reopen a pattern (operators)")
def set_pattern_status(pattern_id: str, body: StatusBody, request: Request,
                       who: Identity = Depends(operator)) -> dict[str, Any]:
    from logpipe.state import audit

    console = console_of(request)
    before = _pattern(console, pattern_id)
    record = console.patterns().set_status(before.pattern_id, body.status)
    audit.record(console.state, who.name, f"set_status:{body.status}", f"pattern:{record.pattern_id}",
                 before=before.status, after=record.status, note=body.note)
    return {"pattern_id": record.pattern_id, "status": record.status, "by": who.name}


# -- findings and digests -------------------------------------------------------------------------------


@router.get("/findings", summary="Detector findings over time")
def findings(request: Request, since: str | None = None, until: str | None = None, service: str | None = None,
             limit: int = Query(500, ge=1, le=5000)) -> dict[str, Any]:
    from logpipe.detectors.history import findings_per_window, list_findings

    console = console_of(request)
    start, end = window_of(since, until, "30d") if (since or until) else (None, None)
    found = list_findings(console.state, start, end, service=service, limit=limit)
    per = findings_per_window(console.state, start, end, service)
    return {"findings": [f.to_dict() for f in found],
            "window": {"since": iso(start), "until": iso(end)} if start and end else None,
            "over_time": [{"window_end": iso(t), "severity": s, "count": n} for t, s, n in per]}


def _digest_rows(console: Console) -> list[Any]:
    from logpipe.digest.deliver import CHANNEL
    from logpipe.state.outbox import Outbox

    return list(reversed(Outbox(console.state, CHANNEL).sent()))


def _digest_view(row: Any, with_payload: bool) -> dict[str, Any]:
    import json as _json
    from urllib.parse import urlencode

    from logpipe.layout import from_ms

    out = {"digest": row.key, "destination": row.target, "kind": row.kind, "job": row.job,
           "window_start": iso(from_ms(row.window_start_ms)) if row.window_start_ms else None,
           "window_end": iso(from_ms(row.window_end_ms)) if row.window_end_ms else None,
           "sent": iso(from_ms(row.sent_ms)) if row.sent_ms else None, "attempts": row.attempts,
           "url": "/ui/digests/view?" + urlencode({"destination": row.target, "digest": row.key})}
    if with_payload:
        out["payload"] = _json.loads(row.payload)
    return out


@router.get("/digests", summary="Every digest sent, newest first")
def digests(request: Request) -> list[dict[str, Any]]:
    return [_digest_view(r, False) for r in _digest_rows(console_of(request))]


@router.get("/digests/sent", summary="One sent digest, exactly as it was sent (the rendered payload)")
def digest(request: Request, destination: str, digest: str) -> dict[str, Any]:
    for row in _digest_rows(console_of(request)):
        if row.target == destination and row.key == digest:
            return _digest_view(row, True)
    raise HTTPException(404, f"no digest {digest!r} sent to {destination!r}")


# -- dashboards ------------------------------------------------------------------------------------------


@router.get("/metrics", summary="Derived metric names (local history or CloudWatch)")
def metrics(request: Request) -> dict[str, Any]:
    from logpipe.web import dashboards

    console = console_of(request)
    return {"source": dashboards.source_of(console.config),
            "metrics": dashboards.metric_names(console.config, console.state)}


@router.get("/metrics/{name}", summary="A metric as time series per service")
def metric_series(name: str, request: Request, since: str | None = None, until: str | None = None,
                  service: str | None = None) -> dict[str, Any]:
    from logpipe.web import dashboards

    console = console_of(request)
    start, end = window_of(since, until, "7d")
    return dashboards.series(console.config, console.state, name, start, end, service)


@router.get("/alarms", summary="The alarms and their state")
def alarms(request: Request) -> list[dict[str, Any]]:
    from logpipe.web import dashboards

    console = console_of(request)
    return console.memo("alarms", 10, lambda: dashboards.alarms(console.config, console.state))


@router.get("/audit", summary="Who changed what (newest first)")
def audit_log(request: Request, target: str | None = None, limit: int = Query(100, ge=1, le=1000)
              ) -> list[dict[str, Any]]:
    from logpipe.state import audit

    return [e.to_dict() for e in audit.entries(console_of(request).state, target, limit)]


__all__ = ["operator", "router"]
