"""``logpipe serve`` and ``logpipe run`` as real processes: /healthz within seconds, a clean stop on
SIGTERM, and crash safety - ``kill -9`` in the middle of a job, start again: the window is redone
once, no metric point (local and CloudWatch on moto) or digest (file and SNS) is sent twice, no
window is skipped."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.paused_logpipe import PAUSE_ENV
from support.service_config import write_service_config

from logpipe.config import load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)


class Proc:
    """A ``python -m logpipe`` child whose stderr lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, pause: str | None = None) -> None:
        """``pause``: seconds to pause after each window's work (tests/support/paused_logpipe.py)."""
        command = ["-m", "logpipe"]
        if pause is not None:
            env = {**env, PAUSE_ENV: pause}
            command = [str(Path(__file__).parent / "support" / "paused_logpipe.py")]
        self.popen = subprocess.Popen([sys.executable, *command, *args], cwd=cwd, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not seen in {timeout}s; stderr so far: {''.join(self.seen)[-3000:]}")

    def stderr_text(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


def _env(config_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "LOGPIPE_CONFIG": str(config_path)}
    env.update(extra)
    return env


WEB_TOKEN = "test-viewer-token-0123456789"


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow  # a real process: ~3-5 s
def test_serve_answers_healthz_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = write_service_config(tmp_path)
    began = time.monotonic()
    # Every job runs at start (catch-up) and pauses 2 s inside its window: SIGTERM arrives mid-job.
    proc = Proc(["serve", "--port", "0"], _env(config, LOGPIPE_CONSOLE_TOKEN=WEB_TOKEN), tmp_path, pause="2")
    try:
        line = proc.wait_for("health on http://", timeout=60)
        url = line.strip().rsplit(" ", 1)[-1].removesuffix("/healthz")
        assert url.startswith("http://127.0.0.1:")  # loopback unless configured
        code, body = _get(url + "/healthz")
        while code != 200 and time.monotonic() - began < 60:  # a wait, generous for a loaded machine
            time.sleep(0.1)
            code, body = _get(url + "/healthz")
        assert code == 200 and body["status"] == "ok", body
        assert _get(url + "/status")[0] == 401  # everything but /healthz needs a token
        code, status = _get(url + "/status", WEB_TOKEN)
        assert code == 200
        names = [j["name"] for j in status["jobs"]]
        assert names == ["query:errors_by_service", "detect", "digest"]
        assert all("next_run" in j and "watermark" in j and "last_error" in j for j in status["jobs"])
        assert "sqlite" not in json.dumps(status)  # no configuration values (the state URL could hold a password)
        assert _get(url + "/nope", WEB_TOKEN)[0] == 404
        proc.wait_for("pausing", timeout=60)
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=120) == 0
        # "cleanly": the running window finished within [service] stop_timeout_seconds (else the
        # service says it stopped with a job still running).
        assert "stopped cleanly" in proc.stderr_text()
        # The running windows were finished (checkpointed), not abandoned half-way.
        from logpipe.state.db import open_state
        from logpipe.state.watermarks import WatermarkStore

        windows = WatermarkStore(open_state(load_config(config).state.url)).windows()
        assert windows and all(w.completed for w in windows), [(w.job, w.start, w.completed, w.last_error) for w in windows if not w.completed]
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()


def test_healthz_is_503_for_a_stuck_job_or_a_stopped_scheduler(tmp_path: Path) -> None:
    from support.web import start_console

    from logpipe.service.scheduler import Running, Service

    config = load_config(write_service_config(tmp_path))
    config.service.stuck_after_seconds = 5
    service = Service(config)
    server, _console = start_console(config, service)
    url = server.url
    try:
        assert _get(url + "/healthz")[0] == 503  # not started
        service.start(catch_up=False)
        assert _get(url + "/healthz")[0] == 200
        service.running["detect"] = Running(T0, time.monotonic() - 60)
        code, body = _get(url + "/healthz")
        assert code == 503 and "detect" in body["reasons"][0]
        service.running.clear()
        assert service.stop(timeout=5)
        code, body = _get(url + "/healthz")
        assert code == 503 and "stopping" in body["reasons"][0]
    finally:
        server.close()


def _simulate(config_path: Path, hours: int) -> None:
    from logpipe.simulate import simulate
    from logpipe.store import Store

    simulate(Store(load_config(config_path).store), T0, T0 + hours * H, seed=5, rate=0.03)


def _run(config_path: Path, tmp_path: Path, now: datetime, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logpipe", "run", "--now", now.isoformat(), *args], cwd=tmp_path,
                          env=_env(config_path, **env), capture_output=True, text=True, timeout=120)


def _kill_during(config_path: Path, tmp_path: Path, now: datetime, *args: str, **env: str) -> str:
    """Start ``logpipe run`` pausing after each window's work, SIGKILL it while a window's work is done but nothing
    is queued yet; return its stderr."""
    proc = Proc(["run", "--now", now.isoformat(), *args], _env(config_path, **env), tmp_path, pause="60")
    try:
        proc.wait_for("pausing", timeout=60)
        proc.popen.send_signal(signal.SIGKILL)
        assert proc.popen.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
    return proc.stderr_text()


def _sqs_messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        out += [json.loads(m["Body"]) for m in got]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


@pytest.mark.slow  # four real processes over simulated data: ~15 s
def test_kill_9_mid_job_redoes_the_window_once_and_sends_nothing_twice(tmp_path: Path, boto_client: Any,
                                                                         aws: str) -> None:
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name="digests")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="digests")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    config_path = write_service_config(tmp_path, f"""
[[digest.destinations]]
kind = "file"
path = "{tmp_path}/digests/"
[[digest.destinations]]
kind = "sns"
topic_arn = "{topic}"
[metrics]
sinks = ["local", "cloudwatch"]
[aws]
region = "us-east-1"
""")
    _simulate(config_path, 5)
    env = {"AWS_ENDPOINT_URL": aws}
    first = _run(config_path, tmp_path, T0 + timedelta(hours=1, minutes=15), **env)
    assert first.returncode == 0, first.stderr
    # Killed in the query job's first window, then in the digest job's first window.
    _kill_during(config_path, tmp_path, T0 + timedelta(hours=4, minutes=15), **env)
    _kill_during(config_path, tmp_path, T0 + timedelta(hours=4, minutes=15), "--job", "digest", **env)
    final = _run(config_path, tmp_path, T0 + timedelta(hours=4, minutes=15), "--format", "json", **env)
    assert final.returncode == 0, final.stderr
    again = _run(config_path, tmp_path, T0 + timedelta(hours=4, minutes=15), "--format", "json", **env)
    assert all(not r["windows"] for r in json.loads(again.stdout))  # nothing left: nothing redone

    from logpipe.state.db import open_state
    from logpipe.state.watermarks import WatermarkStore

    config = load_config(config_path)
    engine = open_state(config.state.url)
    marks = WatermarkStore(engine)
    for job in ("query:errors_by_service", "detect", "digest"):
        windows = marks.windows(job)
        assert [w.start for w in windows] == [T0 + k * H for k in range(4)], job  # none skipped
        assert all(w.completed for w in windows), job
        assert marks.get(job).watermark == T0 + 4 * H  # type: ignore[union-attr]
    attempts = {(w.job, w.start): w.attempts for w in marks.windows()}
    assert attempts[("query:errors_by_service", T0 + H)] == 2  # killed once, redone once
    assert attempts[("digest", T0 + H)] == 2
    assert sum(attempts.values()) == 12 + 2

    # Metrics: every point once in the local sink and once in CloudWatch.
    from sqlalchemy import select

    from logpipe.state.tables import metric_points as local_metrics
    from logpipe.state.tables import outbox

    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.job, local_metrics.c.name, local_metrics.c.dims, local_metrics.c.ts_ms)
                            .join(outbox, (outbox.c.item_key == local_metrics.c.batch_id)
                                  & (outbox.c.channel == "metrics"))).all()
        assert conn.execute(select(local_metrics.c.id)).all().__len__() == len(rows)
    per_identity = Counter(rows)  # per producer (job), metric, dimensions and window end
    assert per_identity and max(per_identity.values()) == 1
    error_points = [r for r in rows if r.name == "ErrorCount"]
    cloudwatch = boto_client("cloudwatch")
    services = {json.loads(r.dims)[0][1] for r in error_points}
    for service in services:
        stats = cloudwatch.get_metric_statistics(
            Namespace="Logpipe", MetricName="ErrorCount", Dimensions=[{"Name": "service", "Value": service}],
            StartTime=T0, EndTime=T0 + 6 * H, Period=60, Statistics=["SampleCount"])["Datapoints"]
        local = [r for r in error_points if json.loads(r.dims)[0][1] == service]
        # One producer (the saved query errors_by_service) puts one point per service per window end.
        expected = Counter(r.ts_ms for r in local)
        got = Counter(int(d["Timestamp"].timestamp() * 1000) for d in stats for _ in range(int(d["SampleCount"])))
        assert got == expected, service

    # Digests: one file and one SNS message per window, the killed window included.
    files = sorted(p.name for p in (tmp_path / "digests").iterdir())
    assert len(files) == 4 and len(set(files)) == 4
    messages = _sqs_messages(sqs, queue_url)
    subjects = [m["Subject"] for m in messages]
    assert len(messages) == 4, subjects
    assert len({m["Message"].splitlines()[0] for m in messages}) == 4  # four different windows
    from logpipe.digest.deliver import ledger

    assert len(ledger(engine)) == 8


