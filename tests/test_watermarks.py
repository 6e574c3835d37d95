"""Watermarks: due windows are aligned, complete, bounded; a failed window is retried, never skipped;
a catch-up after downtime processes every missed window exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logpipe.config import Config
from logpipe.service.jobs import JobRunner, JobSpec
from logpipe.state.db import open_state
from logpipe.state.watermarks import WatermarkStore, align, due_windows

H = timedelta(hours=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_first_run_takes_the_most_recent_complete_window() -> None:
    windows, left = due_windows(None, T0 + timedelta(hours=10, minutes=5), H, timedelta(minutes=10), 100)
    # 10:05 minus 10 min lateness = 09:55: the 09:00 window is not complete yet, 08:00 is.
    assert windows == [(T0 + 8 * H, T0 + 9 * H)] and left == 0


def test_catch_up_is_aligned_complete_and_bounded() -> None:
    windows, left = due_windows(T0 + 2 * H, T0 + timedelta(hours=10, minutes=30), H, timedelta(minutes=10), 5)
    assert windows == [(T0 + k * H, T0 + (k + 1) * H) for k in range(2, 7)]
    assert left == 3  # 07:00, 08:00, 09:00 wait for the next run: bounded, not skipped


def test_daily_windows_align_to_utc_days() -> None:
    assert align(T0 + timedelta(hours=13, minutes=7), timedelta(days=1)) == T0
    windows, _ = due_windows(T0 - timedelta(days=1), T0 + timedelta(days=1, hours=7), timedelta(days=1), H, 10)
    assert windows == [(T0 - timedelta(days=1), T0), (T0, T0 + timedelta(days=1))]


def test_compare_and_set_moves_a_watermark_once(state_url: str) -> None:
    store = WatermarkStore(open_state(state_url))
    store.ensure("job", H)
    assert store.start_window("job", T0, T0 + H) == 1
    assert store.start_window("job", T0, T0 + H) == 2  # a retry: its attempt counted
    assert [(w.start, w.attempts, w.completed) for w in store.windows("job")] == [(T0, 2, None)]
    assert store.complete("job", T0, T0 + H, None)
    assert not store.complete("job", T0, T0 + H, None)  # a second process that did the same window
    assert store.get("job").watermark == T0 + H  # type: ignore[union-attr]


def _config(tmp_path: Path, **service: object) -> Config:
    return Config.model_validate({
        "store": {"root": str(tmp_path / "store"), "cache_dir": str(tmp_path / "cache")},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "service": {"lateness": "10m", **service},
    })


class CountingRunner(JobRunner):
    """The real runner with the window's work replaced by a record of calls (and chosen failures)."""

    def __init__(self, config: Config, fail: set[datetime] | None = None) -> None:
        super().__init__(config)
        self.calls: list[datetime] = []
        self.fail = fail or set()

    def _process(self, job, start, end, pretended=None):  # type: ignore[no-untyped-def]
        self.calls.append(start)
        if start in self.fail:
            raise RuntimeError(f"engine down at {start:%H:%M}")
        return None


def test_a_first_run_processes_the_backfill_before_the_latest_window(tmp_path: Path) -> None:
    runner = CountingRunner(_config(tmp_path, first_run_backfill="6h"))
    runner.run(JobSpec("query:x", "query", "5 * * * *", H), T0 + timedelta(hours=9, minutes=15))
    assert runner.calls == [T0 + k * H for k in range(3, 9)]
    digest = CountingRunner(_config(tmp_path / "d", first_run_backfill="6h"))
    digest.run(JobSpec("digest", "digest", "5 * * * *", H), T0 + timedelta(hours=9, minutes=15))
    assert digest.calls == [T0 + 8 * H]  # a digest is a message: only the latest on a first run


def test_catch_up_after_downtime_and_retry_of_a_failed_window(tmp_path: Path) -> None:
    config = _config(tmp_path, max_catchup_windows=4, first_run_backfill="0h")
    job = JobSpec("query:x", "query", "5 * * * *", H)
    runner = CountingRunner(config)
    runner.run(job, T0 + timedelta(hours=3, minutes=15))
    assert runner.calls == [T0 + 2 * H]
    # Down from 03:15 to 12:20: 9 windows are due (03:00..11:00); 4 per run.
    runner.fail = {T0 + 5 * H}
    report = runner.run(job, T0 + timedelta(hours=12, minutes=20))
    assert [w.start for w in report.windows] == [T0 + 3 * H, T0 + 4 * H, T0 + 5 * H]
    assert not report.windows[-1].ok and "engine down at 05:00" in (report.windows[-1].error or "")
    assert report.failed and report.backlog == 6
    state = runner.watermarks.get(job.name)
    assert state is not None and state.watermark == T0 + 5 * H and "engine down" in (state.last_error or "")
    # The next digest lists it; JobFailures is queued for the metrics (exactly once for this attempt).
    assert [(w.job, w.start) for w in runner.watermarks.failures_since(T0)] == [("query:x", T0 + 5 * H)]
    assert any(r.job.startswith("query:x:failure:") for r in _metric_windows(runner))
    runner.fail = set()
    runner.calls.clear()
    while True:
        report = runner.run(job, T0 + timedelta(hours=12, minutes=20))
        if not report.windows:
            break
    assert runner.calls == [T0 + k * H for k in range(5, 12)]  # 05:00 retried, nothing skipped or repeated
    history = {w.start: w for w in runner.watermarks.windows(job.name)}
    assert sorted(history) == [T0 + k * H for k in range(2, 12)]
    assert history[T0 + 5 * H].attempts == 2 and all(w.completed for w in history.values())
    assert runner.watermarks.get(job.name).consecutive_failures == 0  # type: ignore[union-attr]
    assert runner.watermarks.failures_since(T0) == []


