"""Digest delivery: SNS (read back through an SQS subscription), SES (moto's send statistics), a
local server standing in for Slack (fails first, retried with backoff, kept in the outbox, never
dropped), Datadog events, files; exactly once per (digest window, destination)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from logpipe.config import Config
from logpipe.digest.deliver import SNS_MESSAGE_MAX, Deliverer, deliver_now, ledger, short_text
from logpipe.digest.model import Digest, DigestFinding, ServiceErrors, TopPattern
from logpipe.digest.render_slack import validate_blocks
from logpipe.state.db import open_state

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SECRET_URL_PATH = "/services/T000/B000/s3cr3t-token"


def _digest(start: datetime = T0, big: bool = False) -> Digest:
    n = 400 if big else 2
    return Digest(
        title=f"error digest {start:%Y-%m-%d %H:%M}", window_start=start, window_end=start + timedelta(hours=1),
        generated_at=start + timedelta(hours=1), engine="duckdb",
        services=[ServiceErrors("checkout", 12, 4, 100)],
        findings=[DigestFinding("new_pattern", "critical", f"new error pattern {i}", "checkout", f"p{i}",
                                ["Failed to apply promotion " + "x" * 900], "logpipe query run top_error_messages")
                  for i in range(n)],
        top_patterns=[TopPattern("p0", "Failed to apply promotion <*>", ["checkout"], 12, 0, [1, 5, 6], ["sample"],
                                 "logpipe query run top_error_messages", chart_png=b"\x89PNG fake")])


def _config(tmp_path: Path, destinations: list[dict[str, Any]], **metrics: Any) -> Config:
    return Config.model_validate({
        "store": {"root": str(tmp_path / "store")}, "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "digest": {"destinations": destinations, "delivery_attempts": 3, "delivery_backoff_seconds": 0.01},
        "metrics": metrics, "aws": {"region": "us-east-1"}})


class FlakyServer:
    """Answers 500 to the first ``failures`` POSTs, then 200; keeps the bodies it accepted."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.accepted: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests += 1
                if outer.requests <= outer.failures:
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"internal_error")
                    return
                outer.accepted.append((self.path, json.loads(body), dict(self.headers)))
                self.send_response(202 if "/api/" in self.path else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "ok"}' if "/api/" in self.path else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky() -> Any:
    servers: list[FlakyServer] = []

    def make(failures: int) -> FlakyServer:
        servers.append(FlakyServer(failures))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_sns_message_read_back_through_sqs(tmp_path: Path, boto_client: Any) -> None:
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name="digests")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    config = _config(tmp_path, [{"kind": "sns", "topic_arn": topic}])
    digest = _digest(big=True)
    report = deliver_now(config, digest)
    assert report.ok and len(report.sent) == 1
    assert deliver_now(config, digest).sent == []  # the ledger: not twice
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert len(body["Subject"]) <= 100 and "\n" not in body["Subject"]
    assert len(body["Message"].encode()) <= SNS_MESSAGE_MAX
    assert body["Message"].startswith("# error digest 2026-03-01 00:00")


def test_short_text_fits_by_dropping_samples_first() -> None:
    text = short_text(_digest(big=True), 20_000)
    assert len(text.encode()) <= 20_000 and "sample:" not in text


def test_ses_raw_email_with_inline_images(tmp_path: Path, boto_client: Any, aws: str) -> None:
    ses = boto_client("ses")
    ses.verify_email_identity(EmailAddress="digest@example.com")
    config = _config(tmp_path, [{"kind": "ses", "sender": "digest@example.com", "recipients": ["oncall@example.com"]}])
    report = deliver_now(config, _digest())
    assert report.ok, report.failed
    assert deliver_now(config, _digest()).sent == []  # once per window and destination
    import email
    import urllib.request

    with urllib.request.urlopen(f"{aws}/moto-api/data.json") as response:
        data = json.loads(response.read())
    raws = data["ses"]["RawMessage"]  # moto's record of every send_raw_email
    assert len(raws) == 1
    msg = email.message_from_string(raws[0]["raw_data"])
    types = [p.get_content_type() for p in msg.walk()]
    assert "multipart/related" in types and "image/png" in types and "text/html" in types


def test_ses_unverified_sender_fails_and_is_kept(tmp_path: Path, boto_client: Any) -> None:
    config = _config(tmp_path, [{"kind": "ses", "sender": "nobody@example.com", "recipients": ["a@example.com"],
                                 "name": "oncall-mail"}])
    report = deliver_now(config, _digest())
    assert "oncall-mail" in report.failed and "nobody@example.com" in report.failed["oncall-mail"]
    assert Deliverer(config, open_state(config.state.url)).status() == {"oncall-mail": {"pending": 1}}


