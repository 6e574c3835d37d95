"""The ASGI app: ``/healthz`` (open), ``/status``, the JSON API under ``/api`` and the console under
``/ui``, with authentication in front of everything but ``OPEN_PATHS``.

Adding an endpoint (``/metrics`` for Prometheus, say): write an ``APIRouter`` and pass it in
``routers`` to ``create_app`` (or append it to ``EXTRA_ROUTERS`` at import time); if it must answer
without credentials, add its path to ``logpipe.web.auth.OPEN_PATHS``. Every request goes through
``AccessMiddleware``: ``request.state.identity`` holds the caller for routes and log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from logpipe import __version__
from logpipe.errors import LogpipeError, UsageError
from logpipe.web.auth import OPEN_PATHS, OPEN_PREFIXES, SESSION_COOKIE, AuthError, Identity
from logpipe.web.context import Console

log = logging.getLogger(__name__)

# The logpipe modules the console's handlers import on first use. Handlers run on the server's worker
# threads, several at once, and two threads importing modules that import one another can each reach
# the other's half-initialised ("cannot import name ... from partially initialized module": the race
# ``logpipe serve``'s job threads had, see ``logpipe.service.jobs.JOB_MODULES``). ``create_app`` imports
# them all on the calling thread, before the server starts a thread.
CONSOLE_MODULES = ("logpipe.aws", "logpipe.detectors.history", "logpipe.detectors.lines", "logpipe.digest.deliver",
                   "logpipe.engines", "logpipe.engines.duckdb", "logpipe.layout", "logpipe.metrics.dashboard",
                   "logpipe.metrics.history", "logpipe.metrics.names", "logpipe.patterns.store",
                   "logpipe.queries.catalog", "logpipe.queries.loader", "logpipe.queries.params",
                   "logpipe.queries.runner", "logpipe.queries.stored", "logpipe.queries.window",
                   "logpipe.service.health", "logpipe.service.jobs", "logpipe.state", "logpipe.state.audit",
                   "logpipe.state.db", "logpipe.state.outbox", "logpipe.state.tables", "logpipe.store",
                   "logpipe.web.api", "logpipe.web.dashboards", "logpipe.web.grafana", "logpipe.web.pages",
                   "logpipe.web.runs", "logpipe.web.tables")


def import_console_modules() -> None:
    """Import every module a console handler may import lazily (``CONSOLE_MODULES``), on this thread."""
    from logpipe.lazy import import_modules

    import_modules(CONSOLE_MODULES)


# Routers other modules add to every app (e.g. a Prometheus /metrics endpoint).
EXTRA_ROUTERS: list[Any] = []
STATIC_DIR = __import__("pathlib").Path(__file__).resolve().parent / "static"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Everything is served from the package: no CDN, no inline script from elsewhere. Digest HTML is
    # shown in a sandboxed iframe (srcdoc), which inherits this policy.
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self'"),
}


class AccessMiddleware:
    """Identifies the caller of every request except the open paths; refuses the rest with 401
    (JSON for the API, the login page for the console). A browser's state-changing request must come
    from the console's own origin (a cross-site form cannot use the session cookie)."""

    def __init__(self, app: Any, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import JSONResponse, RedirectResponse

        path = scope["path"]
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        headers = {k: v for k, v in request.headers.items()}
        try:
            who: Identity = await run_in_threadpool(self.console.auth.identify, headers, dict(request.cookies))
        except AuthError as exc:
            if path.startswith("/ui") and request.method == "GET":
                from urllib.parse import quote

                target = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
                response: Any = RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)
            else:
                response = JSONResponse({"error": str(exc)}, status_code=401,
                                        headers={"WWW-Authenticate": 'Bearer realm="logpipe"'})
            await response(scope, receive, send)
            return
        if request.method not in ("GET", "HEAD", "OPTIONS") and "authorization" not in headers:
            origin = headers.get("origin")
            site = headers.get("sec-fetch-site")
            host = headers.get("host", "")
            if (origin and origin.split("://", 1)[-1] != host) or site in ("cross-site", "same-site"):
                await JSONResponse({"error": "cross-site request refused"}, status_code=403)(scope, receive, send)
                return
        scope.setdefault("state", {})["identity"] = who
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response (a plain ASGI wrapper: no per-request task)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.headers if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(console: Console, routers: Iterable[Any] = ()) -> Any:
    """The FastAPI app for a console (the JSON API's OpenAPI document is ``/api/openapi.json``)."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from logpipe.web import api, grafana, pages

    import_console_modules()  # before any handler thread (see CONSOLE_MODULES)
    pages_on = console.config.web.enabled
    app = FastAPI(title="logpipe", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json" if pages_on else None,
                  description="The logpipe console's JSON API: saved queries and their runs, kept results, "
                              "error patterns, findings, digests, metrics and alarms.")
    app.state.console = console

    @app.get("/healthz", include_in_schema=True, tags=["service"], summary="Health for the ECS/ALB check")
    async def healthz() -> Any:
        # On the event loop, not in the worker pool: health is read from memory (keep it so), and the
        # answer must not wait behind slow handlers when the pool is busy.
        from logpipe.service.health import health_report

        if console.service is None:  # ``logpipe ui``: the console alone
            return {"status": "ok", "mode": "console"}
        ok, body = health_report(console.service)
        return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics of the service (text format 0.0.4)")
    def metrics() -> Any:
        from fastapi.responses import Response

        if console.service is None:
            raise HTTPException(status_code=404, detail="no service here: /metrics is served by `logpipe serve`")
        return Response(console.service.prometheus(), media_type="text/plain; version=0.0.4; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    @app.get("/status", tags=["service"], summary="Jobs, watermarks and last errors (no local paths)")
    def status() -> Any:
        from logpipe.service.health import status_report

        if console.service is None:
            return {"mode": "console", "jobs": []}
        return JSONResponse(status_report(console.service), headers={"Cache-Control": "no-store"})

    if pages_on:  # [web] enabled = false: /healthz and /status only
        @app.get("/", include_in_schema=False)
        def root() -> Any:
            return RedirectResponse("/ui/", status_code=307)

        app.include_router(api.router, tags=["api"])
        app.include_router(grafana.router, tags=["grafana"])
        app.include_router(pages.router)
        app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in [*EXTRA_ROUTERS, *routers]:
        app.include_router(router)

    @app.exception_handler(LogpipeError)
    async def logpipe_error(request: Request, exc: LogpipeError) -> Any:
        code = 400 if isinstance(exc, UsageError) else 500 if not isinstance(exc, LogpipeError) else 422
        if pages_on and request.url.path.startswith("/ui"):
            return pages.error_page(request, code, str(exc))
        return JSONResponse({"error": str(exc)}, status_code=code)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        if pages_on and request.url.path.startswith("/ui") and request.method == "GET":
            return pages.error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Any:
        log.exception("error answering %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)

    app.add_middleware(AccessMiddleware, console=console)
    app.add_middleware(SecurityHeaders)
    return app


__all__ = ["EXTRA_ROUTERS", "SESSION_COOKIE", "AccessMiddleware", "create_app"]
