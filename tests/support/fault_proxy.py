"""A loopback HTTP proxy that throttles, fails and cuts a seeded share of requests.

Why: retries and exactly-once delivery can only be shown against real faults on the wire. The proxy
sits between botocore and moto (or any HTTP server) and, for a chosen share of requests, answers
like an overloaded AWS service would:

* ``throttle``  - a throttling error in the shape of the request's protocol (see ``_throttle``), which
  botocore's standard retry mode classifies as retryable;
* ``500``       - an ``InternalFailure`` (S3: ``InternalError``) with status 500;
* ``cut``       - the connection is closed before the request is forwarded: nothing happened upstream;
* ``cut_after`` - the request IS forwarded and processed upstream, then the connection is closed
  without an answer: the client sees a failure for work that was done (the case that makes
  naive retries count twice);
* ``delay``     - sleeps ``delay_seconds`` then forwards (slow, not failed).

Faults are drawn from ``random.Random(seed)``, so a single-threaded client sees the same sequence on
every run. ``stats`` counts requests, each fault and the forwarded ones.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("throttle", "500", "cut", "cut_after", "delay")
DEFAULT_MODES = ("throttle", "500", "cut", "delay")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length"}


# -- error bodies in each AWS protocol ---------------------------------------------------------------

def _cbor_text(text: str) -> bytes:
    data = text.encode("utf-8")
    return _cbor_head(3, len(data)) + data


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 256:
        return bytes([major << 5 | 24, length])
    return bytes([major << 5 | 25]) + length.to_bytes(2, "big")


def cbor_error(error_type: str, message: str) -> bytes:
    """``{"__type": ..., "message": ...}`` in CBOR (smithy rpc-v2-cbor), without a CBOR library."""
    return _cbor_head(5, 2) + _cbor_text("__type") + _cbor_text(error_type) + _cbor_text("message") + _cbor_text(message)


def protocol_of(headers: Any) -> str:
    """Which AWS protocol a botocore request speaks, from its headers.

    ``rpc-v2-cbor`` (CloudWatch on botocore >= 1.40), ``json`` (``X-Amz-Target``: Firehose, Athena,
    Glue, Secrets Manager...), ``query`` (form-encoded ``Action=``: SNS, SES v1, STS) or ``rest``
    (S3 and the REST-JSON services, told apart by the service in the signature).
    """
    content_type = (headers.get("Content-Type") or "").lower()
    if headers.get("smithy-protocol") == "rpc-v2-cbor" or "cbor" in content_type:
        return "rpc-v2-cbor"
    if headers.get("X-Amz-Target") or content_type.startswith("application/x-amz-json"):
        return "json"
    if content_type.startswith("application/x-www-form-urlencoded"):
        return "query"
    auth = headers.get("Authorization") or ""
    if "/s3/aws4_request" in auth or not auth:
        return "rest-xml"
    return "rest-json"


def error_response(protocol: str, kind: str, message: str, query_mode: bool = False
                   ) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an AWS error of ``kind`` (``throttle`` or ``500``) in a protocol.

    ``query_mode``: the request said ``x-amzn-query-mode: true`` (a former query service such as
    CloudWatch speaking JSON or CBOR); such services add ``x-amzn-query-error`` with the old code.
    """
    request_id = "fault-proxy-0000"
    headers = {"x-amzn-RequestId": request_id}
    if kind == "throttle":
        # Query-compatible services (CloudWatch, SNS) say "Throttling"; the JSON ones "ThrottlingException".
        status, query_code, json_type, sender = 400, "Throttling", "ThrottlingException", "Sender"
    else:
        status, query_code, json_type, sender = 500, "InternalFailure", "InternalFailure", "Receiver"
    if protocol == "rpc-v2-cbor":
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        if query_mode:
            headers["x-amzn-query-error"] = f"{query_code};{sender}"
        return status, headers, cbor_error(json_type, message)
    if protocol == "json":
        headers["Content-Type"] = "application/x-amz-json-1.1"
        if query_mode:
            headers["x-amzn-query-error"] = f"{query_code};{sender}"
        return status, headers, json.dumps({"__type": json_type, "message": message}).encode()
    if protocol == "rest-json":
        status = 429 if kind == "throttle" else 500
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": json_type})
        return status, headers, json.dumps({"message": message}).encode()
    if protocol == "rest-xml":
        # S3 throttles with 503 SlowDown and fails with InternalError.
        code, status = ("SlowDown", 503) if kind == "throttle" else ("InternalError", 500)
        headers.update({"Content-Type": "application/xml", "x-amz-request-id": request_id})
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{request_id}</RequestId></Error>")
        return status, headers, body.encode()
    headers["Content-Type"] = "text/xml"
    body = (f"<ErrorResponse><Error><Type>{sender}</Type><Code>{query_code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return status, headers, body.encode()


# -- the proxy ------------------------------------------------------------------------------------------

class FaultProxy:
    """A running proxy in front of ``upstream_url``; see the module docstring."""

    def __init__(self, upstream_url: str, failure_rate: float = 0.3, modes: Iterable[str] = DEFAULT_MODES,
                 seed: int = 1, delay_seconds: float = 0.2):
        parsed = urllib.parse.urlsplit(upstream_url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"the fault proxy forwards plain http:// only, not {upstream_url!r}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.delay_seconds = delay_seconds
        self.stats: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []  # (method, path, outcome) in arrival order
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: list[list[Any]] = []
        self.failure_rate = 0.0
        self.modes: tuple[str, ...] = ()
        self.set(failure_rate=failure_rate, modes=modes)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-proxy", daemon=True)
        self._thread.start()

    def set(self, failure_rate: float | None = None, modes: Iterable[str] | None = None) -> None:
        """Change the share of faulted requests and the kinds drawn from, between requests."""
        with self._lock:
            if failure_rate is not None:
                if not 0.0 <= failure_rate <= 1.0:
                    raise ValueError(f"failure_rate must be between 0 and 1, not {failure_rate}")
                self.failure_rate = failure_rate
            if modes is not None:
                modes = tuple(modes)
                unknown = set(modes) - set(MODES)
                if unknown or not modes:
                    raise ValueError(f"unknown fault modes {sorted(unknown)}; choose from {MODES}")
                self.modes = modes

    def fail_next(self, path_contains: str, times: int, mode: str = "500", method: str | None = None) -> None:
        """The next ``times`` requests whose path holds ``path_contains`` (and of ``method``, if given)
        get ``mode``, whatever the failure rate: a deterministic fault for one object or call."""
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; choose from {MODES}")
        with self._lock:
            self._rules.append([path_contains, method, times, mode])

    def _draw(self, method: str = "", path: str = "") -> str | None:
        with self._lock:
            self.stats["requests"] += 1
            for rule in self._rules:
                needle, wanted_method, left, mode = rule
                if left > 0 and needle in urllib.parse.unquote(path) and wanted_method in (None, method):
                    rule[2] -= 1
                    self.stats[mode] += 1
                    return str(mode)
            if self._random.random() < self.failure_rate:
                mode = self._random.choice(self.modes)
                self.stats[mode] += 1
                return mode
            return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The handler is built per proxy so that it can reach this object without globals.
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    headers["Content-Length"] = str(len(body))
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    return response.status, response.getheaders(), data
                finally:
                    conn.close()

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response_only(status)
                for key, value in headers:
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                if self.command == "HEAD":  # no body, but the size of the one a GET would return
                    length = next((v for k, v in headers if k.lower() == "content-length"), "0")
                else:
                    length = str(len(body))
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _cut(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _handle(self) -> None:
                body = self._body()
                mode = proxy._draw(self.command, self.path)
                outcome = mode or "forwarded"
                with proxy._lock:
                    proxy.log.append((self.command, self.path, outcome))
                if mode == "cut":
                    return self._cut()
                if mode in ("throttle", "500"):
                    status, headers, payload = error_response(
                        protocol_of(self.headers), mode,
                        "Rate exceeded" if mode == "throttle" else "injected internal failure",
                        query_mode=self.headers.get("x-amzn-query-mode") == "true")
                    return self._send(status, list(headers.items()), payload)
                if mode == "delay":
                    time.sleep(proxy.delay_seconds)
                status, headers_list, payload = self._forward(body)
                with proxy._lock:
                    proxy.stats["forwarded"] += 1
                if mode == "cut_after":
                    return self._cut()
                self._send(status, headers_list, payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

        return Handler