def test_slack_retries_with_backoff_then_succeeds(tmp_path: Path, flaky: Any, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    server = flaky(2)
    monkeypatch.setenv("SLACK_URL", server.url + SECRET_URL_PATH)
    config = _config(tmp_path, [{"kind": "slack", "webhook_url_env": "SLACK_URL"}])
    sleeps: list[float] = []
    engine = open_state(config.state.url)
    from logpipe.digest.deliver import enqueue

    with engine.begin() as conn:
        enqueue(conn, _digest(), config.digest.destinations, "digest")
    report = Deliverer(config, engine, sleep=sleeps.append).flush()
    assert report.ok and server.requests == 3 and sleeps == [0.01, 0.02]
    path, payload, headers = server.accepted[0]
    assert path == SECRET_URL_PATH and headers["Content-Type"] == "application/json"
    assert validate_blocks(payload) == []
    assert "s3cr3t" not in caplog.text


def test_slack_failure_is_kept_reported_and_retried_next_run(tmp_path: Path, flaky: Any, cli: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    server = flaky(3)  # every attempt of the first run fails
    monkeypatch.setenv("SLACK_URL", server.url + SECRET_URL_PATH)
    config = _config(tmp_path, [{"kind": "slack", "webhook_url_env": "SLACK_URL", "name": "team-slack"},
                                {"kind": "file", "path": str(tmp_path / "out" / "digest-{start}.md")}])
    first = deliver_now(config, _digest())
    assert list(first.failed) == ["team-slack"] and "HTTP 500" in first.failed["team-slack"]
    assert "s3cr3t" not in first.failed["team-slack"] and "$SLACK_URL" in first.failed["team-slack"]
    assert (tmp_path / "out" / "digest-20260301T0000Z.md").exists()
    second = deliver_now(config, _digest())
    assert second.ok and second.sent == ["team-slack (digest:2026-03-01T00:00:00Z/2026-03-01T01:00:00Z)"]
    assert len(server.accepted) == 1
    assert len(ledger(open_state(config.state.url))) == 2


def test_digest_cli_send_exits_non_zero_naming_the_destination(tmp_path: Path, cli: Any) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(f"""
[store]
root = "{tmp_path}/store"
cache_dir = "{tmp_path}/cache"
[state]
url = "sqlite:///{tmp_path}/state.db"
[digest]
delivery_attempts = 1
[[digest.destinations]]
kind = "slack"
name = "team-slack"
webhook_url_env = "NOT_SET_ANYWHERE"
""")
    code, _, err = cli("--config", str(toml), "digest", "--since", "2026-03-01T00:00:00Z", "--until",
                       "2026-03-01T01:00:00Z", "--format", "md", "--output", str(tmp_path / "d.md"), "--send")
    assert code == 1
    assert "team-slack" in err and "NOT_SET_ANYWHERE is not set" in err and "kept in the outbox" in err


def test_datadog_event(tmp_path: Path, flaky: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = flaky(0)
    monkeypatch.setenv("DD_API_KEY", "dd-secret-key")
    config = _config(tmp_path, [{"kind": "datadog", "tags": ["team:payments"]}], datadog_url=server.url)
    report = deliver_now(config, _digest())
    assert report.ok, report.failed
    path, event, headers = server.accepted[0]
    assert path == "/api/v1/events" and headers["DD-API-KEY"] == "dd-secret-key"
    assert event["alert_type"] == "error" and "team:payments" in event["tags"] and len(event["text"]) <= 4000


def test_slack_webhook_from_secrets_manager(tmp_path: Path, flaky: Any, boto_client: Any) -> None:
    server = flaky(0)
    boto_client("secretsmanager").create_secret(Name="logpipe/slack",
                                                SecretString=json.dumps({"webhook_url": server.url + SECRET_URL_PATH}))
    config = _config(tmp_path, [{"kind": "slack", "webhook_url_secret": "logpipe/slack"}])
    report = deliver_now(config, _digest())
    assert report.ok, report.failed
    assert server.accepted[0][0] == SECRET_URL_PATH
    missing = _config(tmp_path / "other", [{"kind": "slack", "webhook_url_secret": "nope"}])
    failed = deliver_now(missing, _digest())
    assert "slack:nope" in failed.failed and "ResourceNotFoundException" in failed.failed["slack:nope"]


# ---- at-least-once, honestly: what a crash between the call and the ledger write does ----------------


def _crash_after_send(config: Config) -> None:
    """The state a crash leaves between a destination's answer and the ledger write: ``sending``."""
    engine = open_state(config.state.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox SET state = 'sending', sent_ms = NULL WHERE channel = 'digest'")


def test_sns_fifo_topic_drops_the_repeat_of_an_interrupted_delivery(tmp_path: Path, boto_client: Any) -> None:
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name="digests.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    queue_url = sqs.create_queue(QueueName="digests.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    config = _config(tmp_path, [{"kind": "sns", "topic_arn": topic}])
    assert deliver_now(config, _digest()).ok  # a FIFO topic needs MessageGroupId: it is given
    _crash_after_send(config)
    again = Deliverer(config, open_state(config.state.url)).flush()
    assert again.ok and again.resent_in_doubt == 1 and len(again.sent) == 1
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1  # SNS deduplicated the repeat (same MessageDeduplicationId)


def test_standard_sns_topic_repeat_says_resent(tmp_path: Path, boto_client: Any) -> None:
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name="digests-std")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="q-std")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    config = _config(tmp_path, [{"kind": "sns", "topic_arn": topic}])
    digest = _digest()
    assert deliver_now(config, digest).ok
    _crash_after_send(config)
    assert Deliverer(config, open_state(config.state.url)).flush().resent_in_doubt == 1
    bodies = [json.loads(m["Body"]) for m in
              sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]]
    subjects = sorted(b["Subject"] for b in bodies)
    assert len(bodies) == 2 and subjects[0].startswith("[logpipe") and subjects[1].startswith("[resent] ")
    assert all(digest.digest_id in b["Message"] for b in bodies)


class HangingWebhook:
    """A Slack stand-in whose first POST never gets an answer (the sender is killed meanwhile)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.first = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                if len(outer.bodies) == 1:
                    outer.first.set()
                    outer.release.wait(60)
                    return  # no answer: the connection just closes
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{SECRET_URL_PATH}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow  # a real process killed with SIGKILL mid-POST: ~5 s
def test_kill_9_while_the_slack_post_is_in_flight(tmp_path: Path, cli: Any) -> None:
    """What at-least-once means here: killed while Slack holds the request, the next run sends the
    digest again, marked "[resent]" and with the same digest id; the file destination is not doubled;
    a third run sends nothing."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    hook = HangingWebhook()
    toml = tmp_path / "c.toml"
    toml.write_text(f"""
[store]
root = "{tmp_path}/store"
cache_dir = "{tmp_path}/cache"
[state]
url = "sqlite:///{tmp_path}/state.db"
[digest]
delivery_attempts = 1
[[digest.destinations]]
kind = "file"
path = "{tmp_path}/out/"
format = "md"
[[digest.destinations]]
kind = "slack"
name = "team-slack"
webhook_url_env = "SLACK_URL"
""")
    window = ["--since", "2026-03-01T00:00:00Z", "--until", "2026-03-01T01:00:00Z", "--send"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SLACK_URL": hook.url}
    proc = subprocess.Popen([sys.executable, "-m", "logpipe", "--config", str(toml), "digest", *window],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert hook.first.wait(120), "the digest was never POSTed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
        files = list((tmp_path / "out").glob("*.md"))
        assert len(files) == 1  # the file destination went first and was recorded
        engine = open_state(f"sqlite:///{tmp_path}/state.db")
        states = dict(engine.connect().exec_driver_sql(
            "SELECT target, state FROM outbox WHERE channel = 'digest'").all())
        assert states == {"file:" + f"{tmp_path}/out/": "sent", "team-slack": "sending"}  # in doubt

        code, _out, err = cli("--config", str(toml), "digest", *window, env={"SLACK_URL": hook.url})
        assert code == 0, err
        assert len(hook.bodies) == 2  # delivered twice: the first copy may have been shown
        first, repeat = hook.bodies
        digest_id = first["text"].rsplit("(", 1)[1].rstrip(")")
        assert digest_id.startswith("d-") and digest_id in repeat["text"] and repeat["text"].startswith("[resent] ")
        assert "resent" in repeat["blocks"][0]["elements"][0]["text"]
        assert validate_blocks(repeat) == []
        assert list((tmp_path / "out").glob("*.md")) == files  # the file: never twice
        code, _out, err = cli("--config", str(toml), "digest", *window, env={"SLACK_URL": hook.url})
        assert code == 0 and len(hook.bodies) == 2  # recorded now: no third copy
        rows = {r["destination"]: r["attempts"] for r in ledger(engine)}
        assert rows == {"file:" + f"{tmp_path}/out/": 1, "team-slack": 2}
    finally:
        if proc.poll() is None:
            proc.kill()
        hook.close()
