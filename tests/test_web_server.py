"""The HTTP server of ``logpipe serve`` under hostile and busy clients, on loopback: bounded threads,
idle and slow clients cut off, a connection cap, quiet disconnects; authentication in front of
everything but ``/healthz``; ``/status`` without local paths. Figures (latencies under load) are
measured by ``benchmarks/http_server.py``, not asserted here."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import select
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.web import get_json, start_console

from logpipe.config import Config

VIEWER, OPERATOR = "viewer-token-abcdefghijklmnop", "operator-token-abcdefghijklmnop"


def _config(tmp_path: Path, **web: Any) -> Config:
    return Config.model_validate({"store": {"root": str(tmp_path / "store")},
                                  "state": {"url": f"sqlite:///{tmp_path}/state.db"}, "web": web})


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGPIPE_CONSOLE_TOKEN", VIEWER)
    monkeypatch.setenv("LOGPIPE_CONSOLE_OPERATOR_TOKEN", OPERATOR)


@pytest.fixture
def running(tmp_path: Path, tokens: None) -> Any:
    from logpipe.service.scheduler import Service

    def start(**web: Any) -> tuple[Any, Any]:
        config = _config(tmp_path, **web)
        service = Service(config, jobs=[])
        service.start(catch_up=False)
        server, _console = start_console(config, service)
        started.append((server, service))
        return server, service

    started: list[tuple[Any, Any]] = []
    yield start
    for server, service in started:
        server.close()
        service.stop(timeout=5)


def _healthz(port: int, timeout: float = 30) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_default_bind_is_loopback() -> None:
    assert Config().service.host == "127.0.0.1"


def test_healthz_is_open_and_everything_else_needs_a_token(running: Any) -> None:
    server, _ = running()
    assert get_json(server.url + "/healthz") == (200, {"status": "ok", "reasons": [], "running": [], "jobs": 0})
    for path in ("/status", "/api/queries", "/api/patterns", "/api/openapi.json"):
        code, body = get_json(server.url + path)
        assert code == 401 and "authentication required" in body["error"], path
        assert get_json(server.url + path, "not-the-token")[0] == 401
        assert get_json(server.url + path, VIEWER)[0] == 200, path
    # the console's pages send a browser to the login page instead
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/ui/patterns")
    response = conn.getresponse()
    assert response.status == 303 and response.getheader("Location").startswith("/ui/login?next=")


def test_a_viewer_reads_and_an_operator_changes_state_with_an_audit_entry(running: Any, tmp_path: Path) -> None:
    from logpipe.patterns.store import PatternStore, PatternUpdate
    from logpipe.state import audit
    from logpipe.state.db import open_state

    server, service = running()
    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    store = PatternStore(service.config.state.url)
    with store.transaction() as w:
        w.upsert_patterns([PatternUpdate("p1", "disk <*> full", t0, t0 + timedelta(minutes=5), 3)])

    def post(token: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/api/patterns/p1/status", json.dumps({"status": "muted", "note": "known issue"}),
                     {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    code, body = post(VIEWER)
    assert code == 403 and "read-only" in body["error"]
    assert store.get("p1").status == "new"
    assert post(OPERATOR) == (200, {"pattern_id": "p1", "status": "muted", "by": "operator token"})
    assert store.get("p1").status == "muted"
    [entry] = audit.entries(open_state(service.config.state.url), "pattern:p1")
    assert (entry.actor, entry.action, entry.detail["before"], entry.detail["note"]) == (
        "operator token", "set_status:muted", "new", "known issue")


def test_a_cross_site_form_cannot_use_the_session_cookie(running: Any) -> None:
    from logpipe.web.auth import SESSION_COOKIE, session_value

    server, _ = running()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/api/patterns/p1/status", json.dumps({"status": "muted"}),
                 {"Cookie": f"{SESSION_COOKIE}={session_value(OPERATOR)}", "Origin": "https://evil.example",
                  "Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 403 and b"cross-site" in response.read()


def test_status_shows_no_local_paths(running: Any) -> None:
    server, service = running()
    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    service.runner.watermarks.ensure("query:x", timedelta(hours=1))
    service.runner.watermarks.fail("query:x", t0, t0 + timedelta(hours=1),
                                   "cannot read /var/lib/logpipe/cache/logs/dt=2026-11-20/hour=10/obj-1.gz: EOF")
    service.jobs.append(type("Job", (), {"name": "query:x", "kind": "query", "schedule": "every 1h",
                                          "window": timedelta(hours=1)})())
    code, status = get_json(server.url + "/status", VIEWER)
    assert code == 200
    [job] = status["jobs"]
    assert job["last_error"] == "cannot read …/obj-1.gz: EOF"
    assert "/var/lib" not in json.dumps(status)


def test_idle_and_concurrent_clients_are_bounded_and_every_healthz_is_answered(running: Any) -> None:
    server, _ = running(header_timeout_seconds=2)
    threads_before = threading.active_count()
    idle = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        with ThreadPoolExecutor(max_workers=200) as pool:
            codes = list(pool.map(lambda _: _healthz(server.port), range(200)))
        assert codes == [200] * 200
        # a thread per connection would show here: 700 connections, a bounded pool of threads
        assert threading.active_count() - threads_before < 60
        # the idle clients never sent a request head: the server closes them after the head timeout
        deadline = time.monotonic() + 60
        closed = 0
        for sock in idle:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                closed += sock.recv(1) == b""
        assert closed == len(idle)
    finally:
        for sock in idle:
            sock.close()
    assert _healthz(server.port) == 200


def test_a_slow_client_dribbling_its_request_head_is_cut_off(running: Any) -> None:
    server, _ = running(header_timeout_seconds=1)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        cut = False
        for _ in range(60):  # one header line a second: the head never completes in time
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            sock.settimeout(1.0)
            try:
                if sock.recv(1) == b"":
                    cut = True
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:  # cut off with a reset rather than a close: cut all the same
                cut = True
                break
        assert cut
    finally:
        sock.close()


def test_connections_over_the_cap_are_closed_at_once(running: Any) -> None:
    server, _ = running(max_connections=16, header_timeout_seconds=30)
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(40)]
    try:
        # wait on all of them at once (the ones within the cap stay open: no per-socket time-out to sit out)
        closed: set[socket.socket] = set()
        deadline = time.monotonic() + 20
        while len(closed) < 40 - 16 and time.monotonic() < deadline:
            readable, _, _ = select.select([s for s in held if s not in closed], [], [], 0.5)
            for sock in readable:
                try:
                    if sock.recv(1) == b"":
                        closed.add(sock)
                except ConnectionResetError:
                    closed.add(sock)
        assert len(closed) >= 40 - 16
    finally:
        for sock in held:
            sock.close()
    assert _healthz(server.port) == 200


def test_client_disconnects_are_quiet(running: Any, caplog: pytest.LogCaptureFixture) -> None:
    server, _ = running()
    caplog.set_level(logging.DEBUG)
    for i in range(300):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" if i % 2 else b"GET /healthz HTTP/1.1\r\nHo"
        sock.sendall(request)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not close
        sock.close()
    assert _healthz(server.port) == 200
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []


def test_alb_oidc_identity_is_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ALB's signed identity, with its public key served over real HTTP on loopback."""
    import base64
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/kid-1"
            self.send_response(200 if ok else 404)
            self.end_headers()
            self.wfile.write(pem if ok else b"")

        def log_message(self, *args: Any) -> None:
            pass

    keys = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=keys.serve_forever, daemon=True).start()
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/console/abc"
    config = _config(tmp_path, auth="oidc", oidc_alb_arn=arn, operators=["ops@example.com"],
                     oidc_key_url=f"http://127.0.0.1:{keys.server_address[1]}/{{kid}}")
    server, _ = start_console(config)

    def token(email: str, signer: str = arn, exp: float = 300, padded: bool = True) -> str:
        text = jwt.encode({"sub": "u-" + email, "email": email, "exp": int(time.time() + exp)}, key,
                          algorithm="ES256", headers={"kid": "kid-1", "signer": signer})
        if padded:  # the ALB pads its base64 segments
            text = ".".join(p + "=" * (-len(p) % 4) for p in text.split("."))
        return text

    def whoami(headers: dict[str, str]) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/api/whoami", headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    try:
        code, body = whoami({"x-amzn-oidc-data": token("ann@example.com")})
        assert code == 200 and body["name"] == "ann@example.com" and body["role"] == "viewer"
        assert whoami({"x-amzn-oidc-data": token("ops@example.com")})[1]["role"] == "operator"
        assert whoami({})[0] == 401
        assert "another load balancer" in whoami({"x-amzn-oidc-data": token("a@x", signer=arn + "x")})[1]["error"]
        assert "expired" in whoami({"x-amzn-oidc-data": token("a@x", exp=-600)})[1]["error"]
        forged = token("a@x").split(".")
        forged[1] = base64.urlsafe_b64encode(b'{"email":"ops@example.com","exp":9999999999}').decode()
        assert whoami({"x-amzn-oidc-data": ".".join(forged)})[0] == 401
        assert get_json(server.url + "/healthz")[0] == 200
    finally:
        server.close()
        keys.shutdown()