def test_readme_task_definition_is_valid_json_with_firelens_health_and_state() -> None:
    import re

    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("### Running the service on ECS"):]
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)]
    task = blocks[0]
    containers = {c["name"]: c for c in task["containerDefinitions"]}
    service = containers["logpipe"]
    # The service's stdout goes where EMF lines become metrics (CloudWatch Logs), not through FireLens
    # to S3, where `sinks = ["emf"]` would produce no metrics at all.
    assert service["logConfiguration"]["logDriver"] == "awslogs"
    assert not any(c.get("logConfiguration", {}).get("logDriver") == "awsfirelens" for c in containers.values())
    assert "/healthz" in " ".join(service["healthCheck"]["command"])
    assert any(s["name"] == "LOGPIPE_STATE_URL" and ":secretsmanager:" in s["valueFrom"] for s in service["secrets"])
    assert service["stopTimeout"] > load_config(environ={}).service.stop_timeout_seconds
    assert blocks[1]["volumes"][0]["efsVolumeConfiguration"]["transitEncryption"] == "ENABLED"
    # Every LOGPIPE_ variable in the example is a real config key.
    env = {e["name"]: e["value"] for e in service["environment"]}
    load_config(environ=env)


def test_the_scheduler_imports_every_module_a_window_imports_lazily() -> None:
    """``logpipe serve`` runs jobs on several threads; a module imported lazily by two of them at once
    can reach one half-initialised ("cannot import name ... from partially initialized module", a
    failed window). ``import_job_modules`` (called when a ``Service`` is made, before its threads and
    the HTTP server's start) must import every module that ``logpipe/service/jobs.py`` imports inside a
    function."""
    from support.lazy_imports import lazy_logpipe_imports, modules_loaded_by

    lazy = lazy_logpipe_imports([REPO_ROOT / "logpipe" / "service" / "jobs.py"])
    assert {"logpipe.detectors.run", "logpipe.digest.build", "logpipe.service.alerts"} <= lazy  # the walk works
    missing = lazy - modules_loaded_by("from logpipe.service.jobs import import_job_modules\nimport_job_modules()")
    assert not missing, f"import_job_modules does not import {sorted(missing)}: add them to JOB_MODULES"
