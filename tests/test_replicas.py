"""Active/standby replicas of ``logpipe serve`` on one state database (SQLite and PostgreSQL), as real
processes: one holds the lease and starts windows, the other stands by; ``kill -9`` of the leader and
the standby takes over within a lease period; no window is skipped and none is done twice. Also the
lease itself (compare-and-set takeover, release on a clean stop) and the service's own observability
(the JSON window lines, ``/metrics`` read by prometheus_client's own parser)."""

from __future__ import annotations

import itertools
import json
import signal
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_service import WEB_TOKEN, Proc, _env

from logpipe.state.db import open_state
from logpipe.state.watermarks import WatermarkStore

LEASE_SECONDS = 2.0
TICK = """-- name: tick
-- description: ERROR records per window (a job whose windows come every second, for the replica test).
-- schedule: every 1s
-- window: 2s
-- metric TickErrors: column=errors, unit=Count
SELECT count(*) AS errors
FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end
  AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
  AND ts >= :window_start AND ts < :window_end
  AND level = 'ERROR'
"""


def _config(tmp_path: Path, state_url: str) -> Path:
    qdir = tmp_path / "queries"
    qdir.mkdir()
    (qdir / "tick.sql").write_text(TICK)
    path = tmp_path / "logpipe.toml"
    path.write_text(f"""
[store]
root = "{tmp_path}/store"
cache_dir = "{tmp_path}/cache"
[state]
url = "{state_url}"
[queries]
dirs = ["{qdir}"]
include_shipped = false
[service]
lateness = "0s"
first_run_backfill = "0h"
detect_schedule = "0 0 1 1 *"
lease_seconds = {LEASE_SECONDS}
[digest]
schedule = "0 0 1 1 *"
""")
    return path


def _json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _completed(state_url: str, replica: str) -> int:
    return sum(1 for w in WatermarkStore(open_state(state_url)).windows("query:tick") if w.completed
               and _by(state_url, w) == replica)


