"""Exactly-once publishing to CloudWatch (moto server) through real faults, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from sqlalchemy import func, select

from logpipe.config import Config
from logpipe.layout import to_ms
from logpipe.metrics.model import DataPoint
from logpipe.sinks.publisher import Publisher
from logpipe.state.db import open_state
from logpipe.state.tables import outbox

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
NS = "LogpipeTest"


def _config(state_url: str, **metrics: Any) -> Config:
    settings = {"sinks": ["cloudwatch"], "namespace": NS, "readback_settle_seconds": 0}
    settings.update(metrics)
    return Config.model_validate({"metrics": settings, "state": {"url": state_url}, "aws": {"region": "us-east-1"}})


def _window(i: int, services: int = 4) -> tuple[datetime, datetime, list[DataPoint]]:
    start, end = T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1)
    points = [DataPoint("ErrorCount", end, value=10 * i + s + 1, dimensions={"service": f"svc{s}"})
              for s in range(services)]
    points.append(DataPoint("Latency", end, unit="Milliseconds", dimensions={"service": "svc0"},
                            values=[10.0 + i, 20.0, 30.0], counts=[1, 2, 3]))
    return start, end, points


def _read_back(endpoint: str, points: list[DataPoint]) -> dict[tuple[str, tuple, datetime], tuple[float, float]]:
    """(name, dims, timestamp) -> (Sum, SampleCount) straight from moto (not through the proxy)."""
    client = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")
    keys = sorted({(p.name, p.dimensions) for p in points})
    start = min(p.timestamp for p in points) - timedelta(hours=1)
    end = max(p.timestamp for p in points) + timedelta(hours=1)
    out: dict[tuple[str, tuple, datetime], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for stat_index, stat in enumerate(("Sum", "SampleCount")):
        queries = [{"Id": f"q{i}", "MetricStat": {
            "Metric": {"Namespace": NS, "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims]},
            "Period": 60, "Stat": stat}} for i, (name, dims) in enumerate(keys)]
        result = client.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
        for res in result["MetricDataResults"]:
            name, dims = keys[int(res["Id"][1:])]
            for ts, value in zip(res["Timestamps"], res["Values"], strict=True):
                out[(name, dims, ts.astimezone(UTC))][stat_index] += value
    return {k: (v[0], v[1]) for k, v in out.items()}


def _assert_exactly_once(endpoint: str, points: list[DataPoint]) -> None:
    seen = _read_back(endpoint, points)
    expected = {(p.name, p.dimensions, p.timestamp): (round(p.total, 6), p.sample_count) for p in points}
    assert {k: (round(s, 6), c) for k, (s, c) in seen.items()} == expected


def _ledger_rows(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(outbox).where(
            outbox.c.channel == "metrics", outbox.c.state == "sent")).scalar_one()


def test_publish_reads_back_and_second_publish_adds_nothing(aws: str, state_url: str) -> None:
    config = _config(state_url)
    publisher = Publisher.from_config(config)
    all_points = []
    for i in range(3):
        start, end, points = _window(i)
        all_points += points
        assert publisher.enqueue("errors", start, end, points) is True
    report = publisher.flush()
    assert report.complete and report.sinks["cloudwatch"].sent_points == len(all_points)
    _assert_exactly_once(aws, all_points)

    # The same windows again (another run of the job, a fresh process): nothing new is queued or sent.
    again = Publisher.from_config(config)
    for i in range(3):
        start, end, points = _window(i)
        assert again.enqueue("errors", start, end, points) is False
    report = again.flush()
    assert report.sinks["cloudwatch"].sent_batches == 0
    _assert_exactly_once(aws, all_points)
    assert _ledger_rows(open_state(state_url)) == 3


def test_batches_are_the_minimum_number_of_calls_within_limits(aws: str, tmp_path: Any) -> None:
    config = _config(f"sqlite:///{tmp_path}/s.db")
    publisher = Publisher.from_config(config)
    end = T0 + timedelta(hours=1)
    points = [DataPoint("PatternCount", end, value=i, dimensions={"service": f"s{i % 7}", "pattern_id": f"p{i}"})
              for i in range(2500)]
    publisher.enqueue("patterns", T0, end, points)
    report = publisher.flush()
    sink = publisher.sink("cloudwatch")
    assert report.complete
    assert sink.calls == 3  # ceil(2500 / 1000)
    assert len(sink.request_sizes) == 3 and max(sink.request_sizes) <= 1_000_000


def test_size_limit_splits_batches(aws: str, tmp_path: Any) -> None:
    # Long dimension values make 300 points far bigger than a (lowered) size limit.
    config = _config(f"sqlite:///{tmp_path}/s.db", max_request_bytes=20_000)
    publisher = Publisher.from_config(config)
    end = T0 + timedelta(hours=1)
    points = [DataPoint("PatternCount", end, value=1, dimensions={"pattern_id": f"{i:04d}" + "x" * 200})
              for i in range(300)]
    publisher.enqueue("patterns", T0, end, points)
    sink = publisher.sink("cloudwatch")
    planned = sink.plan(points)
    assert len(planned) > 1 and all(sink.request_size(b) <= 20_000 for b in planned)
    assert publisher.flush().complete
    assert sink.calls == len(planned)
    assert max(sink.request_sizes) <= 20_000
    _assert_exactly_once(aws, points)


def test_distributions_keep_counts_and_cap_distinct_values(aws: str, tmp_path: Any) -> None:
    config = _config(f"sqlite:///{tmp_path}/s.db")
    publisher = Publisher.from_config(config)
    end = T0 + timedelta(hours=1)
    point = DataPoint("Latency", end, unit="Milliseconds", dimensions={"service": "api"},
                      values=[float(v) for v in range(1000)], counts=[2.0] * 1000)
    publisher.enqueue("latency", T0, end, [point])
    assert publisher.flush().complete
    _assert_exactly_once(aws, [point])


@pytest.mark.slow
def test_thirty_percent_faults_nothing_lost_or_doubled(aws: str, fault_proxy: Any, state_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = fault_proxy(aws, failure_rate=0.3, modes=("throttle", "500", "cut", "cut_after", "delay"), seed=7)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", proxy.url)
    # Small batches so that there are many calls (and many faults) in a fast test.
    # botocore's two retry modes, one per state backend (keeps the suite short).
    mode = "adaptive" if state_url.startswith("postgresql") else "standard"
    config = _config(state_url, max_points_per_call=3, max_attempts=4, retry_mode=mode)
    all_points = []
    publisher = Publisher.from_config(config)
    for i in range(24):
        start, end, points = _window(i)
        all_points += points
        publisher.enqueue("errors", start, end, points)
    runs = 0
    while True:
        runs += 1
        report = Publisher.from_config(config).flush()  # a fresh process each run
        if report.complete or runs >= 15:
            break
    assert report.complete, report
    assert proxy.stats["cut_after"] > 0 and proxy.stats["throttle"] > 0 and proxy.stats["500"] > 0, proxy.stats
    _assert_exactly_once(aws, all_points)
    assert _ledger_rows(open_state(state_url)) == 24 * 2  # 5 points per window, 3 per call


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no code path handles it."""


