"""The HTTP side of ``logpipe serve``: ``/healthz`` for the ECS/ALB health check, ``/status`` for people.

The standard library's ThreadingHTTPServer is enough: two read-only JSON endpoints, no framework to
keep patched. ``/healthz`` is 200 while the scheduler runs and no job is stuck, 503 otherwise (so
ECS replaces a task whose scheduler died or hangs); ``/status`` shows jobs, next and last runs,
watermarks and last errors - never configuration values, so no secret can leak through it.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Reporting(Protocol):
    """What the endpoints ask of the service (``logpipe.service.scheduler.Service`` is one)."""

    def health(self) -> tuple[bool, dict[str, Any]]: ...

    def status(self) -> dict[str, Any]: ...


def _handler(service: Reporting) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "logpipe"
        sys_version = ""

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, indent=2, default=str).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            try:
                if path == "/healthz":
                    ok, body = service.health()
                    self._send(200 if ok else 503, body)
                elif path == "/status":
                    self._send(200, service.status())
                else:
                    self._send(404, {"error": f"no such endpoint {path}: use /healthz or /status"})
            except Exception as exc:  # a broken status must not kill the server thread
                log.exception("error answering %s", path)
                self._send(500, {"error": type(exc).__name__})

        do_HEAD = do_GET

        def log_message(self, format: str, *args: Any) -> None:  # quiet: health checks every few seconds
            log.debug("%s - %s", self.address_string(), format % args)

    return Handler


class HealthServer:
    """Serves ``/healthz`` and ``/status`` for a Service in a background thread."""

    def __init__(self, service: Reporting, host: str = "0.0.0.0", port: int = 8080) -> None:
        self.httpd = ThreadingHTTPServer((host, port), _handler(service))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="logpipe-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
