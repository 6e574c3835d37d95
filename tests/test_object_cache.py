"""The service's object cache (logpipe.engines.object_cache) and ``logpipe run``'s window-major cycle
(JobRunner.run_cycle): the same answers as reading every object each time, each object read at most
twice in a cycle (loaded once, its bad lines counted once)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.configs import config_for
from support.records import SHIPPED, comparable_rows, rec

from logpipe.engines import object_cache
from logpipe.engines.compact import open_compactor
from logpipe.engines.object_cache import ObjectCache
from logpipe.layout import HOUR, to_ms
from logpipe.queries.runner import adhoc_query, run_query
from logpipe.store import gzip_lines

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)
LATE = timedelta(minutes=10)
MB = 1024 * 1024


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """How many times each object file is handed to a DuckDB scan (read_json, the bad-line scan)."""
    import logpipe.engines.bad_records as bad_records
    import logpipe.engines.raw_sql as raw_sql

    counted: Counter[str] = Counter()
    real = raw_sql.read_json_sql

    def read_json_sql(files: Any, filename: bool = False) -> str:
        counted.update(str(f) for f in files)
        return real(files, filename)

    for module in ("logpipe.engines.raw_sql", "logpipe.engines.duckdb", "logpipe.engines.bad_records",
                   "logpipe.engines.compact", "logpipe.engines.object_cache"):
        __import__(module)
        if hasattr(sys.modules[module], "read_json_sql"):
            monkeypatch.setattr(sys.modules[module], "read_json_sql", read_json_sql)
    scan = bad_records.BadRecordCounter._scan_all

    def scan_all(self: Any, files: Any, threads: int = 0, lateness_s: int = 600) -> Any:
        counted.update(str(f) for f in files)
        return scan(self, files, threads, lateness_s)

    monkeypatch.setattr(bad_records.BadRecordCounter, "_scan_all", scan_all)
    yield counted


@pytest.mark.slow
def test_every_shipped_query_answers_alike_with_and_without_the_cache(tmp_store) -> None:
    from logpipe.simulate import simulate

    store = tmp_store
    end = T0 + 4 * HOUR
    simulate(store, T0, end, seed=5, rate=0.1, bad_rate=0.02)
    # Late records (delivered into the next hour's partition) and bad lines of every kind beside them.
    store.write_object(store.layout.object_key(T0 + HOUR, seq=90), gzip_lines(
        [rec(T0 + HOUR - timedelta(milliseconds=1), "late-1"), b"not json", b"[1, 2]", b'{"other": 1}',
         rec(T0 + 2 * HOUR - timedelta(minutes=3), "late-2", level="WARN")]))
    store.write_object(store.layout.object_key(T0 + 2 * HOUR, seq=90), gzip_lines(
        [rec(T0 + 2 * HOUR - timedelta(seconds=2), "late-3"), rec(T0 + 2 * HOUR + timedelta(minutes=1), "b1")]))
    config = config_for(store)
    open_compactor(config).run(T0 + HOUR + LATE)  # hour 10 compacted: the boundary at 11:00
    cache = ObjectCache(64 * MB)
    trace = next(t for t in run_query(config, adhoc_query(
        "SELECT trace_id FROM logs WHERE dt BETWEEN :dt_start AND :dt_end AND trace_id IS NOT NULL LIMIT 1"),
        T0, end).frame["trace_id"])
    params: dict[str, dict[str, Any]] = {"trace_lines": {"id": trace}}
    windows = [(T0 + i * HOUR, T0 + (i + 1) * HOUR) for i in range(4)] + [(T0, end)]
    for number, (start, stop) in enumerate(windows):
        if number == 2:
            # An object the cache holds (hour 12, read past the end of the window 11:00-12:00) is
            # rewritten between windows: the next windows must see its new records, never the old ones.
            key = store.layout.object_key(T0 + 2 * HOUR, seq=90)
            store.write_object(key, gzip_lines([rec(T0 + 2 * HOUR + timedelta(minutes=2), "b1-rewritten"),
                                                rec(T0 + 2 * HOUR + timedelta(minutes=3), "b2"), b"{broken"]))
        shapes = run_query(config, "error_shapes", start, stop).frame
        if len(shapes):
            top = shapes.sort_values("records", ascending=False).iloc[0]
            params["pattern_lines"] = {"patterns": top["pattern_id"], "service": top["service"]}
        for name in SHIPPED:
            with object_cache.using(cache):  # first: it meets the new objects (checked, counted)
                cached = run_query(config, name, start, stop, params.get(name, {}))
            plain = run_query(config, name, start, stop, params.get(name, {}))
            assert cached.table.schema == plain.table.schema, name
            assert comparable_rows(cached.table, name) == comparable_rows(plain.table, name), (name, start)
            assert cached.stats.bad_records == plain.stats.bad_records, name
            assert cached.stats.misplaced_records == plain.stats.misplaced_records, name
    ids = adhoc_query("SELECT request_id FROM logs WHERE dt BETWEEN :dt_start AND :dt_end "
                      "AND ts >= :window_start AND ts < :window_end AND request_id IN ('b1', 'b1-rewritten', 'b2')")
    with object_cache.using(cache):
        seen = sorted(run_query(config, ids, T0, end).frame["request_id"])
    assert seen == ["b1-rewritten", "b2"]
    assert cache.stats.hits > cache.stats.loads > 0  # it served most reads, and read the rewritten object again
    assert 0 < cache.bytes <= 64 * MB


def test_a_window_that_would_not_fit_is_read_as_before(tmp_store) -> None:
    store = tmp_store
    for hour in range(4):
        store.write_object(store.layout.object_key(T0 + hour * HOUR, seq=1), gzip_lines(
            [rec(T0 + hour * HOUR + timedelta(seconds=s), f"r{hour}-{s}") for s in range(200)]))
    config = config_for(store, compact={"read": False})
    count = adhoc_query("SELECT count(*) AS n FROM logs WHERE dt BETWEEN :dt_start AND :dt_end "
                        "AND ts >= :window_start AND ts < :window_end")
    tiny = ObjectCache(1)  # nothing fits: every object is read by the query itself, nothing kept
    with object_cache.using(tiny):
        assert int(run_query(config, count, T0, T0 + 4 * HOUR).frame["n"][0]) == 800
    assert tiny.stats.loads == 0 and tiny.stats.skipped == 4 and len(tiny) == 0
    measure = ObjectCache(10**9)
    with object_cache.using(measure):
        assert int(run_query(config, count, T0, T0 + 4 * HOUR).frame["n"][0]) == 800
    assert measure.stats.loads == 4 and len(measure) == 4
    per_object = measure.bytes / 4
    measure.forget_before(to_ms(T0 + 2 * HOUR))  # what a run cycle does once no window reads hours 10, 11
    assert len(measure) == 2 and measure.bytes < measure.stats.peak_bytes
    # Room for about two objects and a half: each hourly window reads its hour and the next; the
    # least recently used go, the total stays under the bound, the answers stay the same.
    bounded = ObjectCache(int(per_object * 2.5), expansion=measure.expansion())
    with object_cache.using(bounded):
        for hour in range(4):
            start = T0 + hour * HOUR
            assert int(run_query(config, count, start, start + HOUR).frame["n"][0]) == 200
            assert bounded.bytes <= bounded.max_bytes
    assert bounded.stats.loads == 4 and bounded.stats.evictions == 2 and len(bounded) == 2
    assert bounded.stats.hits == 3  # hours 11, 12 and 13, read again by the window after


def test_a_run_cycle_reads_each_object_at_most_twice(tmp_store, reads: Counter[str]) -> None:
    from logpipe.service.jobs import JobRunner, build_jobs
    from logpipe.simulate import simulate

    store = tmp_store
    end = T0 + 6 * HOUR
    simulate(store, T0 - HOUR, end + HOUR, seed=3, rate=0.05, bad_rate=0.01)
    now = end + timedelta(minutes=30)
    config = config_for(store, compact={"enabled": False}, metrics={"sinks": ["local"]},
                        service={"first_run_backfill": "6h"})
    runner = JobRunner(config, clock=lambda: now)
    assert runner.objects is not None
    reports = runner.run_cycle(build_jobs(config), now)
    assert not [r.job for r in reports if r.failed], [r.to_dict() for r in reports if r.failed]
    assert sum(len(r.windows) for r in reports) > 30  # every hourly query, the 15-minute ones, detect
    objects = [k for k in reads if k.endswith(".gz")]
    assert objects and max(reads[k] for k in objects) <= 2, reads.most_common(3)
    # the hours no window reads any more were let go of as the cycle moved on
    assert 0 < len(runner.objects) < len(objects) and runner.objects.stats.evictions == 0
    # the same cycle job by job, without the cache, reads them many times (what the cache saves)
    reads.clear()
    other = config_for(store, compact={"enabled": False}, metrics={"sinks": ["local"]},
                       service={"first_run_backfill": "6h"}, engine={"cycle_cache_mb": 0},
                       state={"url": f"sqlite:///{store.config.cache_dir}/other.db"})
    plain = JobRunner(other, clock=lambda: now)
    assert plain.objects is None
    for job in build_jobs(other):
        plain.run(job, now)
    assert max(reads[k] for k in reads if k.endswith(".gz")) > 4


def test_run_cycle_goes_window_by_window_and_keeps_each_jobs_failure_its_own(tmp_store, monkeypatch) -> None:
    from logpipe.service.jobs import JobRunner, JobSpec

    config = config_for(tmp_store, metrics={"sinks": ["local"]}, service={"first_run_backfill": "3h"})
    now = T0 + 3 * HOUR + timedelta(minutes=30)
    runner = JobRunner(config, clock=lambda: now)
    seen: list[tuple[str, datetime]] = []

    def work(job: JobSpec, start: datetime, end: datetime, pretended: datetime | None = None) -> list[Any]:
        seen.append((job.name, end))
        if job.name == "b" and end == T0 + 2 * HOUR:
            raise RuntimeError("b fails at its second window")
        return []

    monkeypatch.setattr(runner, "_work", work)
    jobs = [JobSpec("digest", "digest", "0 * * * *", HOUR), JobSpec("a", "query", "0 * * * *", HOUR),
            JobSpec("b", "query", "0 * * * *", HOUR), JobSpec("d", "detect", "0 * * * *", HOUR),
            JobSpec("c", "compact", "0 * * * *", HOUR)]
    reports = runner.run_cycle(jobs, now)
    ends = [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    # compaction first (its one window of a first run), then by window end, kind, config order; b stops
    assert seen == [("c", ends[2]),
                    ("a", ends[0]), ("b", ends[0]), ("d", ends[0]),
                    ("a", ends[1]), ("b", ends[1]), ("d", ends[1]),
                    ("a", ends[2]), ("d", ends[2]), ("digest", ends[2])]
    by_job = {r.job: r for r in reports}
    assert [r.job for r in reports] == ["digest", "a", "b", "d", "c"]
    assert by_job["b"].failed and by_job["b"].backlog == 1 and len(by_job["b"].windows) == 2
    assert not by_job["a"].failed and len(by_job["a"].windows) == 3
    states = runner.watermarks.all()
    assert states["a"].watermark == ends[2] and states["b"].watermark == ends[0]
    assert states["b"].consecutive_failures == 1


def test_a_cycle_asks_the_state_database_once_per_object_and_checks_a_rewritten_one_again(tmp_store, monkeypatch
                                                                                          ) -> None:
    """The cycle's verdicts in memory (VerdictMemo): each object version's verdict is read from the state
    database once, later windows take it from memory with the same data quality; an object rewritten
    in the middle of the cycle is a new version, checked and counted again."""
    from logpipe.engines import bad_records
    from logpipe.store.verdicts import VerdictStore

    store = tmp_store
    for hour in range(4):
        store.write_object(store.layout.object_key(T0 + hour * HOUR, seq=1), gzip_lines(
            [rec(T0 + hour * HOUR + timedelta(minutes=m), f"r{hour}-{m}", level="ERROR") for m in range(5)]
            + [b"not json"] * (hour + 1)))
    config = config_for(store, compact={"read": False})
    asked: Counter[tuple[str, int, str]] = Counter()
    checked: list[str] = []
    lookup, check_file = VerdictStore.lookup, bad_records.check_file

    def spy_lookup(self: VerdictStore, keys: Any) -> Any:
        keys = list(keys)
        if object_cache.current() is not None:  # asked inside the cycle
            asked.update(keys)
        return lookup(self, keys)

    def spy_check(path: str) -> Any:
        checked.append(path)
        return check_file(path)

    monkeypatch.setattr(VerdictStore, "lookup", spy_lookup)
    monkeypatch.setattr(bad_records, "check_file", spy_check)
    run_query(config, "errors_by_service", T0, T0 + 4 * HOUR)  # every verdict in the state database
    cache = ObjectCache(64 * MB)
    asked.clear()
    checked.clear()

    def both(start: datetime, stop: datetime) -> None:
        for name in ("errors_by_service", "log_volume"):
            with object_cache.using(cache):
                cached = run_query(config, name, start, stop)
            plain = run_query(config, name, start, stop)  # no cycle: the state database every time
            assert cached.stats.quality.to_dict() == plain.stats.quality.to_dict(), (name, start)
            assert comparable_rows(cached.table, name) == comparable_rows(plain.table, name), (name, start)

    for hour in range(4):
        both(T0 + hour * HOUR, T0 + (hour + 1) * HOUR)
    # 2 queries per window, each reading its hour and the next (the last: only its own): 14 verdicts
    # wanted, 4 of them from the state database (each object once), the other 10 from memory
    assert len(asked) == 4 and max(asked.values()) == 1
    assert checked == [] and len(cache.verdicts) == 4 and cache.verdicts.hits == 14 - 4
    rewritten = store.layout.object_key(T0 + 2 * HOUR, seq=1)
    store.write_object(rewritten, gzip_lines([rec(T0 + 2 * HOUR + timedelta(minutes=1), "new", level="ERROR")]
                                             + [b"[1]"] * 7))
    with object_cache.using(cache):
        again = run_query(config, "errors_by_service", T0 + 2 * HOUR, T0 + 3 * HOUR)
    assert checked == [str(store.local_path(rewritten))]
    assert again.stats.bad_records == {"not_an_object": 7}
    assert len(cache.verdicts) == 5  # both versions: the old one is let go of with its hour
    cache.forget_before(to_ms(T0 + 3 * HOUR))
    assert len(cache.verdicts) == 1


def test_the_verdict_memo_gives_only_verdicts_scanned_with_the_lateness_asked() -> None:
    from logpipe.engines.object_cache import VerdictMemo
    from logpipe.store.integrity import ObjectCheck
    from logpipe.store.verdicts import ObjectVerdict

    clean = ObjectCheck(clean=True, members=1)
    scanned = ObjectVerdict("/s/a.gz", 1, "v", to_ms(T0), clean, {}, 0, 3, 600)
    unscanned = ObjectVerdict("/s/b.gz", 1, "v", to_ms(T0), clean)
    other = ObjectVerdict("/s/c.gz", 1, "v", to_ms(T0 + HOUR), clean, {}, 0, 3, 60)
    memo = VerdictMemo(max_entries=2)
    memo.keep([scanned, unscanned, other], 600)
    assert memo.get([scanned.key, unscanned.key, other.key], 600) == {scanned.key: scanned}
    assert memo.get([scanned.key], 60) == {}
    memo.keep([other], 60)
    assert memo.get([other.key], 60) == {other.key: other}
    memo.keep([ObjectVerdict("/s/d.gz", 1, "v", to_ms(T0), clean, {}, 0, 3, 600)], 600)
    assert len(memo) == 2 and memo.get([scanned.key], 600) == {}  # the least recently used went first


def test_the_listing_memo_makes_a_key_once_keeps_the_latest_and_empties_on_clear() -> None:
    memo = object_cache.ListingMemo(max_entries=2)
    made: list[str] = []

    def make(name: str) -> Any:
        return lambda: made.append(name) or [name]

    first = memo.get(("a",), make("a"))
    assert memo.get(("a",), make("a again")) is first and made == ["a"]  # held: the same snapshot
    assert memo.get(("b",), make("b")) == ["b"] and memo.get(("c",), make("c")) == ["c"]
    assert memo.get(("a",), make("a later")) == ["a later"]  # let go of (two kept), made again
    memo.clear()
    assert memo.get(("c",), make("c later")) == ["c later"] and memo.made == 5
    assert object_cache.listings() is None  # outside a cycle: every query lists its window
    with object_cache.sharing_listings(memo):
        assert object_cache.listings() is memo
    assert object_cache.listings() is None


def test_a_run_cycle_lists_each_window_once_for_all_its_queries(tmp_store, monkeypatch) -> None:
    """The query jobs, the detectors and the digest of one window read one listing of it, made when
    its first query runs (a window over another span lists its own); the answers - reports, kept
    results, metric points - are those of the same cycle with every query listing its window."""
    import sqlite3

    from logpipe.service.jobs import JobRunner, build_jobs
    from logpipe.simulate import simulate
    from logpipe.store.logs import Store

    store = tmp_store
    end = T0 + 3 * HOUR
    simulate(store, T0 - HOUR, end + HOUR, seed=5, rate=0.05, bad_rate=0.01)
    now = end + timedelta(minutes=30)
    listed: list[tuple[datetime, datetime]] = []
    real = Store.list_window

    def list_window(self: Store, start: datetime, until: datetime, **options: Any) -> Any:
        listed.append((start, until))
        return real(self, start, until, **options)

    monkeypatch.setattr(Store, "list_window", list_window)

    def cycle(name: str) -> tuple[list[Any], list[Any], dict[str, list[Any]]]:
        listed.clear()
        path = f"{store.config.cache_dir}/{name}.db"
        config = config_for(store, compact={"enabled": False}, metrics={"sinks": ["local"]},
                            service={"first_run_backfill": "3h"}, state={"url": f"sqlite:///{path}"})
        reports = JobRunner(config, clock=lambda: now).run_cycle(build_jobs(config), now)
        assert not [r.job for r in reports if r.failed], [r.to_dict() for r in reports if r.failed]
        with sqlite3.connect(path) as db:
            kept = {"results": db.execute("SELECT job, window_start_ms, window_end_ms, rows, columns, data FROM "
                                          "query_results ORDER BY 1, 2, 3").fetchall(),
                    "points": [(job, key, payload) for job, key, payload in db.execute(
                        "SELECT job, item_key, payload FROM outbox ORDER BY 1, 2") if not job.endswith(":heartbeat")]}
        return reports, list(listed), kept

    shared, lists, shared_kept = cycle("shared")
    windows = sum(len(r.windows) for r in shared if r.job.startswith(("query:", "detect")))
    assert len(lists) == len(set(lists)) < windows  # each span listed once, by the first query reading it
    monkeypatch.setattr(object_cache, "listings", lambda: None)  # every query lists its own window
    alone, alone_lists, alone_kept = cycle("alone")
    assert len(alone_lists) > len(lists) and set(alone_lists) == set(lists)

    def answers(reports: list[Any]) -> list[Any]:
        return [(r.job, [(w["start"], w["end"], w["ok"], w["data_quality"]) for w in r.to_dict()["windows"]])
                for r in reports]

    assert answers(shared) == answers(alone)
    assert shared_kept == alone_kept and shared_kept["results"] and shared_kept["points"]


def test_a_run_cycle_shares_listings_until_a_compaction_window_and_not_beyond_itself(tmp_store,
                                                                                      monkeypatch) -> None:
    """The cycle's memo is current for its windows only, and emptied after each compaction window
    (the watermarks and Parquet files a split names change there)."""
    from logpipe.service.jobs import JobRunner, JobSpec

    config = config_for(tmp_store, metrics={"sinks": ["local"]}, service={"first_run_backfill": "3h"})
    now = T0 + 3 * HOUR + timedelta(minutes=30)
    runner = JobRunner(config, clock=lambda: now)
    made: list[tuple[str, datetime]] = []

    def work(job: JobSpec, start: datetime, end: datetime, pretended: datetime | None = None) -> list[Any]:
        memo = object_cache.listings()
        assert memo is not None
        memo.get(("span", start, end), lambda: made.append((job.name, end)) or object())
        return []

    monkeypatch.setattr(runner, "_work", work)
    jobs = [JobSpec("a", "query", "0 * * * *", HOUR), JobSpec("b", "query", "0 * * * *", HOUR),
            JobSpec("c", "compact", "0 * * * *", HOUR)]
    reports = runner.run_cycle(jobs, now)
    assert not [r.job for r in reports if r.failed]
    ends = [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    # c (first) made its window's entry, emptied after it: a made its last window's again; b shared a's
    assert made == [("c", ends[2]), ("a", ends[0]), ("a", ends[1]), ("a", ends[2])]
    assert object_cache.listings() is None


def test_a_cycle_reads_a_windows_verdicts_once_for_its_jobs_until_this_process_writes_one(tmp_store,
                                                                                          monkeypatch) -> None:
    """The quality note of each job's window (``JobRunner.window_quality``): in a run cycle the
    verdicts of a window's hours are read once for all the jobs of that window, read again after this
    process wrote verdicts (the later job's note shows what was written), and outside a cycle every
    time."""
    from logpipe.service.jobs import JobRunner, JobSpec
    from logpipe.store import verdicts
    from logpipe.store.integrity import ObjectCheck

    config = config_for(tmp_store, metrics={"sinks": ["local"]}, service={"first_run_backfill": "2h"})
    now = T0 + 2 * HOUR + timedelta(minutes=30)
    runner = JobRunner(config, clock=lambda: now)
    reads: list[tuple[datetime, datetime]] = []
    real = verdicts.VerdictStore.in_hours
    monkeypatch.setattr(verdicts.VerdictStore, "in_hours",
                        lambda self, start, end: reads.append((start, end)) or real(self, start, end))
    runner.window_quality(T0, T0 + HOUR)
    runner.window_quality(T0, T0 + HOUR)
    assert len(reads) == 2  # outside a cycle: read each time
    reads.clear()
    bad = verdicts.ObjectVerdict("/s/logs/dt=2024-03-01/hour=11/x.gz", 10, "v1", to_ms(T0 + HOUR),
                                 ObjectCheck(clean=True), {"not_json": 2}, 0, 5, 600)

    def work(job: JobSpec, start: datetime, end: datetime, pretended: datetime | None = None) -> list[Any]:
        if job.name == "b" and start == T0 + HOUR:  # a's window read; b writes a verdict of its hour
            verdicts.VerdictStore(runner.engine).save([bad])
        return []

    monkeypatch.setattr(runner, "_work", work)
    jobs = [JobSpec("a", "query", "0 * * * *", HOUR), JobSpec("b", "query", "0 * * * *", HOUR),
            JobSpec("c", "query", "0 * * * *", HOUR)]
    reports = {r.job: r for r in runner.run_cycle(jobs, now)}
    first, second = (T0, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)
    assert reads == [first, second, second]  # the first window once; the second again after b's write
    assert [w.quality for w in reports["a"].windows] == [None, None]
    assert reports["b"].windows[1].quality == reports["c"].windows[1].quality == "bad records 2 (not_json=2), misplaced 0"
    reads.clear()
    runner.window_quality(*second)
    assert reads == [second]  # the cycle's memo does not outlive it