def test_crash_after_the_call_before_the_ledger_does_not_double(aws: str, state_url: str) -> None:
    config = _config(state_url)
    start, end, points = _window(0)
    first = Publisher.from_config(config)
    first.enqueue("errors", start, end, points)

    def die(**_: Any) -> None:
        raise Crash()

    first.sink("cloudwatch").client.meta.events.register("after-call.cloudwatch.PutMetricData", die)
    with pytest.raises(Crash):
        first.flush()
    assert first.status()["cloudwatch"] == {"sending": 1}
    _assert_exactly_once(aws, points)  # the call did land

    report = Publisher.from_config(config).flush()
    assert report.sinks["cloudwatch"].resolved_landed == 1 and report.sinks["cloudwatch"].sent_batches == 0
    _assert_exactly_once(aws, points)
    engine = open_state(state_url)
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.sent_how).where(outbox.c.state == "sent")).scalars().all() == ["readback"]


def test_crash_before_the_request_left_resends(aws: str, state_url: str) -> None:
    config = _config(state_url)
    start, end, points = _window(0)
    first = Publisher.from_config(config)
    first.enqueue("errors", start, end, points)

    def die(**_: Any) -> None:
        raise Crash()

    first.sink("cloudwatch").client.meta.events.register("before-send.cloudwatch.PutMetricData", die)
    with pytest.raises(Crash):
        first.flush()
    report = Publisher.from_config(config).flush()
    assert report.sinks["cloudwatch"].resolved_resend == 1 and report.sinks["cloudwatch"].sent_batches == 1
    _assert_exactly_once(aws, points)