def _metric_windows(runner: JobRunner) -> list:  # type: ignore[type-arg]
    from sqlalchemy import select

    from logpipe.state.tables import metric_windows

    with runner.engine.connect() as conn:
        return list(conn.execute(select(metric_windows)).all())


@pytest.mark.parametrize("schedule", ["every 15m", "5 * * * *"])
def test_triggers(schedule: str) -> None:
    job = JobSpec("j", "query", schedule, H)
    assert job.trigger().get_next_fire_time(None, T0) is not None


def test_bad_schedule_is_a_usage_error() -> None:
    from logpipe.errors import UsageError

    with pytest.raises(UsageError, match="cron"):
        JobSpec("j", "query", "61 * * * *", H).trigger()


class ResultRunner(JobRunner):
    """The real runner whose query work is replaced by a fixed result: what the window produced (kept
    result, points, heartbeat) goes through the real commit with the watermark."""

    def _work(self, job, start, end, pretended=None):  # type: ignore[no-untyped-def]
        import pandas as pd
        import pyarrow as pa

        from logpipe.engines.base import QueryStats
        from logpipe.metrics.model import DataPoint
        from logpipe.queries.model import QueryResult

        assert job.query is not None
        table = pa.table({"service": ["api"], "errors": pa.array([3], pa.int64())})
        self._info.result = QueryResult(job.query, pd.DataFrame(), start, end, {}, QueryStats(engine="duckdb"), table)
        return [DataPoint("ErrorCount", end, value=3.0, dimensions=(("service", "api"),))]


def _window_rows(runner: JobRunner) -> dict[str, int]:
    from sqlalchemy import func, select

    from logpipe.state.tables import metric_windows, outbox, query_results

    with runner.engine.connect() as conn:
        return {"results": conn.execute(select(func.count()).select_from(query_results)).scalar_one(),
                "windows": conn.execute(select(func.count()).select_from(metric_windows)
                                        .where(~metric_windows.c.job.contains(":failure:"))).scalar_one(),
                "batches": conn.execute(select(func.count()).select_from(outbox)
                                        .where(~outbox.c.job.contains(":failure:"))).scalar_one()}


def test_a_windows_products_commit_with_its_watermark_or_not_at_all(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept result, the metric points and the heartbeat are written in the watermark's own
    transaction: a failure at its last write leaves none of them (the window is redone, once); a second
    process completing the same window adds nothing."""
    from logpipe.queries.model import SavedQuery
    from logpipe.sinks.publisher import Publisher

    config = _config(tmp_path, first_run_backfill="1h")
    query = SavedQuery(name="errors", description="d", sql="SELECT 1", path=tmp_path / "errors.sql", window="1h")
    job = JobSpec("query:errors", "query", "5 * * * *", H, query)
    now = T0 + timedelta(hours=1, minutes=15)
    runner = ResultRunner(config)
    real = Publisher.enqueue_many_in

    def crash_at_the_heartbeat(self, conn, windows):  # type: ignore[no-untyped-def]
        if any(job_name.endswith(":heartbeat") for job_name, *_ in windows):  # (queued with the points)
            raise RuntimeError("state database gone")
        return real(self, conn, windows)

    monkeypatch.setattr(Publisher, "enqueue_many_in", crash_at_the_heartbeat)
    [failed] = runner.run(job, now).windows
    assert not failed.ok and "state database gone" in (failed.error or "")
    assert _window_rows(runner) == {"results": 0, "windows": 0, "batches": 0}
    assert runner.watermarks.get(job.name).watermark is None  # type: ignore[union-attr]

    monkeypatch.setattr(Publisher, "enqueue_many_in", real)
    [done] = runner.run(job, now).windows
    assert done.ok and not done.skipped and done.attempt == 2
    # one kept result, the window's points and its heartbeat: one batch each for the local sink
    assert _window_rows(runner) == {"results": 1, "windows": 2, "batches": 2}
    assert runner.watermarks.get(job.name).watermark == T0 + H  # type: ignore[union-attr]

    # Another process that did the same window (it read the watermark before this one moved it): its
    # compare-and-set fails and its whole transaction rolls back.
    other = ResultRunner(config)
    outcome = other._window(job, T0, T0 + H, None)
    assert outcome.ok and outcome.skipped
    assert _window_rows(runner) == {"results": 1, "windows": 2, "batches": 2}
