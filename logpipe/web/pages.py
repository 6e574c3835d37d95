"""The console's pages under ``/ui``: server-rendered Jinja, with a little JavaScript (``static/console.js``)
for what must not wait for a reload - running a query with progress and cancel, sorting a table,
zooming a chart. Every page reads the same functions as the JSON API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from logpipe import __version__
from logpipe.web import api
from logpipe.web.auth import SESSION_COOKIE, session_value
from logpipe.web.context import window_of
from logpipe.web.runs import iso

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)

KEPT_SHOWN = 48  # kept results listed on a query's page (narrow the window to see older ones)
NAV = [("Queries", "/ui/queries"), ("SQL", "/ui/sql"), ("Patterns", "/ui/patterns"),
       ("Findings", "/ui/findings"), ("Digests", "/ui/digests"), ("Dashboards", "/ui/dashboards")]


def sparkline(values: list[int], width: int = 120, height: int = 24) -> str:
    """An inline SVG polyline of hourly counts (no script, no image request)."""
    if not values or max(values) == 0:
        return f'<svg class="spark" width="{width}" height="{height}"><line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}"/></svg>'
    top = max(values)
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 3):.1f}" for i, v in enumerate(values))
    return f'<svg class="spark" width="{width}" height="{height}"><polyline points="{points}"/></svg>'


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


TEMPLATES.env.filters["spark"] = sparkline
TEMPLATES.env.filters["bytes"] = human_bytes
TEMPLATES.env.filters["tojson_attr"] = lambda v: json.dumps(v)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    identity = getattr(request.state, "identity", None)
    console = request.app.state.console
    return TEMPLATES.TemplateResponse(request, template, {
        "nav": NAV, "who": identity, "version": __version__, "adhoc_sql": console.adhoc_sql,
        "local": console.local, "path": request.url.path, **context}, status_code=status_code)


def error_page(request: Request, code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=code, code=code, message=message)


# -- sign in -------------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/ui") and not target.startswith("//") else "/ui/"


def _signed_in(target: str, token: str, secure: bool) -> Response:
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True, samesite="strict", secure=secure,
                        path="/", max_age=12 * 3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None, token: str | None = None) -> Response:
    console = request.app.state.console
    if token:  # the link ``logpipe ui`` opens: sign in once, then drop the token from the address bar
        if console.auth.check_token(token):
            return _signed_in(next or "/ui/", token, request.url.scheme == "https")
        return render(request, "login.html", status_code=401, next=_safe_next(next), error="that token is not valid",
                      how=console.auth.describe())
    return render(request, "login.html", next=_safe_next(next), error=None, how=console.auth.describe())


@router.post("/login")
def login(request: Request, token: str = Form(...), next: str = Form("/ui/")) -> Response:
    console = request.app.state.console
    if not console.auth.check_token(token.strip()):
        return render(request, "login.html", status_code=401, next=_safe_next(next), error="that token is not valid",
                      how=console.auth.describe())
    return _signed_in(next, token.strip(), request.url.scheme == "https")


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- overview -----------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    from logpipe.detectors.history import list_findings

    console = request.app.state.console
    recent = list_findings(console.state, limit=8)
    return render(request, "home.html", findings=[f.to_dict() for f in recent],
                  queries=len(console.queries()), status=api.alarms(request))


# -- saved queries ----------------------------------------------------------------------------------------


@router.get("/queries")
def queries(request: Request) -> Response:
    return render(request, "queries.html", queries=api.list_queries(request))


@router.get("/queries/{name}")
def query_page(name: str, request: Request) -> Response:
    console = request.app.state.console
    info = api.get_query(name, request)
    given = {k[2:]: v for k, v in request.query_params.items() if k.startswith("p.")}
    since = request.query_params.get("since") or ""
    until = request.query_params.get("until") or ""
    kept_since = request.query_params.get("kept_since") or ""
    kept_until = request.query_params.get("kept_until") or ""
    kept_start, kept_end = window_of(kept_since, kept_until, "30d") if kept_since or kept_until else (None, None)
    kept = console.results().list(name, kept_start, kept_end, limit=KEPT_SHOWN + 1)
    engine = request.query_params.get("engine") or console.config.engine.kind
    if info["engines"] and engine not in info["engines"]:
        engine = info["engines"][0]  # an Athena-only query defaults to Athena
    return render(request, "query.html", q=info, given=given, since=since, until=until, engine=engine,
                  autorun=request.query_params.get("run") == "1", kept=[k.to_dict() for k in kept[:KEPT_SHOWN]],
                  kept_more=len(kept) > KEPT_SHOWN, kept_since=kept_since, kept_until=kept_until,
                  kept_total=console.results().counts().get(name, 0),
                  retention_days=console.config.web.result_retention_days)


@router.get("/results/{rid}")
def kept_result_page(rid: str, request: Request) -> Response:
    data = api.kept_result(rid, request)
    window = {"since": data["window_start"], "until": data["window_end"]}
    rerun = f"/ui/queries/{data['query']}?" + urlencode({**{f"p.{k}": v for k, v in data["params"].items()
                                                             if v is not None}, **window})
    return render(request, "result.html", r=data, rerun=rerun)


@router.get("/sql")
def sql_page(request: Request) -> Response:
    console = request.app.state.console
    if not console.adhoc_sql:
        raise HTTPException(403, "the ad-hoc SQL editor is off here: set [web] adhoc_sql = true to turn it on "
                                 "(logpipe ui has it on)")
    return render(request, "sql.html", schema=api.schema(request)["columns"],
                  sql=request.query_params.get("sql") or "SELECT service, level, count(*) AS records\nFROM logs\n"
                  "WHERE dt BETWEEN :dt_start AND :dt_end\n  AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end\n"
                  "  AND ts >= :window_start AND ts < :window_end\nGROUP BY 1, 2\nORDER BY 3 DESC",
                  since=request.query_params.get("since") or "", until=request.query_params.get("until") or "",
                  engine=request.query_params.get("engine") or console.config.engine.kind,
                  autorun=request.query_params.get("run") == "1")


# -- patterns ---------------------------------------------------------------------------------------------


@router.get("/patterns")
def patterns(request: Request, status: str | None = None, service: str | None = None) -> Response:
    rows = api.list_patterns(request, status=status or None, service=service or None, limit=500)
    return render(request, "patterns.html", patterns=rows, status=status or "", service=service or "")


@router.get("/patterns/{pattern_id}")
def pattern_page(pattern_id: str, request: Request) -> Response:
    return render(request, "pattern.html", p=api.get_pattern(pattern_id, request))


@router.get("/patterns/{pattern_id}/lines")
def pattern_lines(pattern_id: str, request: Request, since: str | None = None, until: str | None = None) -> Response:
    link = api.pattern_lines(pattern_id, request, since, until)
    if not link["params"]["patterns"]:
        return error_page(request, 404, f"pattern {pattern_id} has no lines between {link['since']} and "
                                        f"{link['until']} in the store any more")
    return RedirectResponse(link["url"] + "&" + urlencode({"expect": link["records"], "pattern": pattern_id}),
                            status_code=303)


@router.post("/patterns/{pattern_id}/status")
def pattern_status(pattern_id: str, request: Request, status: str = Form(...), note: str = Form("")) -> Response:
    who = api.operator(request)
    body = api.StatusBody(status=status, note=note or None)  # type: ignore[arg-type]
    api.set_pattern_status(pattern_id, body, request, who)
    return RedirectResponse(f"/ui/patterns/{pattern_id}", status_code=303)


# -- findings, digests, dashboards -------------------------------------------------------------------------


@router.get("/findings")
def findings(request: Request, since: str | None = None, until: str | None = None,
             service: str | None = None) -> Response:
    data = api.findings(request, since or None, until or None, service or None, 1000)
    return render(request, "findings.html", data=data, since=since or "", until=until or "", service=service or "")


@router.get("/digests")
def digests(request: Request) -> Response:
    return render(request, "digests.html", digests=api.digests(request))


@router.get("/digests/view")
def digest_view(request: Request, destination: str, digest: str) -> Response:
    data = api.digest(request, destination, digest)
    return render(request, "digest.html", d=data, shown=_digest_as_sent(data))


def _digest_as_sent(data: dict[str, Any]) -> dict[str, Any]:
    """What to show of a sent payload: HTML in a sandboxed frame, text as text, Slack blocks as JSON."""
    import base64
    import email

    payload = data["payload"]
    kind = data["kind"]
    if kind == "file":
        content = str(payload.get("content", ""))
        is_html = content.lstrip().lower().startswith(("<!doctype", "<html"))
        return {"html": content if is_html else None, "text": None if is_html else content,
                "note": f"written to {Path(str(payload.get('path', ''))).name}"}
    if kind == "ses":
        message = email.message_from_bytes(base64.b64decode(payload["raw"]))
        html = text = None
        for part in message.walk():
            body = part.get_payload(decode=True)
            if not isinstance(body, bytes):
                continue
            if part.get_content_type() == "text/html" and html is None:
                html = body.decode(part.get_content_charset() or "utf-8", "replace")
            elif part.get_content_type() == "text/plain" and text is None:
                text = body.decode(part.get_content_charset() or "utf-8", "replace")
        return {"html": html, "text": None if html else text,
                "note": f"email from {payload.get('sender')} to {', '.join(payload.get('recipients', []))}: "
                        f"{message.get('Subject', '')}"}
    if kind == "sns":
        return {"html": None, "text": payload.get("message", ""), "note": f"SNS: {payload.get('subject', '')}"}
    if kind == "slack":
        return {"html": None, "text": json.dumps(payload.get("message"), indent=2), "note": "Slack Block Kit message"}
    return {"html": None, "text": json.dumps(payload, indent=2), "note": kind}


@router.get("/dashboards")
def dashboards(request: Request) -> Response:
    console = request.app.state.console
    since = request.query_params.get("since") or ""
    until = request.query_params.get("until") or ""
    start, end = window_of(since or None, until or None, "7d")
    metrics = api.metrics(request)
    return render(request, "dashboards.html", metrics=metrics, alarms=api.alarms(request), since=since,
                  until=until, start=iso(start), end=iso(end), service=request.query_params.get("service") or "",
                  now=iso(datetime.now(UTC)), prefix=console.config.metrics.namespace)


__all__ = ["error_page", "router", "sparkline"]
