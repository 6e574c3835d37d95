"""The Datadog sink against a local HTTP server standing in for the Datadog API."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from logpipe.config import Config
from logpipe.errors import ConfigError
from logpipe.metrics.model import DataPoint
from logpipe.sinks.datadog import DatadogSink, read_api_key
from logpipe.sinks.publisher import Publisher

API_KEY = "dd0123456789abcdef0123456789abcd"
T = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


class FakeDatadog:
    """Records requests; answers 202 when the DD-API-KEY header matches, else 403 (``series``: the accepted)."""

    def __init__(self, key: str = API_KEY) -> None:
        self.key = key
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0  # answer 503 to the next N requests
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                body = gzip.decompress(raw) if encoding == "gzip" else zlib.decompress(raw) if encoding == "deflate" else raw
                request = {"path": self.path, "key": self.headers.get("DD-API-KEY"), "body": json.loads(body)}
                fake.requests.append(request)
                if fake.fail_next:
                    fake.fail_next -= 1
                    status, answer = 503, {"errors": ["unavailable"]}
                elif self.headers.get("DD-API-KEY") != fake.key:
                    status, answer = 403, {"errors": ["Forbidden"]}
                else:
                    status, answer = 202, {"errors": []}
                request["status"] = status
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def series(self) -> dict[tuple[str, tuple[str, ...]], list[float]]:
        out: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        for req in self.requests:
            if req["status"] != 202:
                continue
            for s in req["body"]["series"]:
                out.setdefault((s["metric"], tuple(s.get("tags", []))), []).extend(p["value"] for p in s["points"])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def datadog() -> Iterator[FakeDatadog]:
    fake = FakeDatadog()
    yield fake
    fake.close()


def _config(url: str, tmp_path: Any, **extra: Any) -> Config:
    metrics = {"sinks": ["datadog"], "datadog_url": url, "datadog_tags": ["env:test"], "max_attempts": 2, **extra}
    return Config.model_validate({"metrics": metrics, "state": {"url": f"sqlite:///{tmp_path}/s.db"},
                                  "aws": {"region": "us-east-1"}})


def _points() -> list[DataPoint]:
    return [DataPoint("ErrorCount", T, value=7, dimensions={"service": "api"}),
            DataPoint("Latency", T, unit="Milliseconds", dimensions={"service": "api"},
                      values=[10.0, 20.0, 1000.0], counts=[90, 9, 1])]


def test_submits_v2_gauges_with_the_key_header(datadog: FakeDatadog, tmp_path: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    publisher = Publisher.from_config(_config(datadog.url, tmp_path))
    publisher.enqueue("errors", T.replace(hour=5), T, _points())
    assert publisher.flush().complete
    assert datadog.requests[0]["path"] == "/api/v2/series"
    assert datadog.requests[0]["key"] == API_KEY
    series = datadog.series()
    assert series[("logpipe.ErrorCount", ("service:api", "env:test"))] == [7.0]
    assert series[("logpipe.Latency.p50", ("service:api", "env:test"))] == [10.0]
    assert series[("logpipe.Latency.p95", ("service:api", "env:test"))] == [20.0]
    assert series[("logpipe.Latency.max", ("service:api", "env:test"))] == [1000.0]
    assert series[("logpipe.Latency.count", ("service:api", "env:test"))] == [100.0]
    body = datadog.requests[0]["body"]["series"]
    assert all(s["type"] == 3 for s in body)  # gauge
    assert all(s["points"][0]["timestamp"] == int(T.timestamp()) for s in body)


def test_unavailable_then_retried_on_the_next_flush(datadog: FakeDatadog, tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    config = _config(datadog.url, tmp_path, max_attempts=1)
    publisher = Publisher.from_config(config)
    publisher.enqueue("errors", T.replace(hour=5), T, _points())
    datadog.fail_next = 1
    report = publisher.flush()
    assert report.sinks["datadog"].rejected >= 1
    assert report.complete  # the next round of the same flush got it through
    assert datadog.series()[("logpipe.ErrorCount", ("service:api", "env:test"))] == [7.0]


def test_the_key_never_appears_in_logs_errors_or_output(datadog: FakeDatadog, tmp_path: Any,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    datadog.key = "the-right-key"  # so every call with API_KEY fails with 403
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    caplog.set_level(logging.DEBUG)
    config = _config(datadog.url, tmp_path, flush_rounds=1)
    publisher = Publisher.from_config(config)
    publisher.enqueue("errors", T.replace(hour=5), T, _points())
    report = publisher.flush()
    assert not report.complete
    errors = report.sinks["datadog"].errors
    assert errors and "HTTP 403" in errors[0]
    sink = publisher.sink("datadog")
    with pytest.raises(Exception) as raised:
        sink.send(_points(), "b" * 40)
    # Connection failure too (nothing listening).
    down = DatadogSink(_config("http://127.0.0.1:9", tmp_path).metrics)
    with pytest.raises(Exception) as raised_down:
        down.send(_points(), "c" * 40)
    out, err = capsys.readouterr()
    texts = [r.getMessage() for r in caplog.records] + errors + [str(raised.value), repr(raised.value),
                                                                  str(raised_down.value), repr(sink), out, err]
    texts += [str(raised.value.__context__), str(raised_down.value.__context__)]  # even the hidden chain
    assert datadog.requests and all(API_KEY not in t for t in texts)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_key_from_secrets_manager(aws: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DD_API_KEY", raising=False)
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="logpipe/datadog", SecretString=json.dumps({"api_key": API_KEY}))
    config = _config("http://127.0.0.1:9", tmp_path, datadog_api_key_secret="logpipe/datadog")
    assert read_api_key(config.metrics, config.aws.region) == API_KEY
    missing = _config("http://127.0.0.1:9", tmp_path, datadog_api_key_secret="nope")
    with pytest.raises(ConfigError, match="ResourceNotFoundException"):
        read_api_key(missing.metrics, missing.aws.region)


def test_no_key_anywhere_is_an_actionable_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DD_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="DD_API_KEY"):
        read_api_key(_config("http://127.0.0.1:9", tmp_path).metrics)


def test_points_queue_without_a_key_and_wait_for_one(datadog: FakeDatadog, tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DD_API_KEY", raising=False)
    publisher = Publisher.from_config(_config(datadog.url, tmp_path))
    assert publisher.enqueue("errors", T.replace(hour=5), T, _points())
    report = publisher.flush()
    assert not report.complete and "DD_API_KEY" in report.sinks["datadog"].errors[0]
    assert publisher.status() == {"datadog": {"pending": 1}}
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    assert Publisher.from_config(_config(datadog.url, tmp_path)).flush().complete
    assert datadog.series()[("logpipe.ErrorCount", ("service:api", "env:test"))] == [7.0]