def test_in_doubt_batch_waits_for_the_settle_time(aws: str, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    config = _config(url, readback_settle_seconds=300)
    start, end, points = _window(0)
    now = [1_000_000.0]
    first = Publisher.from_config(config, clock=lambda: now[0])
    first.enqueue("errors", start, end, points)
    first.sink("cloudwatch").client.meta.events.register(
        "after-call.cloudwatch.PutMetricData", lambda **_: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        first.flush()
    later = Publisher.from_config(config, clock=lambda: now[0])
    report = later.flush()
    assert report.sinks["cloudwatch"].pending_batches == 1 and report.sinks["cloudwatch"].resolved_landed == 0
    now[0] += 301
    report = later.flush()
    assert report.complete and report.sinks["cloudwatch"].resolved_landed == 1
    _assert_exactly_once(aws, points)


def test_two_jobs_queueing_the_same_point_are_warned_about(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Two jobs emitting the same metric, dimensions and timestamp would be added up by the sinks:
    the second enqueue warns, naming both jobs - in the publisher that queued the first one and in a
    new publisher (another process) over the same state; a job's own points never clash with it."""
    config = Config.model_validate({"metrics": {"sinks": ["local"], "namespace": NS},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    engine = open_state(config.state.url)
    start, end, points = _window(0)
    first = Publisher(config.metrics, engine)
    assert first.enqueue("query:a", start, end, points)
    with caplog.at_level("WARNING", logger="logpipe.sinks.publisher"):
        assert first.enqueue("query:a", start + timedelta(minutes=1), end, points[:1])  # its own: no clash
        assert not [r for r in caplog.records if "same dimensions" in r.getMessage()]
        assert first.enqueue("query:b", start, end, points[:2])
        second = Publisher(config.metrics, engine)
        assert second.enqueue("query:c", start, end, points[1:2])
    warned = [r.getMessage() for r in caplog.records if "same dimensions" in r.getMessage()]
    assert len(warned) == 2
    assert "ErrorCount from job query:b" in warned[0] and "query:a" in warned[0]
    assert "ErrorCount from job query:c" in warned[1] and "query:a, query:b" in warned[1]


def test_window_ends_read_ahead_warn_as_if_read_at_the_first_window(tmp_path: Any,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """``expect_windows`` (a run cycle's read ahead of every window end it will queue) knows what the
    outbox held at those ends, in one read: a later window clashing with another process's points warns
    as the per-end read did; ends with nothing queued are known empty (no warning, no read per window);
    the publisher's own queuing after the read ahead is known to the check too."""
    config = Config.model_validate({"metrics": {"sinks": ["local"], "namespace": NS},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    engine = open_state(config.state.url)
    start, end, points = _window(0)
    start1, end1, points1 = _window(1)
    assert Publisher(config.metrics, engine).enqueue("query:a", start, end, points)  # another process
    reads: list[list[int]] = []
    later = Publisher(config.metrics, engine)
    real = later.outbox.payloads_by_end
    later.outbox.payloads_by_end = lambda target, ends: reads.append(list(ends)) or real(target, ends)  # type: ignore[method-assign]
    later.expect_windows([end, end1, end1])
    assert reads == [[int(end.timestamp() * 1000), int(end1.timestamp() * 1000)]]
    later.outbox.payloads = None  # type: ignore[assignment]  # no per-end read any more
    with caplog.at_level("WARNING", logger="logpipe.sinks.publisher"):
        assert later.enqueue("query:b", start1, end1, points1)  # nothing else at this end
        assert not [r for r in caplog.records if "same dimensions" in r.getMessage()]
        assert later.enqueue("query:b", start, end, points[:1])  # query:a's point, queued before the read
        assert later.enqueue("query:c", start1, end1, points1[:1])  # query:b's, queued after it
    warned = [r.getMessage() for r in caplog.records if "same dimensions" in r.getMessage()]
    assert len(warned) == 2
    assert "from job query:b" in warned[0] and "query:a" in warned[0]
    assert "from job query:c" in warned[1] and "query:b" in warned[1]
    later.expect_windows([end, end1])  # known ends are not read again
    assert len(reads) == 1


def test_a_flush_with_nothing_open_reads_the_outbox_once(tmp_path: Any) -> None:
    """A cycle flushes after each job: once everything is sent, a flush counts the open rows (none)
    and stops there; a row queued after that is sent by the next flush."""
    config = Config.model_validate({"metrics": {"sinks": ["local"], "namespace": NS},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    publisher = Publisher(config.metrics, open_state(config.state.url))
    start, end, points = _window(0)
    assert publisher.enqueue("query:a", start, end, points)
    assert publisher.flush().sent_points == len(points)
    real_rows = publisher.outbox.rows
    publisher.outbox.rows = None  # type: ignore[assignment]  # an empty flush reads no rows
    report = publisher.flush()
    assert report.complete and report.sent_points == 0 and report.sinks["local"].pending_batches == 0
    publisher.outbox.rows = real_rows  # type: ignore[method-assign]
    start1, end1, points1 = _window(1)
    assert publisher.enqueue("query:a", start1, end1, points1)
    again = publisher.flush()
    assert again.complete and again.sent_points == len(points1)


class _FlakySink:
    """An idempotent sink (the local sink's contract) whose sends fail on cue: what the chunked flush
    must survive without leaving a claimed batch behind."""

    name = "local"
    idempotent = True

    def __init__(self, fail_at: dict[int, BaseException]) -> None:
        self.fail_at = fail_at
        self.calls = 0
        self.sent: list[str] = []

    def plan(self, points: Any) -> list[list[Any]]:
        return [list(points)]

    def send(self, points: Any, batch_id: str) -> None:
        self.calls += 1
        failure = self.fail_at.get(self.calls)
        if failure is not None:
            raise failure
        self.sent.append(batch_id)

    def landed(self, points: Any, baseline: dict[str, float]) -> bool | None:
        return None


def test_a_chunk_of_claimed_batches_is_never_left_behind(tmp_path: Any) -> None:
    """An idempotent sink's batches are claimed and marked sent a chunk at a time. A send that fails
    mid-chunk (rejected, a missing credential, an unexpected error) leaves the batches sent so far
    sent, the untried ones pending, and only an unexpectedly failed one in doubt; the next flush
    sends every batch not sent, each once."""
    from logpipe.errors import DeliveryError
    from logpipe.sinks.base import SendRejected
    from logpipe.state.outbox import Outbox

    config = Config.model_validate({"metrics": {"sinks": ["local"], "namespace": NS},
                                    "state": {"url": f"sqlite:///{tmp_path}/state.db"}})
    engine = open_state(config.state.url)
    outbox = Outbox(engine, "metrics")
    queuer = Publisher(config.metrics, engine)
    for i in range(10):
        start, end, points = _window(i)
        assert queuer.enqueue("errors", start, end, points)

    no_key = _FlakySink({2: SendRejected("throttled"), 4: DeliveryError("no API key")})
    report = Publisher(config.metrics, engine, sinks={"local": no_key}).flush()
    assert report.sinks["local"].sent_batches == 2 and len(no_key.sent) == 2
    assert outbox.status()["local"] == {"sent": 2, "pending": 8}

    broken = _FlakySink({2: RuntimeError("boom")})
    with pytest.raises(RuntimeError):
        Publisher(config.metrics, engine, sinks={"local": broken}).flush()
    assert outbox.status()["local"] == {"sent": 3, "sending": 1, "pending": 6}  # the failed one: in doubt

    good = _FlakySink({})
    report = Publisher(config.metrics, engine, sinks={"local": good}).flush()
    assert report.complete and outbox.status()["local"] == {"sent": 10}
    delivered = no_key.sent + broken.sent + good.sent
    assert len(delivered) == 10 == len(set(delivered))


def test_points_queued_in_the_callers_transaction_go_with_it(state_url: str) -> None:
    """``enqueue_in`` queues on the caller's transaction (the run cycle's one commit per window): rolled
    back, nothing of the window stays and it can be queued again; committed, queuing it again adds
    nothing. The outbox counts the rows it really added, on SQLite and on PostgreSQL."""
    from logpipe.state.outbox import Outbox, OutboxItem

    config = Config.model_validate({"metrics": {"sinks": ["local"], "namespace": NS}, "state": {"url": state_url}})
    engine = open_state(state_url)
    publisher = Publisher(config.metrics, engine)
    start, end, points = _window(0)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), engine.begin() as conn:
        assert publisher.enqueue_in(conn, "query:a", start, end, points)
        raise Crash
    assert publisher.outbox.rows("local") == []
    with engine.begin() as conn:
        assert publisher.enqueue_in(conn, "query:a", start, end, points)
        assert not publisher.enqueue_in(conn, "query:a", start, end, points)  # seen in its own transaction
    assert not publisher.enqueue("query:a", start, end, points)
    [row] = publisher.outbox.rows("local")
    assert (row.job, row.size) == ("query:a", len(points))

    other = Outbox(engine, "test")
    item = OutboxItem(target="t", key="k", kind="k", job="j", payload="{}")
    with engine.begin() as conn:
        assert other.enqueue(conn, [item, OutboxItem(target="t", key="k2", kind="k", job="j", payload="{}")]) == 2
    with engine.begin() as conn:
        assert other.enqueue(conn, [item]) == 0
    # one batched statement: a row already there, a row repeated within the batch, two new ones
    changed = OutboxItem(target="t", key="k", kind="k", job="j", payload='{"changed": true}')
    batch = [changed, *(OutboxItem(target="t", key=k, kind="k", job="j", payload=k) for k in ("n1", "n2", "n1"))]
    with engine.begin() as conn:
        assert other.enqueue(conn, batch) == 2
    assert sorted((r.key, r.payload) for r in other.rows("t")) == [("k", "{}"), ("k2", "{}"), ("n1", "n1"), ("n2", "n2")]
    with engine.begin() as conn:
        assert other.enqueue(conn, []) == 0


def test_the_local_sink_takes_a_chunk_in_one_call_and_a_failed_chunk_is_resent_once(state_url: str) -> None:
    """An idempotent sink with ``send_many`` gets the claimed chunk in one call. A chunk whose call
    fails stays in doubt as a whole; the next flush resends it, and every point lands once."""
    from logpipe.sinks.local import LocalSink
    from logpipe.state.outbox import Outbox
    from logpipe.state.tables import metric_points

    config = Config.model_validate({"metrics": {"sinks": ["local"], "namespace": NS}, "state": {"url": state_url}})
    engine = open_state(state_url)
    queued = []
    for i in range(5):
        start, end, points = _window(i)
        assert Publisher(config.metrics, engine).enqueue("errors", start, end, points)
        queued += points

    class Failing(LocalSink):
        calls: list[int] = []

        def send_many(self, batches: Any) -> None:
            self.calls.append(len(batches))
            if len(self.calls) == 1:
                raise RuntimeError("disk full")
            super().send_many(batches)

    sink = Failing(engine, NS)
    with pytest.raises(RuntimeError):
        Publisher(config.metrics, engine, sinks={"local": sink}).flush()
    assert Outbox(engine, "metrics").status()["local"] == {"sending": 5}
    report = Publisher(config.metrics, engine, sinks={"local": sink}).flush()
    assert report.complete and report.sinks["local"].sent_points == len(queued)
    assert Failing.calls == [5, 5]  # one call per chunk, not one per batch
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(metric_points)).scalar_one() == len(queued)


def test_a_claim_before_a_send_that_cannot_be_repeated_is_synced_to_disk(tmp_path: Any) -> None:
    """SQLite runs with synchronous=NORMAL (a power loss may take back the last commits). A claim before
    a non-idempotent send (CloudWatch, a digest delivery) commits with synchronous=FULL, so the row is
    known to be in doubt after any crash; an idempotent sink's claims are not synced."""
    from sqlalchemy import event

    from logpipe.state.outbox import Outbox, OutboxItem

    engine = open_state(f"sqlite:///{tmp_path}/state.db")
    engine.dispose()  # new connections only: each traced from its checkout
    statements: list[str] = []
    event.listen(engine, "checkout", lambda dbapi_conn, *_: dbapi_conn.set_trace_callback(statements.append))
    box = Outbox(engine, "metrics")
    with engine.begin() as conn:
        box.enqueue(conn, [OutboxItem(target="t", key=f"k{i}", kind="k", job="j", payload="[]") for i in range(2)])
    first, second = box.rows("t")

    statements.clear()
    assert box.claim(first, durable=True)
    upper = [s.upper() for s in statements]
    full = upper.index("PRAGMA SYNCHRONOUS=FULL")
    update = next(i for i, s in enumerate(upper) if s.startswith("UPDATE OUTBOX"))
    commit = next(i for i, s in enumerate(upper) if s == "COMMIT" and i > update)
    assert full < update < commit < upper.index("PRAGMA SYNCHRONOUS=NORMAL")

    statements.clear()
    assert box.claim_many([second]) == [second]
    assert any(s.upper().startswith("UPDATE OUTBOX") for s in statements)
    assert not any("SYNCHRONOUS" in s.upper() for s in statements)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL again


def test_claims_and_marks_of_many_rows_are_compare_and_sets_in_a_few_statements(state_url: str) -> None:
    """``claim_many``/``mark_sent_many`` set each row only from the state it was read in (a row another
    process moved on is left alone and not returned), keep the order given, and take one UPDATE per
    target and expected state, not one per row (a round trip each on PostgreSQL)."""
    from sqlalchemy import event

    from logpipe.state.outbox import PENDING, SENDING, SENT, UNKNOWN, Outbox, OutboxItem

    engine = open_state(state_url)
    box = Outbox(engine, "many")
    items = [OutboxItem(target=t, key=f"{t}-{i}", kind="k", job="j", payload="[]") for t in ("a", "b") for i in range(30)]
    with engine.begin() as conn:
        assert box.enqueue(conn, items) == 60
    pending = box.rows(None, (PENDING,))
    assert len(pending) == 60
    other = box.claim(pending[5])  # another process got this one first
    assert other
    box.release(pending[7], "timed out", state=UNKNOWN)  # and this one is in doubt now
    updates: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        wanted = list(reversed(pending))  # any order: kept
        got = box.claim_many(wanted)
        assert got == [r for r in wanted if r.key not in {pending[5].key, pending[7].key}]
        assert len(updates) <= 4  # two targets, one expected state each (SQLite before 3.35: per row)
        updates.clear()
        assert box.mark_sent_many(got[:40], "send") == 40
        assert box.mark_sent_many(got[:40], "send") == 0  # no longer "sending": nothing marked again
        assert len(updates) <= 4
    finally:
        event.remove(engine, "before_cursor_execute", count)
    states = {r.key: (r.state, r.attempts) for r in box.rows(None, (PENDING, SENDING, UNKNOWN, SENT))}
    assert states[pending[5].key] == (SENDING, 1)  # claimed once, by the other process
    assert states[pending[7].key][0] == UNKNOWN
    assert sum(1 for s, _ in states.values() if s == SENT) == 40
    assert sum(1 for s, a in states.values() if s == SENDING and a == 1) == 58 - 40 + 1


def test_several_windows_queued_at_once_add_only_the_new_ones(state_url: str) -> None:
    """``enqueue_many_in`` (a window's points and its heartbeat in one commit): each window is new or
    not on its own; only the new ones' batches are queued, and the answer is in the order given."""
    config = Config.model_validate({"metrics": {"sinks": ["local"], "namespace": NS}, "state": {"url": state_url}})
    engine = open_state(state_url)
    publisher = Publisher(config.metrics, engine)
    start, end, points = _window(0)
    later_start, later_end, later_points = _window(1)
    with engine.begin() as conn:
        assert publisher.enqueue_in(conn, "query:a", start, end, points)
    with engine.begin() as conn:
        assert publisher.enqueue_many_in(conn, [("query:b", start, end, points), ("query:a", start, end, points),
                                                ("query:a", later_start, later_end, later_points)]) == [True, False, True]
    with engine.begin() as conn:
        assert publisher.enqueue_many_in(conn, []) == []
    rows = publisher.outbox.rows("local")
    assert sorted((r.job, r.window_start_ms) for r in rows) == sorted(
        [("query:a", to_ms(start)), ("query:b", to_ms(start)), ("query:a", to_ms(later_start))])