def test_serve_without_the_web_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from logpipe.errors import MissingExtraError
    from logpipe.web import require_web

    monkeypatch.setitem(sys.modules, "fastapi", None)  # an import of it fails, as when not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'logpipe\[web\]'"):
        require_web("logpipe serve")


def test_served_consoles_have_no_adhoc_sql_unless_configured(running: Any) -> None:
    """``logpipe serve``'s console (Console.served): the SQL editor and its API are off by default."""
    server, _ = running()

    def post_sql(srv: Any) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("POST", "/api/sql/runs", json.dumps({"sql": "SELECT 1 AS one"}),
                     {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    code, body = post_sql(server)
    assert code == 403 and "[web] adhoc_sql = true" in body["error"]
    assert get_json(server.url + "/api/whoami", OPERATOR)[1]["adhoc_sql"] is False
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/ui/sql", headers={"Authorization": f"Bearer {OPERATOR}"})
    response = conn.getresponse()
    assert response.status == 403 and b"adhoc_sql" in response.read()
    allowed, _ = running(adhoc_sql=True)
    code, run = post_sql(allowed)
    assert code == 202 and run["query"] == "adhoc"


def test_web_disabled_serves_health_and_status_only(running: Any) -> None:
    server, _ = running(enabled=False)
    assert get_json(server.url + "/healthz")[0] == 200
    assert get_json(server.url + "/status", VIEWER)[0] == 200
    for path in ("/api/queries", "/api/openapi.json", "/ui/", "/ui/static/console.js", "/api/grafana"):
        assert get_json(server.url + path, VIEWER)[0] == 404, path


def test_the_token_can_come_from_secrets_manager(tmp_path: Path, boto_client: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``[web] token_secret``: the token is read from Secrets Manager (moto, real HTTP), never printed."""
    monkeypatch.delenv("LOGPIPE_CONSOLE_TOKEN", raising=False)
    monkeypatch.delenv("LOGPIPE_CONSOLE_OPERATOR_TOKEN", raising=False)
    token = "sm-token-abcdefghijklmnopqrstuv"
    boto_client("secretsmanager").create_secret(Name="logpipe/console-token", SecretString=json.dumps({"token": token}))
    server, _console = start_console(_config(tmp_path, token_secret="logpipe/console-token"))
    try:
        assert get_json(server.url + "/healthz")[0] == 200
        status, body = get_json(server.url + "/api/queries")
        assert status == 401 and token not in json.dumps(body)
        assert get_json(server.url + "/api/queries", "not-the-token-abcdefghijkl")[0] == 401
        assert get_json(server.url + "/api/queries", token)[0] == 200
    finally:
        server.close()