def _by(state_url: str, window: Any) -> str | None:
    from sqlalchemy import select

    from logpipe.layout import to_ms
    from logpipe.state.tables import service_job_windows as t

    with open_state(state_url).connect() as conn:
        return conn.execute(select(t.c.completed_by).where(
            t.c.job == window.job, t.c.window_start_ms == to_ms(window.start))).scalar_one()


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.mark.slow  # two real processes for ~15 s
def test_kill_9_the_leader_and_the_standby_takes_over_without_skipping_or_redoing(
        tmp_path: Path, state_url: str) -> None:
    config = _config(tmp_path, state_url)
    env = _env(config, LOGPIPE_CONSOLE_TOKEN=WEB_TOKEN)
    a = Proc(["serve", "--port", "0"], env, tmp_path)
    b: Proc | None = None
    try:
        leader = json.loads(a.wait_for("holds the lease", timeout=60))["replica"]
        b = Proc(["serve", "--port", "0"], env, tmp_path)
        standby = json.loads(b.wait_for("stands by", timeout=60))["replica"]
        assert leader != standby
        _wait(lambda: _completed(state_url, leader) >= 3, 60, "the leader completes 3 windows")
        first = json.loads(next(line for line in a.seen if "holds the lease" in line))
        a.popen.send_signal(signal.SIGKILL)
        a.popen.wait(timeout=10)
        # The standby takes over (a wait, not a timing claim: benchmarks/failover.py measures how fast),
        # and only once the dead leader's lease had expired: never two leaders at once.
        took = json.loads(b.wait_for("holds the lease", timeout=60))
        assert took["replica"] == standby and took["previous_holder"] == leader
        assert took["token"] == first["token"] + 1
        assert took["acquired_ms"] > took["previous_expires_ms"]
        _wait(lambda: _completed(state_url, standby) >= 3, 60, "the standby completes 3 windows")
        # Its /metrics page (behind the console's token) as Prometheus reads it: it leads now.
        url = next(line for line in b.seen if "health on http://" in line).strip().rsplit(" ", 1)[-1]
        request = urllib.request.Request(url.replace("/healthz", "/metrics"),
                                         headers={"Authorization": f"Bearer {WEB_TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            page = response.read().decode()
        families = {f.name: f for f in text_string_to_metric_families(page)}
        assert families["logpipe_leader"].samples[0].value == 1
        assert any(s.labels.get("job") == "query:tick" and s.value >= 3
                   for s in families["logpipe_job_windows"].samples if s.name == "logpipe_job_windows_total")
        b.popen.send_signal(signal.SIGTERM)
        assert b.popen.wait(timeout=60) == 0
    finally:
        for proc in (a, b):
            if proc is not None and proc.popen.poll() is None:
                proc.popen.kill()

    windows = WatermarkStore(open_state(state_url)).windows("query:tick")
    # None skipped: the windows tile time from the first to the last; every one completed, once.
    assert all(w.start == prev.end for prev, w in itertools.pairwise(windows))
    assert all(w.completed for w in windows)
    by = [_by(state_url, w) for w in windows]
    assert set(by) == {leader, standby}
    switch = by.index(standby)
    assert by[:switch] == [leader] * switch and by[switch:] == [standby] * (len(by) - switch)
    # None done twice: only the window the leader died in was attempted again.
    assert sum(1 for w in windows if w.attempts > 1) <= 1
    # The JSON window lines say the same: each window completed by one replica, never both, and the
    # standby never redid (nor started) a window while the leader held the lease.
    lines_a = [x for x in _json_lines(a.stderr_text()) if x.get("event") == "window" and x["job"] == "query:tick"]
    lines_b = [x for x in _json_lines(b.stderr_text()) if x.get("event") == "window" and x["job"] == "query:tick"]
    done_a = {x["window_start"] for x in lines_a if x["outcome"] == "completed"}
    done_b = {x["window_start"] for x in lines_b if x["outcome"] == "completed"}
    assert done_a and done_b and not done_a & done_b
    assert all(x["outcome"] == "completed" for x in lines_b)
    for line in lines_a + lines_b:
        assert {"job", "window_start", "window_end", "duration_s", "rows", "bytes_scanned", "cost_usd",
                "outcome", "replica", "attempt", "time", "level"} <= set(line)
        assert line["rows"] == 1 and isinstance(line["bytes_scanned"], int)


def test_lease_is_taken_over_only_after_it_expires_and_handed_over_on_release(state_url: str) -> None:
    from logpipe.state.leases import Lease

    engine = open_state(state_url)
    now = [1000.0]
    one = Lease(engine, "scheduler", 10, holder="one", wall_clock=lambda: now[0], monotonic=lambda: now[0])
    two = Lease(engine, "scheduler", 10, holder="two", wall_clock=lambda: now[0], monotonic=lambda: now[0])
    assert one.acquire() and one.held() and one.token == 1
    assert not two.acquire() and not two.held()
    now[0] += 5
    assert one.acquire() and not two.acquire()  # renewed: still one's
    now[0] += 9  # one's renewal at 1005 lasts to 1015; by its own clock it stopped trusting it at 1013
    assert not one.held()
    assert not two.acquire()
    now[0] += 2  # 1016: expired
    assert two.acquire() and two.token == 2 and two.current().holder == "two"  # type: ignore[union-attr]
    assert two.previous is not None and two.previous.holder == "one" and two.previous.expires_ms == 1015_000
    assert not one.acquire() and not one.held()
    two.release()
    assert one.acquire() and one.token == 3  # no waiting for the expiry after a clean stop


def test_window_lines_and_prometheus_metrics(tmp_path: Path) -> None:
    """One JSON line per window with its fields, and /metrics that prometheus_client's parser reads."""
    import logging

    from logpipe.config import load_config
    from logpipe.service.observe import WINDOW_LOGGER, JsonFormatter
    from logpipe.service.scheduler import Service

    state = f"sqlite:///{tmp_path}/state.db"
    config = load_config(_config(tmp_path, state))
    service = Service(config)
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(JsonFormatter().format(record))

    handler = Keep()
    window_log = logging.getLogger(WINDOW_LOGGER)
    window_log.addHandler(handler)
    window_log.setLevel(logging.INFO)
    try:
        assert service.keep_lease()
        tick = next(j for j in service.jobs if j.name == "query:tick")
        report = service.run_job(tick)
        assert report is not None and report.windows and all(w.ok for w in report.windows)
    finally:
        window_log.removeHandler(handler)
        window_log.setLevel(logging.NOTSET)
    lines = [json.loads(r) for r in records]
    assert len(lines) == len(report.windows)
    assert lines[0]["outcome"] == "completed" and lines[0]["job"] == "query:tick" and lines[0]["rows"] == 1
    assert lines[0]["window_end"] > lines[0]["window_start"] and lines[0]["duration_s"] >= 0
    assert service.keep_lease()  # no renewal thread here (the service was not started): renew by hand
    families = {f.name: f for f in text_string_to_metric_families(service.prometheus().decode())}
    durations = [s for s in families["logpipe_job_window_duration_seconds"].samples
                 if s.name.endswith("_count") and s.labels == {"job": "query:tick", "outcome": "completed"}]
    assert durations and durations[0].value == len(report.windows)
    lag = [s for s in families["logpipe_watermark_lag_seconds"].samples if s.labels["job"] == "query:tick"]
    assert lag and 0 <= lag[0].value < timedelta(minutes=5).total_seconds()
    assert {s.labels["channel"] for s in families["logpipe_outbox_depth"].samples} == {"metrics", "digests"}
    assert families["logpipe_leader"].samples[0].value == 1
    assert "logpipe_job_failures" in families and "logpipe_bad_records" in families
