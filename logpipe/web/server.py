"""The HTTP server of ``logpipe serve`` and ``logpipe ui``: uvicorn in a background thread, bounded.

Why uvicorn on asyncio rather than a thread per connection: an idle or slow client costs a few
kilobytes, not a thread, so 500 idle connections cannot starve ``/healthz``. What bounds it:

* ``max_connections``: a connection beyond it is closed at once (uvicorn answers 503 to requests
  beyond its ``limit_concurrency``, which is set to the same number);
* ``header_timeout_seconds``: a client must send a whole request head within it, or the connection
  is closed (uvicorn alone waits forever for a first request: a slowloris holds it open);
* ``keepalive_timeout_seconds``: an idle keep-alive connection is closed after it;
* ``backlog``: the listen queue the kernel keeps while the loop is busy (the old server had 5);
* ``worker_threads``: blocking handlers (state reads, secret look-ups) run in this many threads.

Client disconnects are quiet (no traceback per dropped connection); uvicorn's own access log is off
(its error log keeps only errors).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import threading
import time
from typing import Any

from logpipe.config import WebConfig
from logpipe.errors import UsageError

log = logging.getLogger(__name__)


def _http_protocol() -> type:
    """uvicorn's httptools protocol (C parser) when installed, else its pure-Python h11 one."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def _guarded_protocol(max_connections: int, header_timeout: float) -> type:
    """uvicorn's HTTP protocol with a connection cap and a deadline for each request head."""
    base: Any = _http_protocol()

    class GuardedProtocol(base):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.close()  # over the cap: refused at once, nothing held
                return
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            waiting_for_head = self.cycle is None or self.cycle.response_complete
            if waiting_for_head and self._head_timer is None:
                self._arm_head_timer()
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm_head_timer()  # a request is in: the app's own bounds apply now

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._disarm_head_timer()
            self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()

    return GuardedProtocol


def _raise_open_files_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` sockets (the soft limit is often 1024), within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit to %d: %s", target, exc)


def _quiet_uvicorn_logs() -> None:
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.CRITICAL + 1)
    access.propagate = False


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket, bound before the server starts (so port 0 has its number at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
                         "or --host") from None
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class WebServer:
    """An ASGI app served by uvicorn in a daemon thread: ``start()``, ``port``, ``close()``."""

    def __init__(self, app: Any, host: str, port: int, settings: WebConfig | None = None) -> None:
        import uvicorn

        settings = settings or WebConfig()
        _quiet_uvicorn_logs()
        _raise_open_files_limit(settings.max_connections + 256)
        self.host = host
        self.socket = listen(host, port, settings.backlog)
        self.config = uvicorn.Config(
            app, http=_guarded_protocol(settings.max_connections, settings.header_timeout_seconds),
            ws="none", lifespan="off", loop="asyncio", log_config=None, access_log=False,
            limit_concurrency=settings.max_connections, backlog=settings.backlog,
            timeout_keep_alive=int(max(1, settings.keepalive_timeout_seconds)),
            timeout_graceful_shutdown=5, server_header=False, h11_max_incomplete_event_size=64 * 1024)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, name="logpipe-http", daemon=True)
        self.worker_threads = settings.worker_threads
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() / close(); the thread must not die silently
            self.error = exc
            log.error("the HTTP server stopped: %s", exc)

    async def _serve(self) -> None:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = self.worker_threads
        await self.server.serve(sockets=[self.socket])

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise UsageError(f"the HTTP server did not start on {self.url}: {self.error or 'timed out'}")
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.socket.close()


__all__ = ["WebServer", "listen"]
