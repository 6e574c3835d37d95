"""Serving a console in a test: the real app on the real server (uvicorn on a free loopback port)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from logpipe.config import Config


def start_console(config: Config, service: Any = None, local_token: str | None = None, adhoc_sql: bool = False,
                  host: str = "127.0.0.1") -> tuple[Any, Any]:
    """(server, console): ``server.url`` answers until ``server.close()``. With a ``local_token`` it is
    ``logpipe ui``'s console; without, ``logpipe serve``'s (``Console.served``: access and ad-hoc SQL
    from ``[web]``)."""
    from logpipe.web.app import create_app
    from logpipe.web.auth import Authenticator
    from logpipe.web.context import Console
    from logpipe.web.server import WebServer

    if local_token is None:
        console = Console.served(config, service)
        console.adhoc_sql = console.adhoc_sql or adhoc_sql
    else:
        console = Console(config, Authenticator(config.web, config.aws.region, local_token=local_token),
                          service=service, adhoc_sql=adhoc_sql, local=True)
    server = WebServer(create_app(console), host, 0, config.web).start()
    return server, console


def get_json(url: str, token: str | None = None, timeout: float = 10) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
